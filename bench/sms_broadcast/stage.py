"""Where a broadcast runs: a schema of its own with the residents, a Redis database of its own
(one run at a time per database), the fake provider, fresh workers for each scenario, and the
CPU used by each of those roles."""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import text

from bench.shared.cpu import wait_for_idle
from bench.shared.procfs import CLK_TCK, find_process, machine_ticks, tree_cpu_seconds
from bench.shared.schema import TempSchema
from bench.sms_broadcast.memory import RssSampler
from bench.sms_broadcast.processes import (
    AT_API_KEY,
    AT_USERNAME,
    SMPP_PASSWORD,
    SMPP_SYSTEM_ID,
    BindProcess,
    FakeProvider,
    FakeSmscProcess,
    Workers,
)
from storage import migrate
from storage.db import Database
from storage.regions import import_regions
from tests.live_servers import write_config

# Not 14 (the USSD benchmark), nor 15 or the 11/12 some CI clones give their tests: this run
# flushes its database, and a test's FLUSHDB would wipe this run's queued jobs.
REDIS_URL = os.environ.get("BENCH_BROADCAST_REDIS_URL", "redis://127.0.0.1:6379/13")
TEMBOK, LES = "51.08.09.2010", "51.08.09.2007"  # the broadcast's village; the throttle's

log = logging.getLogger("bench.broadcast")


