"""A retry keeps its back-off when the worker holding RQ's scheduler lock dies.

Only the scheduler that holds ``rq:scheduler-lock:<queue>`` moves a failed send job from the
ScheduledJobRegistry back to the queue. Real ``rq worker --with-scheduler`` processes (the
Procfile's command line) on a Redis server of the test's own, PostgreSQL, the fake Africa's
Talking server: the first send fails, and the worker whose scheduler holds the lock is killed
with SIGKILL as soon as the retry is scheduled. Another worker — one already running, or the
one a supervisor starts in its place — must send it within a few seconds of the kill. The
sweep cannot hide a slow takeover here: it leaves a message whose job is waiting alone for
SMS_REQUEUE_AFTER_SECONDS.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, Worker
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from sqlalchemy import create_engine, select

from common.settings import DEFAULTS
from storage import outbox
from storage.models import OutboxMessage
from tests.fake_africastalking import FakeAfricasTalking
from tests.live_servers import RedisServer, RQWorkers, wait_until, write_config
from workers.context import build_context
from workers.queue import RQJobQueue
from workers.worker import SCHEDULER_LOCK_TTL

RETRY_INTERVAL = 2
TAKEOVER_DEADLINE = 10.0  # seconds from the kill to the retry's send
PHONE = "+6281270000001"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis server of this test's own: the workers' locks and registries touch nobody's."""
    server = RedisServer(tmp_path)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def settings(
    redis_url: str, pg_url: str, fake: FakeAfricasTalking, tmp_path: Path
) -> dict[str, Any]:
    """The sweep keeps its production interval and requeue delay, so only RQ's scheduler can
    send the retry in time."""
    values: dict[str, Any] = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": f"takeover-{secrets.token_hex(4)}",
        "SMS_PROVIDER": "africastalking",
        "AT_USERNAME": "adminduk",
        "AT_API_KEY": "test-key",
        "AT_BASE_URL": fake.url,
        "SMS_QUIET_HOURS": [],
        "SMS_RETRY_INTERVALS": [RETRY_INTERVAL] * 3,
        "SMS_REQUEUE_AFTER_SECONDS": 600,
        "SWEEP_INTERVAL_SECONDS": 30,
    }
    values["_config_path"] = str(write_config(tmp_path / "gateway.toml", values))
    return values


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def lock_holder(queue: Queue, workers: RQWorkers) -> subprocess.Popen[bytes] | None:
    """The worker whose scheduler holds the queue's lock (its scheduler is in its group)."""
    pid = queue.scheduler_pid
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        group = os.getpgid(pid)
        return next((p for p in workers.processes if p.pid == group), None)
    return None


def queue_one_message(settings: dict[str, Any]) -> None:
    """An urgent reply, enqueued by the sweep as a web process would have it."""
    context = build_context(
        {**DEFAULTS, **{k: v for k, v in settings.items() if not k.startswith("_")}}
    )
    try:
        with context.db.begin() as session:
            outbox.add(
                session, recipient=PHONE, kind="reply", body="Halo", dedupe_key="t", urgent=True
            )
        assert context.sweeper.run().enqueued == 1
    finally:
        context.db.dispose()
        assert isinstance(context.queue, RQJobQueue)
        context.queue.client.close()


def message_status(settings: dict[str, Any]) -> str:
    engine = create_engine(settings["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return str(conn.scalar(select(OutboxMessage.status)))
    finally:
        engine.dispose()


def fail_once_and_kill_the_holder(
    settings: dict[str, Any],
    workers: RQWorkers,
    fake: FakeAfricasTalking,
    client: redis.Redis,
) -> tuple[subprocess.Popen[bytes], float]:
    """The first send fails; the worker whose scheduler holds the lock is killed as soon as
    the retry is scheduled. Returns the victim and the moment of the kill."""
    queue = Queue(settings["RQ_QUEUE"], connection=client)
    wait_until(lambda: len(Worker.all(queue=queue)) == len(workers.processes), 30, "workers up")
    wait_until(lambda: lock_holder(queue, workers) is not None, 10, "a scheduler holding the lock")
    assert 0 < client.ttl(RQScheduler.get_locking_key(queue.name)) <= SCHEDULER_LOCK_TTL

    fake.fail_next(1, 503)
    queue_one_message(settings)
    scheduled = ScheduledJobRegistry(queue.name, connection=client)
    wait_until(lambda: client.zcard(scheduled.key) == 1, 10, "the retry scheduled")
    victim = lock_holder(queue, workers)
    assert victim is not None
    workers.kill(victim)
    return victim, time.monotonic()


def wait_for_the_retry(
    settings: dict[str, Any], workers: RQWorkers, fake: FakeAfricasTalking, killed_at: float
) -> None:
    try:
        wait_until(lambda: fake.sent_to(PHONE) == 1, TAKEOVER_DEADLINE, "the retry sent")
    except AssertionError:
        print(workers.output())
        raise
    print(f"retry sent {time.monotonic() - killed_at:.1f} s after the lock's holder was killed")
    wait_until(lambda: message_status(settings) == "sent", 5, "the message marked sent")
    assert fake.call_count == 2  # the failure and the retry: not the sweep, nothing more


def test_another_worker_takes_over_the_scheduler_of_a_dead_one(
    settings: dict[str, Any],
    workers: RQWorkers,
    fake: FakeAfricasTalking,
    client: redis.Redis,
) -> None:
    workers.start()
    workers.start()
    victim, killed_at = fail_once_and_kill_the_holder(settings, workers, fake, client)
    wait_for_the_retry(settings, workers, fake, killed_at)
    survivor = next(p for p in workers.processes if p is not victim)
    assert lock_holder(Queue(settings["RQ_QUEUE"], connection=client), workers) is survivor


def test_a_restarted_worker_takes_over_the_lock_of_the_one_it_replaces(
    settings: dict[str, Any],
    workers: RQWorkers,
    fake: FakeAfricasTalking,
    client: redis.Redis,
) -> None:
    """One worker process, restarted by its supervisor after a crash: the lock its dead
    predecessor left must not keep the new one from scheduling."""
    workers.start()
    _, killed_at = fail_once_and_kill_the_holder(settings, workers, fake, client)
    workers.start()
    wait_for_the_retry(settings, workers, fake, killed_at)
