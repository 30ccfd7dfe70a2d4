"""The sender and the sweep (workers/sender.py) with an injectable clock, not sleeps: quiet hours,
the throttle, per-recipient results and retries, a job sent twice, stuck messages taken back.
On this run's PostgreSQL schema and the fake Africa's Talking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select

from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage
from tests.fake_africastalking import FakeAfricasTalking
from tests.workers.helpers import PER_CALL
from workers.providers.africastalking import AfricasTalkingProvider
from workers.sender import OutboxSender, SendSettings, Sweeper, TransientSendError
from workers.throttle import MemoryThrottle, NoThrottle, RedisThrottle


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start
        self.slept = 0.0

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += dt.timedelta(seconds=seconds)


def wita(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 1, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """A database on this run's PostgreSQL schema, emptied, without an app (as a worker has)."""
    database = Database(pg_url)
    yield database
    database.dispose()


def queue_messages(
    db: Database,
    phones: list[str],
    *,
    kind: str = "broadcast",
    urgent: bool = False,
    body: str = "Halo",
) -> list[int]:
    with db.begin() as session:
        outbox.add_many(
            session,
            [
                {
                    "recipient": p,
                    "kind": kind,
                    "body": body,
                    "urgent": urgent,
                    "dedupe_key": f"{kind}:{p}:{body}",
                    "due_at": wita(0),
                }
                for p in phones
            ],
        )
        return list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


def sender(
    db: Database, fake: FakeAfricasTalking, clock: Clock, throttle: Any = None, **overrides: Any
) -> OutboxSender:
    provider = AfricasTalkingProvider(username="adminduk", api_key="test-key", base_url=fake.url)
    settings = SendSettings(**{"max_recipients_per_call": PER_CALL, "max_attempts": 3, **overrides})
    return OutboxSender(
        db, provider, throttle or NoThrottle(), settings, clock=clock, sleep=clock.sleep
    )


def test_quiet_hours_hold_non_urgent_messages_until_seven(
    pg_db: Database, fake: FakeAfricasTalking
) -> None:
    broadcast_ids = queue_messages(pg_db, ["+6281270000001", "+6281270000002"])
    reply_ids = queue_messages(pg_db, ["+6281270000003"], kind="reply", urgent=True, body="Balasan")
    clock = Clock(wita(22, 30))
    report = sender(pg_db, fake, clock).send_batch(broadcast_ids + reply_ids[-1:])
    assert (report.sent, report.postponed) == (1, 2)
    assert fake.sent_to("+6281270000003") == 1 and fake.total_messages() == 1
    with pg_db.begin() as session:
        held = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")).all()
    assert {(m.status, m.due_at.astimezone(dt.UTC)) for m in held} == {
        ("queued", dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC))
    }  # 07:00 WITA on the 2nd


