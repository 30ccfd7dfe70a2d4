"""Real servers for the tests that fault them: a ``redis-server`` of the test's own, the gateway
served over HTTP by gunicorn (sync or gthread workers) or ``flask run``, and a USSD hop over a
real socket. Nothing here touches the shared Redis or PostgreSQL databases.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import redis

BIN = Path(sys.executable).parent  # the venv's bin: flask, gunicorn
ROOT = Path(__file__).resolve().parent.parent
FAILURE_REPLY = "END Maaf, layanan sedang gangguan. Silakan coba lagi nanti."

# How each kind of server is started; all three must hold the same promises.
SERVER_KINDS = {
    "gunicorn-sync": shlex.split("gunicorn --workers 3 --worker-class sync"),
    "gunicorn-gthread": shlex.split("gunicorn --workers 2 --worker-class gthread --threads 8"),
    "flask-run": shlex.split("flask --app gateway run --no-reload --no-debugger"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class RedisServer:
    """A ``redis-server`` child on a port of its own, which a test may stop and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.wait_until_up()

    def wait_until_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.admin() as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)


@dataclass
class Reply:
    sent_at: float  # time.monotonic()
    seconds: float
    status: int  # 0: no HTTP answer (socket error, timeout)
    body: str

    @property
    def valid(self) -> bool:
        """What Africa's Talking accepts: a 200 whose body starts CON or END."""
        return self.status == 200 and self.body.startswith(("CON ", "END "))

    @property
    def normal(self) -> bool:
        return self.valid and self.body != FAILURE_REPLY


class GatewayServer:
    """The gateway served over HTTP by one of ``SERVER_KINDS``, its log in a file."""

    def __init__(self, kind: str, folder: Path, settings: dict[str, Any]) -> None:
        self.kind = kind
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = write_config(folder / f"{kind}.toml", settings)
        self.log_path = folder / f"{kind}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        program, *args = SERVER_KINDS[kind]
        if program == "gunicorn":  # (no control socket: several may run at once)
            args += ["--no-control-socket", "--bind", f"127.0.0.1:{self.port}"]
            args.append("gateway:create_app()")
        else:
            args += ["--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, "GATEWAY_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
        for name in ("DATABASE_URL", "REDIS_URL", "WEBHOOK_TOKEN", "SECRET_KEY"):
            env.pop(name, None)  # the file says everything
        self.proc = subprocess.Popen(
            [str(BIN / program), *args], cwd=ROOT, env=env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited:\n{self.log_text()}")
            with contextlib.suppress(OSError):
                if self.get("/livez")[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not answer in {timeout} s:\n{self.log_text()}")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def hop(self, session_id: str, phone: str, text: str, timeout: float = 5.0) -> Reply:
        body = urllib.parse.urlencode({
            "sessionId": session_id, "serviceCode": "*123#", "phoneNumber": phone,
            "networkCode": "51010", "text": text,
        })  # fmt: skip
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("POST", "/ussd", body=body, headers=headers)
            response = connection.getresponse()
            status, answer = response.status, response.read().decode()
        except (OSError, http.client.HTTPException) as error:
            status, answer = 0, f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        return Reply(started, time.monotonic() - started, status, answer)

    def log_size(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def log_text(self, start: int = 0, end: int | None = None) -> str:
        self._log.flush()
        data = self.log_path.read_bytes()
        return data[start:end].decode(errors="replace")

    def metric(self, name: str) -> float:
        """A gauge of the process that answers this scrape (one of several, for gunicorn)."""
        status, text = self.get("/metrics")
        assert status == 200, text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics")

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def toml_value(value: Any) -> str:
    """``value`` as TOML (strings, numbers, booleans, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """A GATEWAY_CONFIG file of ``settings`` (keys starting with ``_`` are the test's own)."""
    path.write_text(
        "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items() if not k.startswith("_"))
    )
    return path


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class RQWorkers:
    """Real ``rq worker`` processes as the Procfile starts them, each in a process group of its
    own (its scheduler child goes with it when the group is killed), logging to files.
    ``settings``: ``REDIS_URL``, ``RQ_QUEUE`` and ``_config_path`` (the GATEWAY_CONFIG file)."""

    def __init__(self, settings: dict[str, Any], log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "AT_USERNAME", "AT_API_KEY")
        }
        env["GATEWAY_CONFIG"] = self.settings["_config_path"]
        # This tree's code, also where the venv has another checkout installed: rq puts the
        # working directory last on the path.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        with (self.log_dir / f"worker-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    *(str(BIN / "rq"), "worker", "--with-scheduler"),
                    *("--worker-class", "workers.worker.OutboxWorker"),
                    *("--url", self.settings["REDIS_URL"], self.settings["RQ_QUEUE"]),
                ],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, as a crash would: the worker, its scheduler (not a running work horse,
        which RQ puts in a group of its own)."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):  # a scheduler child left behind
                os.killpg(process.pid, signal.SIGKILL)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


@contextlib.contextmanager
def demo_server(database: Path, template: Path, config: dict[str, Any]) -> Iterator[str]:
    """``make demo``'s shape in a real HTTP server on a free port: the embedded default (a copy of
    the migrated ``template`` at ``database``) with its demo data, ``config`` on top."""
    from werkzeug.serving import make_server

    from gateway import create_app

    shutil.copy(template, database)
    app = create_app({"DATABASE_URL": f"sqlite:///{database}", **config})
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(timeout=5)
        app.extensions["gateway"].jobs.stop()
        app.extensions["gateway"].db.dispose()
