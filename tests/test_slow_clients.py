"""Slow clients against the production shape: the Procfile's own `web` (nginx, through
deploy/run-nginx) and `app` (gunicorn, three sync workers) lines, run as real processes.

A hundred connections that never finish their request must not keep a phone waiting. The
control runs the same `app` line straight on TCP, as the Procfile used to, and shows the same
hundred connections do keep it waiting: what saves the hop is nginx.

Needs Debian's nginx: skipped without it, except under CI (.ci/run installs it), where a
missing nginx is an error rather than a silently untested production shape.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).parents[1]
BIN = Path(sys.executable).parent  # the venv's: gunicorn
NGINX = shutil.which(
    "nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
)

if NGINX is None:
    if os.environ.get("CI"):
        raise RuntimeError("nginx is missing: .ci/run installs Debian's nginx")
    pytest.skip("nginx is not installed (apt-get install nginx)", allow_module_level=True)

pytestmark = pytest.mark.servers  # nginx and gunicorn, as processes

HALF_OPEN = 100
HOP_BUDGET = 1.0  # seconds: far inside what Africa's Talking waits, far above a normal hop
HOPS = 5


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(
        (name.strip(), command.strip())
        for name, _, command in (line.partition(":") for line in lines)
        if command.strip()
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """Procfile lines started as a process manager would (`sh -c`), each in a process group
    of its own so nothing it forks outlives the test."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            ["sh", "-c", "exec " + procfile()[name]],
            env={**self.env, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((process, log))
        return process

    def stop(self) -> None:
        for process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):  # a worker its master left behind
                os.killpg(process.pid, signal.SIGKILL)
            log.close()

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


@pytest.fixture
def processes(tmp_path: Path, sqlite_template: Path) -> Iterator[Processes]:
    """The embedded default (SQLite, no Redis), configured as behind nginx in production: the
    peer on gunicorn's unix socket is the trusted proxy. Webhooks only from this machine:
    behind nginx a hop is then accepted only if the caller's address came through in
    X-Forwarded-For (a unix socket has no peer address)."""
    database = tmp_path / "gateway.sqlite3"
    shutil.copy(sqlite_template, database)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'DATABASE_URL = "sqlite:///{database}"\n'
        'REDIS_URL = ""\n'
        "RUN_JOBS_IN_PROCESS = false\n"
        'SECRET_KEY = "test"\n'
        'TRUSTED_PROXIES = ["unix"]\n'
        'WEBHOOK_ALLOWED_IPS = ["127.0.0.1"]\n'
    )
    secrets = ("DATABASE_URL", "REDIS_URL", "WEBHOOK_TOKEN", "SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["GATEWAY_CONFIG"] = str(config)
    logs = tmp_path / "logs"
    logs.mkdir()
    pool = Processes(logs, env)
    try:
        yield pool
    finally:
        pool.stop()


def hop(port: int, timeout: float) -> tuple[int, str]:
    """A first USSD hop (the caller just dialled): its status and reply."""
    body = urllib.parse.urlencode(
        {
            "sessionId": f"ATUid_{time.monotonic_ns()}",
            "serviceCode": "*123#",
            "phoneNumber": "+6281299990001",
            "networkCode": "51010",
            "text": "",
        }
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/ussd", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_until(ready: Callable[[], bool], processes: Processes, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return
        for process, _ in processes.running:
            assert process.poll() is None, processes.output()
        time.sleep(0.05)
    raise AssertionError("not ready in time\n" + processes.output())


@contextlib.contextmanager
def half_open(port: int) -> Iterator[None]:
    """HALF_OPEN connections that stop mid-request: half never finish their headers, half
    promise a body and send a few bytes of it."""
    stalled = []
    try:
        for n in range(HALF_OPEN):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            stalled.append(connection)
            if n % 2:
                connection.sendall(b"POST /ussd HTTP/1.1\r\nHost: x\r\n")
            else:
                connection.sendall(
                    b"POST /ussd HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 1000\r\n\r\nsessionId=ATUid_"
                )
        yield
    finally:
        for connection in stalled:
            connection.close()


def test_behind_nginx_half_open_connections_do_not_delay_a_hop(
    processes: Processes, tmp_path: Path
) -> None:
    port = free_port()
    bind = f"unix:{tmp_path / 'gunicorn.sock'}"
    processes.start("app", GUNICORN_BIND=bind)
    nginx_env = {"PORT": str(port), "GUNICORN_BIND": bind, "NGINX_RUN_DIR": str(tmp_path / "ng")}
    if os.geteuid() == 0:
        # Workers would drop to nobody, who cannot enter root's private tmp_path.
        nginx_env["NGINX_USER"] = "root"
    processes.start("web", **nginx_env)
    wait_until(lambda: hop(port, timeout=5)[0] == 200, processes)

    with half_open(port):
        for _ in range(HOPS):
            start = time.monotonic()
            status, reply = hop(port, timeout=HOP_BUDGET)
            elapsed = time.monotonic() - start
            assert status == 200, reply
            assert reply.startswith("CON "), reply
            assert elapsed < HOP_BUDGET, f"{elapsed:.3f} s"
            for process, _ in processes.running:
                assert process.poll() is None, processes.output()


def test_control_without_nginx_half_open_connections_hold_every_worker(
    processes: Processes,
) -> None:
    port = free_port()
    processes.start("app", GUNICORN_BIND=f"127.0.0.1:{port}")
    wait_until(lambda: hop(port, timeout=5)[0] == 200, processes)

    with half_open(port):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            hop(port, timeout=HOP_BUDGET)
        assert time.monotonic() - start >= HOP_BUDGET


def test_launcher_renders_a_valid_configuration_with_a_trusted_front(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "NGINX_RUN_DIR": str(tmp_path),
        "NGINX_REAL_IP_FROM": "10.0.0.0/8, 2001:db8::/32",
    }
    checked = subprocess.run(
        [str(REPO / "deploy" / "run-nginx"), "-t"], env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    rendered = (tmp_path / "nginx.conf").read_text()
    assert "set_real_ip_from 10.0.0.0/8;" in rendered
    assert "@" not in rendered


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "80; include /etc/passwd"),
        ("GUNICORN_BIND", "unix:/tmp/x.sock; }"),
        ("NGINX_REAL_IP_FROM", "10.0.0.0/8 1; default"),
    ],
)
def test_launcher_refuses_what_would_change_the_configuration(
    tmp_path: Path, name: str, value: str
) -> None:
    env = {**os.environ, "PORT": "8000", "NGINX_RUN_DIR": str(tmp_path), name: value}
    checked = subprocess.run(
        [str(REPO / "deploy" / "run-nginx"), "-t"], env=env, capture_output=True, text=True
    )
    assert checked.returncode != 0
    assert f"run-nginx: {name}" in checked.stderr
