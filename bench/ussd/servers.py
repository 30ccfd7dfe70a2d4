"""The servers a USSD run measures, each a gunicorn with one and the same configuration (the
Procfile's, on loopback): the bare app, the reference handler, the gateway."""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.shared.basics import BIN, ROOT
from tests.live_servers import free_port, stop_process


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def gunicorn_args(workers: int, port: int, log: Path) -> list[str]:
    """The one server configuration every app runs under."""
    return [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]


@contextmanager
def gunicorn(
    name: str, app: str, workers: int, env: dict[str, str], tmp: Path, extra: tuple[str, ...] = ()
) -> Iterator[Server]:
    """``app`` served on a free port until the block ends, once it answers ``/healthz``."""
    port = free_port()
    log = tmp / f"gunicorn-{name}.log"
    proc = subprocess.Popen(
        [*gunicorn_args(workers, port, log), *extra, app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # stopped by this script (with its workers), not by Ctrl-C
    )
    server = Server(name, port, proc, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop_process(proc)


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
    raise RuntimeError(f"{server.name} server did not become ready on port {server.port}\n{tail}")
