"""The processes a broadcast is sent through, besides the planner: the fake Africa's Talking
(``tests/fake_africastalking.py``) and real ``rq worker`` processes."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Worker

from bench.shared.basics import ROOT, child_env
from bench.shared.procfs import descendants, identity, tree_cpu_seconds
from bench.sms_broadcast.memory import RssSampler
from tests.live_servers import RQWorkers, stop_process

FAKE_SERVER = ROOT / "tests" / "fake_africastalking.py"
AT_USERNAME, AT_API_KEY = "bench", "bench-key"
SMPP_SYSTEM_ID, SMPP_PASSWORD = "bench", "bench-pw"


class FakeProvider:
    """tests/fake_africastalking.py as a process of its own (threaded; replies after
    ``delay``), controlled over HTTP."""

    def __init__(self, delay: float, log_path: Path) -> None:
        self.delay = delay
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(FAKE_SERVER),
                "--port",
                "0",
                "--delay",
                str(delay),
                "--no-record",
                "--api-key",
                AT_API_KEY,
                "--username",
                AT_USERNAME,
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=ROOT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        try:
            selector = selectors.DefaultSelector()
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=15):
                raise RuntimeError("the fake provider did not start within 15 s")
            line = self.process.stdout.readline().decode().strip()
            if not line.startswith("FAKE_AT_URL="):
                raise RuntimeError(f"unexpected output from the fake provider: {line!r}")
        except BaseException:
            self.stop()
            raise
        self.url = line.removeprefix("FAKE_AT_URL=")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _call(self, path: str, orders: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(orders).encode() if orders is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method="POST" if data else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            return dict(json.load(reply))

    def stats(self) -> dict[str, Any]:
        """calls, failed_calls, messages (accepted), numbers, duplicates."""
        return self._call("/_fake/stats")

    def reset(self) -> None:
        self._call("/_fake/control", {"reset": True, "delay": self.delay})

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


class FakeSmscProcess(FakeProvider):
    """tests/fake_smsc.py as a process of its own, answering each submit_sm after ``delay``;
    the same stats as the fake Africa's Talking (a call is a submit), plus ``max_in_flight``
    and ``max_per_second``."""

    def __init__(self, delay: float, log_path: Path, throttled_share: float = 0.0) -> None:
        self.delay = delay
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",  # as a module: run as a script, tests/ (and its workers/) comes first
                "tests.fake_smsc",
                "--delay",
                str(delay),
                "--system-id",
                SMPP_SYSTEM_ID,
                "--password",
                SMPP_PASSWORD,
                "--throttled-share",
                str(throttled_share),
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=ROOT,
            env=child_env(),
            start_new_session=True,
        )
        assert self.process.stdout is not None
        try:
            selector = selectors.DefaultSelector()
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=15):
                raise RuntimeError("the fake SMSC did not start within 15 s")
            line = self.process.stdout.readline().decode().strip()
            fields = dict(part.split("=", 1) for part in line.split())
            self.port = int(fields["FAKE_SMSC_PORT"])
            self.url = fields["FAKE_SMSC_STATS"]
        except BaseException:
            self.stop()
            raise

    def reset(self) -> None:
        self._call("/_fake/control", {"reset": True})


class BindProcess:
    """``flask --app gateway smpp``, the Procfile's ``smpp:`` line, on the scenario's config."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "gateway", "smpp"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=child_env(GATEWAY_CONFIG=str(config_path)),
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_bound(self, client: redis.Redis, timeout: float = 30) -> None:
        from workers.smpp import handoff

        deadline = time.monotonic() + timeout
        while not handoff.is_bound(client):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bind process did not bind; log: {self.log.name}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


class Workers(RQWorkers):
    """Real ``rq worker`` processes on one queue, started as the Procfile starts them (by the
    test suite's ``RQWorkers``), each watched by the RSS sampler. ``settings``: ``REDIS_URL``,
    ``RQ_QUEUE`` and ``_config_path`` (their GATEWAY_CONFIG file)."""

    def __init__(self, settings: dict[str, Any], log_dir: Path, sampler: RssSampler) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(settings, log_dir)
        self.queue = str(settings["RQ_QUEUE"])
        self.sampler = sampler

    def start(self) -> subprocess.Popen[bytes]:
        process = super().start()
        self.sampler.watch(process.pid, "worker")
        return process

    def wait_ready(self, client: redis.Redis, timeout: float = 60) -> None:
        queue = Queue(self.queue, connection=client)
        deadline = time.monotonic() + timeout
        while len(Worker.all(connection=client, queue=queue)) < len(self.processes):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"workers not registered within {timeout:.0f} s; logs in {self.log_dir}"
                )
            time.sleep(0.1)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"worker {process.pid} exited ({process.returncode}); logs in {self.log_dir}"
                )

    def cpu_seconds(self) -> float:
        """CPU of the workers, their horses (reaped ones too) and their schedulers so far."""
        return sum(tree_cpu_seconds(p.pid) for p in self.processes if p.poll() is None)

    def stop(self) -> None:
        """Warm shutdown (the job in hand finishes), then SIGKILL whatever is left, horses
        included: they run in process groups of their own."""
        family = [identity(c) for p in self.processes for c in descendants(p.pid)]
        super().stop()
        for process in self.processes:
            self.sampler.forget(process.pid)
        for child in family:
            if child is not None and identity(child[0]) == child:  # still that process
                with suppress(OSError):
                    os.kill(child[0], signal.SIGKILL)
        self.processes = []