class Recorder:
    """A job queue that only records what it was given."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def enqueue_send(self, ids: list[int]) -> None:
        self.batches.append(ids)


def test_the_sweep_enqueues_nothing_non_urgent_in_quiet_hours(pg_db: Database) -> None:
    queue_messages(pg_db, ["+6281270000001"])
    queue_messages(pg_db, ["+6281270000002"], kind="reply", urgent=True, body="Balasan")

    recorder = Recorder()
    night = Sweeper(pg_db, recorder, SendSettings(), clock=Clock(wita(23)))
    assert night.run().enqueued == 1
    morning = Sweeper(pg_db, recorder, SendSettings(), clock=Clock(wita(7, 1)))
    assert morning.run().enqueued == 1  # the broadcast; the reply is already enqueued
    assert len(recorder.batches) == 2


def test_the_throttle_holds_across_workers(redis_client: redis.Redis) -> None:
    """Two workers share one limit of 100 messages/s: reservations queue up behind each other."""
    first = RedisThrottle(redis_client, 100, key="test:throttle")
    second = RedisThrottle(redis_client, 100, key="test:throttle")
    assert first.reserve(50, 1000.0) == 0.0
    assert second.reserve(50, 1000.0) == pytest.approx(0.5)
    assert first.reserve(50, 1000.2) == pytest.approx(0.8)
    assert second.reserve(10, 1003.0) == 0.0  # idle time is not saved up as a burst


def test_a_throttled_sender_keeps_the_rate(
    pg_db: Database, fake: FakeAfricasTalking, redis_client: redis.Redis
) -> None:
    ids = queue_messages(pg_db, [f"+62812700{i:05d}" for i in range(1000)])
    clock = Clock(wita(10))
    throttle = RedisThrottle(redis_client, 100, key="test:throttle:rate")
    report = sender(pg_db, fake, clock, throttle).send_batch(ids)
    assert report.sent == 1000 and report.calls == 1000 // PER_CALL
    # 20 calls of 50 at 100/s: the last starts 9.5 s after the first; 1000 in 10 s is 100/s.
    assert clock.slept == pytest.approx(9.5)
    rate = 1000 / (clock.slept + PER_CALL / 100)
    assert 90 <= rate <= 100


def test_memory_throttle_is_the_same_limit_in_one_process() -> None:
    throttle = MemoryThrottle(10)
    assert [throttle.reserve(5, 0.0) for _ in range(3)] == [0.0, 0.5, 1.0]


def test_per_recipient_results(pg_db: Database, fake: FakeAfricasTalking) -> None:
    ok, invalid, busy = "+6281270000001", "+6281270000002", "+6281270000003"
    fake.set_status(invalid, 403)
    fake.set_status(busy, 502)
    ids = queue_messages(pg_db, [ok, invalid, busy])
    clock = Clock(wita(10))
    with pytest.raises(TransientSendError):
        sender(pg_db, fake, clock).send_batch(ids)
    with pg_db.begin() as session:
        rows = {m.recipient: m for m in session.scalars(select(OutboxMessage))}
    assert (rows[ok].status, rows[ok].provider_message_id is not None) == ("sent", True)
    assert (rows[invalid].status, rows[invalid].last_error) == ("failed", "403 InvalidPhoneNumber")
    assert (rows[busy].status, rows[busy].attempts, rows[busy].last_error) == (
        "queued",
        1,
        "502 RejectedByGateway",
    )
    # The job is retried (RQ Retry); after max_attempts the message fails, reason kept.
    with pytest.raises(TransientSendError):
        sender(pg_db, fake, clock).send_batch(ids)  # attempt 2
    last = sender(pg_db, fake, clock).send_batch(ids)  # attempt 3: the last, so no retry
    assert (last.failed, last.retry, last.skipped) == (1, 0, 2)
    assert sender(pg_db, fake, clock).send_batch(ids).skipped == 3  # nothing left to send
    with pg_db.begin() as session:
        failed = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == busy)).one()
    assert failed.status == "failed" and failed.attempts == 3
    assert failed.last_error == "gave up after 3 attempts: 502 RejectedByGateway"
    assert fake.sent_to(ok) == 1


def test_two_jobs_with_the_same_ids_send_once(pg_db: Database, fake: FakeAfricasTalking) -> None:
    ids = queue_messages(pg_db, [f"+62812700{i:05d}" for i in range(120)])
    clock = Clock(wita(10))
    first = sender(pg_db, fake, clock).send_batch(ids)
    second = sender(pg_db, fake, clock).send_batch(ids)
    assert (first.sent, second.sent, second.skipped) == (120, 0, 120)
    assert fake.total_messages() == 120 and fake.duplicates() == {}


def test_stuck_messages_are_taken_back(pg_db: Database) -> None:
    ids = queue_messages(pg_db, ["+6281270000001", "+6281270000002"])
    with pg_db.begin() as session:
        outbox.claim(session, ids[:1], wita(9))  # a worker took it at 09:00, then died
    recorder = Recorder()
    report = Sweeper(pg_db, recorder, SendSettings(), clock=Clock(wita(9, 10))).run()
    assert (report.taken_back, report.enqueued) == (1, 2)
    assert recorder.batches == [ids]