@contextmanager
def exclusive(redis_url: str, max_wait: float) -> Iterator[None]:
    """One run at a time per Redis database: each flushes it, and the throttle's and the
    sweep's keys have fixed names, so two runs at once spoil each other's numbers."""
    name = hashlib.sha1(redis_url.encode()).hexdigest()[:8]
    with (Path(tempfile.gettempdir()) / f"bench-broadcast-{name}.lock").open("w") as lock:
        deadline = time.monotonic() + max_wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"another broadcast benchmark is using {redis_url}; set "
                        "BENCH_BROADCAST_REDIS_URL to another database"
                    ) from None
                log.info("another broadcast benchmark is using %s; waiting", redis_url)
                time.sleep(5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Stage:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
        self.schema = TempSchema("bench_bc")
        self.db: Database | None = None
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.fake: FakeProvider | None = None
        self.workers: Workers | None = None
        self.bind: BindProcess | None = None
        self.sampler = RssSampler()
        self.postmaster = find_process("postgres")
        self.redis_server = find_process("redis-server")

    # -- the whole run --------------------------------------------------------------------

    def setup(self) -> None:
        args = self.args
        self.schema.create()
        self.db = Database(self.schema.url)
        migrate.upgrade(self.db.engine)
        with self.db.begin() as session:
            import_regions(session)
        started = time.perf_counter()
        self._copy_residents(TEMBOK, args.residents, first=0)
        self._copy_residents(LES, args.throttle_messages, first=50_000_000)
        with self.db.engine.begin() as conn:
            conn.execute(text("ANALYZE residents"))
        log.info(
            "schema %s: %d + %d residents in %.1f s",
            self.schema.name,
            args.residents,
            args.throttle_messages,
            time.perf_counter() - started,
        )
        foreign = self.redis.dbsize()
        if foreign:
            log.warning(
                "%s held %d keys (e.g. %s); flushing it", REDIS_URL, foreign, self.redis.randomkey()
            )
        self.redis.flushdb()
        if args.provider == "smpp":
            self.fake = FakeSmscProcess(args.delay, self.tmp / "fake.log", args.smpp_throttled)
        else:
            self.fake = FakeProvider(args.delay, self.tmp / "fake.log")
        self.sampler.watch(self.fake.pid, "fake")
        self.sampler.start()

    def _copy_residents(self, village: str, count: int, first: int) -> None:
        """With COPY: the setup is not what is measured."""
        assert self.db is not None
        now = dt.datetime.now(dt.UTC)
        english_every = round(1 / self.args.english_share) if self.args.english_share else 0
        raw = self.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(
                "COPY residents (phone, village_code, language, opted_out, "  # type: ignore[attr-defined]
                "created_at, updated_at) FROM STDIN"
            ) as copy:
                for i in range(count):
                    language = "en" if english_every and i % english_every == 0 else "id"
                    copy.write_row((f"+62812{first + i:08d}", village, language, False, now, now))
            raw.commit()
        finally:
            raw.close()

    def cleanup(self) -> None:
        """Everything this run started or created, whatever happened before."""
        self.finish()
        self.sampler.stop()
        if self.fake is not None:
            with suppress(Exception):
                self.fake.stop()
        if self.db is not None:
            with suppress(Exception):
                self.db.dispose()
        self.schema.drop()
        with suppress(Exception):
            self.redis.flushdb()
        self.redis.close()
        if self.args.keep_logs:
            print(f"worker and fake provider logs: {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- one scenario's surroundings ------------------------------------------------------

    def config(self, queue: str, rate: float) -> dict[str, Any]:
        """The GATEWAY_CONFIG of a scenario's workers and planner."""
        assert self.fake is not None
        config: dict[str, Any] = {
            "DATABASE_URL": self.schema.url,
            "REDIS_URL": REDIS_URL,
            "RQ_QUEUE": queue,
            "SMS_PROVIDER": "africastalking",
            "AT_USERNAME": AT_USERNAME,
            "AT_API_KEY": AT_API_KEY,
            "AT_BASE_URL": self.fake.url,
            "SMS_QUIET_HOURS": [],  # the time of day the benchmark runs at does not matter
            "SMS_RATE_PER_SECOND": rate,
            "SECRET_KEY": "bench",
        }
        if self.args.provider == "smpp":
            assert isinstance(self.fake, FakeSmscProcess)
            config.update(
                SMS_PROVIDER="smpp",
                SMPP_HOST="127.0.0.1",
                SMPP_PORT=self.fake.port,
                SMPP_SYSTEM_ID=SMPP_SYSTEM_ID,
                SMPP_PASSWORD=SMPP_PASSWORD,
                SMPP_SOURCE_ADDR="DUKCAPIL",
                SMPP_WINDOW=self.args.smpp_window,
                SMPP_RATE_PER_SECOND=self.args.smpp_rate,
            )
        if self.args.batch_size:
            config["SMS_BATCH_SIZE"] = self.args.batch_size
        if self.args.per_call:
            smpp = self.args.provider == "smpp"
            config["SMPP_RECIPIENTS_PER_CALL" if smpp else "SMS_MAX_RECIPIENTS_PER_CALL"] = (
                self.args.per_call
            )
        return config

    def fresh(self, name: str, rate: float) -> tuple[Path, dict[str, Any]]:
        """Empty outbox and Redis, the fake reset, fresh workers waiting (their start-up is
        not what is measured); the scenario's GATEWAY_CONFIG file and its settings."""
        assert self.db is not None and self.fake is not None
        with self.db.engine.begin() as conn:
            conn.execute(text("TRUNCATE outbox_messages, delivery_reports, broadcasts CASCADE"))
        self.redis.flushdb()
        self.fake.reset()
        wait_for_idle(self.args.quiet_wait, {self.fake.pid}, log.info)
        queue = f"bench-bc-{name}-{secrets.token_hex(3)}"
        config = self.config(queue, rate)
        config_path = write_config(self.tmp / f"{queue}.toml", config)
        self.workers = Workers(
            {**config, "_config_path": str(config_path)}, self.tmp / queue, self.sampler
        )
        for _ in range(self.args.workers):
            self.workers.start()
        self.workers.wait_ready(self.redis)
        if self.args.provider == "smpp":
            self.bind = BindProcess(config_path, self.tmp / f"{queue}-bind.log")
            self.sampler.watch(self.bind.pid, "bind")
            self.bind.wait_bound(self.redis)
        time.sleep(1.0)  # each worker's first sweep (of an empty outbox) is done
        return config_path, config

    def finish(self) -> None:
        """The scenario's workers stopped."""
        if self.workers is not None:
            with suppress(Exception):
                self.workers.stop()
            self.workers = None
        if self.bind is not None:
            with suppress(Exception):
                self.bind.stop()
            self.sampler.forget(self.bind.pid)
            self.bind = None

    # -- CPU by role ----------------------------------------------------------------------

    def cpu(self) -> dict[str, float]:
        """Cumulative CPU seconds per role, and the machine's busy and total ticks. The
        planner reports its own (it is gone by the end)."""
        assert self.fake is not None and self.workers is not None
        busy, total = machine_ticks()
        return {
            "workers": self.workers.cpu_seconds(),
            "postgres": tree_cpu_seconds(self.postmaster) if self.postmaster else 0.0,
            "redis": tree_cpu_seconds(self.redis_server) if self.redis_server else 0.0,
            "fake": tree_cpu_seconds(self.fake.pid),
            "bind": tree_cpu_seconds(self.bind.pid) if self.bind is not None else 0.0,
            "bench": sum(os.times()[:2]),  # this script: polling, sampling
            "_busy": busy,
            "_total": total,
        }


def cpu_between(
    start: dict[str, float], end: dict[str, float], planner: float = 0.0
) -> tuple[dict[str, float], float]:
    """CPU seconds per role between two ``Stage.cpu()`` snapshots (the planner's as it
    reported them), and the share of the machine busy."""
    cpu = {k: round(end[k] - start[k], 1) for k in end if not k.startswith("_")}
    cpu["planner"] = round(planner, 1)
    busy = (end["_busy"] - start["_busy"]) / CLK_TCK
    # What the machine did besides this benchmark (another job on a shared box).
    cpu["other"] = round(max(0.0, busy - sum(cpu.values())), 1)
    total = end["_total"] - start["_total"]
    return cpu, round((end["_busy"] - start["_busy"]) / total if total else 0.0, 3)
