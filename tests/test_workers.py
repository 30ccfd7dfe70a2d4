"""Sending, end to end: the outbox, real `rq worker` processes on a real Redis, PostgreSQL, and
the fake Africa's Talking server driven through the real SDK.

What must hold (issue 3): every message arrives exactly once; a worker killed with SIGKILL
loses nothing (only the chunk in flight may arrive twice); a flushed Redis loses nothing (the
sweep finishes the job); a provider outage delays messages and then they go; opted-out numbers
get nothing. Quiet hours and the throttle are tested with an injectable clock, not sleeps.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, insert, select, update

from common.settings import DEFAULTS
from gateway import create_app
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, Resident
from tests.conftest import REDIS_URL
from tests.fake_africastalking import FakeAfricasTalking
from tests.live_servers import RQWorkers, wait_until, write_config
from workers.context import build_context
from workers.providers.africastalking import AfricasTalkingProvider
from workers.sender import OutboxSender, SendSettings, Sweeper, TransientSendError
from workers.throttle import MemoryThrottle, NoThrottle, RedisThrottle

TEMBOK = "51.08.09.2010"
PER_CALL = 50


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def settings(
    pg_url: str, fake: FakeAfricasTalking, redis_client: redis.Redis, tmp_path: Path
) -> dict[str, Any]:
    """Settings shared by this test's app and its worker processes (as a GATEWAY_CONFIG file).
    Short timers so recovery happens in seconds; no quiet hours, so the time of day CI runs at
    does not matter (quiet hours have their own tests below)."""
    values: dict[str, Any] = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": f"test-{secrets.token_hex(4)}",
        "SMS_PROVIDER": "africastalking",
        "AT_USERNAME": "adminduk",
        "AT_API_KEY": "test-key",
        "AT_BASE_URL": fake.url,
        "SMS_BATCH_SIZE": 200,
        "SMS_MAX_RECIPIENTS_PER_CALL": PER_CALL,
        "SMS_QUIET_HOURS": [],
        "SMS_RETRY_INTERVALS": [1, 1, 2],
        "SMS_MAX_ATTEMPTS": 20,
        "SMS_STUCK_AFTER_SECONDS": 3,
        "SMS_REQUEUE_AFTER_SECONDS": 4,
        "SWEEP_INTERVAL_SECONDS": 1,
    }
    values["_config_path"] = str(write_config(tmp_path / "gateway.toml", values))
    return values


@pytest.fixture
def app_rt(settings: dict[str, Any]) -> Iterator[Any]:
    app = create_app({k: v for k, v in settings.items() if not k.startswith("_")})
    rt = app.extensions["gateway"]
    yield rt
    rt.db.dispose()


def add_residents(db: Database, count: int, start: int = 0) -> list[str]:
    phones = [f"+62812{70000000 + start + i:08d}" for i in range(count)]
    with db.begin() as session:
        session.execute(
            insert(Resident),
            [
                {"phone": p, "village_code": TEMBOK, "language": "id", "opted_out": False}
                for p in phones
            ],
        )
    return phones


def plan_broadcast(rt: Any, text: str = "Petugas Adminduk datang Kamis.") -> int:
    with rt.db.begin() as session:
        audience = rt.resident_sms.audience(village=TEMBOK)
        planned = rt.resident_sms.broadcast(session, audience, text)
    rt.worker.sweeper.run()  # enqueue, as the CLI and the web app do after planning
    return int(planned.recipients)


def statuses(db: Database) -> dict[str, int]:
    with db.begin() as session:
        return outbox.counts_by_status(session)


def all_sent(db: Database, total: int) -> Callable[[], bool]:
    return lambda: statuses(db).get("sent", 0) == total


# --- real workers ------------------------------------------------------------------------------


def test_a_broadcast_arrives_exactly_once(
    app_rt: Any, workers: RQWorkers, fake: FakeAfricasTalking
) -> None:
    phones = add_residents(app_rt.db, 3000)
    assert plan_broadcast(app_rt) == 3000
    workers.start()
    workers.start()
    wait_until(all_sent(app_rt.db, 3000), 90, "3000 messages sent")
    assert fake.total_messages() == 3000
    assert fake.duplicates() == {}
    assert all(fake.sent_to(p) == 1 for p in phones)
    # Same text, one call per chunk: far fewer calls than messages.
    assert fake.call_count <= 3000 // PER_CALL + 20
    with app_rt.db.begin() as session:
        ids = session.scalars(select(OutboxMessage.provider_message_id)).all()
    assert len(set(ids)) == 3000 and all(i and i.startswith("ATXid_") for i in ids)


def test_a_killed_worker_loses_nothing(
    app_rt: Any, workers: RQWorkers, fake: FakeAfricasTalking
) -> None:
    phones = add_residents(app_rt.db, 2000)
    fake.delay = 0.05  # slow enough to kill the worker mid-broadcast
    plan_broadcast(app_rt)
    victim = workers.start()
    wait_until(lambda: fake.total_messages() >= 300, 60, "the broadcast under way")
    workers.kill(victim)  # the worker and its scheduler, as a crash would
    workers.start()
    wait_until(all_sent(app_rt.db, 2000), 120, "the rest sent by the second worker")
    assert all(fake.sent_to(p) >= 1 for p in phones)  # none lost
    # Only the chunk in flight when the worker died may have gone out twice.
    assert sum(n - 1 for n in fake.duplicates().values()) <= PER_CALL


def test_a_flushed_redis_loses_nothing(
    app_rt: Any, workers: RQWorkers, fake: FakeAfricasTalking, redis_client: redis.Redis
) -> None:
    phones = add_residents(app_rt.db, 2000)
    fake.delay = 0.05
    plan_broadcast(app_rt)
    workers.start()
    wait_until(lambda: fake.total_messages() >= 300, 60, "the broadcast under way")
    redis_client.flushdb()  # every queued job is gone (FLUSHDB: the test's own database)
    wait_until(all_sent(app_rt.db, 2000), 120, "the sweep to finish the broadcast")
    assert all(fake.sent_to(p) == 1 for p in phones)
    assert fake.duplicates() == {}


def test_a_provider_outage_delays_and_then_sends(
    app_rt: Any, workers: RQWorkers, fake: FakeAfricasTalking
) -> None:
    phones = add_residents(app_rt.db, 300)
    fake.outage(503)
    plan_broadcast(app_rt)
    workers.start()
    wait_until(lambda: fake.call_count >= 3, 30, "the worker trying")
    time.sleep(1)
    with app_rt.db.begin() as session:
        waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.attempts > 0)).all()
        assert waiting, "messages were tried"
        assert all(m.status in ("queued", "sending") for m in waiting)
        assert {m.last_error for m in waiting} == {
            "provider refused the request: Service Unavailable"
        }
    assert fake.total_messages() == 0
    fake.recover()
    wait_until(all_sent(app_rt.db, 300), 60, "messages sent after the outage")
    assert all(fake.sent_to(p) == 1 for p in phones)


def test_opted_out_numbers_get_nothing(
    app_rt: Any, workers: RQWorkers, fake: FakeAfricasTalking
) -> None:
    phones = add_residents(app_rt.db, 100)
    plan_broadcast(app_rt)
    stopped = phones[:10]
    with app_rt.db.begin() as session:  # they texted STOP after the broadcast was planned
        session.execute(update(Resident).where(Resident.phone.in_(stopped)).values(opted_out=True))
    workers.start()
    wait_until(
        lambda: statuses(app_rt.db) == {"sent": 90, "cancelled": 10}, 60, "the broadcast done"
    )
    assert [fake.sent_to(p) for p in stopped] == [0] * 10
    assert all(fake.sent_to(p) == 1 for p in phones[10:])


# --- the sender with an injectable clock ------------------------------------------------------


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
def db(pg_url: str) -> Iterator[Database]:
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
    db: Database, fake: FakeAfricasTalking
) -> None:
    broadcast_ids = queue_messages(db, ["+6281270000001", "+6281270000002"])
    reply_ids = queue_messages(db, ["+6281270000003"], kind="reply", urgent=True, body="Balasan")
    clock = Clock(wita(22, 30))
    report = sender(db, fake, clock).send_batch(broadcast_ids + reply_ids[-1:])
    assert (report.sent, report.postponed) == (1, 2)
    assert fake.sent_to("+6281270000003") == 1 and fake.total_messages() == 1
    with db.begin() as session:
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


def test_the_sweep_enqueues_nothing_non_urgent_in_quiet_hours(db: Database) -> None:
    queue_messages(db, ["+6281270000001"])
    queue_messages(db, ["+6281270000002"], kind="reply", urgent=True, body="Balasan")

    recorder = Recorder()
    night = Sweeper(db, recorder, SendSettings(), clock=Clock(wita(23)))
    assert night.run().enqueued == 1
    morning = Sweeper(db, recorder, SendSettings(), clock=Clock(wita(7, 1)))
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
    db: Database, fake: FakeAfricasTalking, redis_client: redis.Redis
) -> None:
    ids = queue_messages(db, [f"+62812700{i:05d}" for i in range(1000)])
    clock = Clock(wita(10))
    throttle = RedisThrottle(redis_client, 100, key="test:throttle:rate")
    report = sender(db, fake, clock, throttle).send_batch(ids)
    assert report.sent == 1000 and report.calls == 1000 // PER_CALL
    # 20 calls of 50 at 100/s: the last starts 9.5 s after the first; 1000 in 10 s is 100/s.
    assert clock.slept == pytest.approx(9.5)
    rate = 1000 / (clock.slept + PER_CALL / 100)
    assert 90 <= rate <= 100


def test_memory_throttle_is_the_same_limit_in_one_process() -> None:
    throttle = MemoryThrottle(10)
    assert [throttle.reserve(5, 0.0) for _ in range(3)] == [0.0, 0.5, 1.0]


def test_per_recipient_results(db: Database, fake: FakeAfricasTalking) -> None:
    ok, invalid, busy = "+6281270000001", "+6281270000002", "+6281270000003"
    fake.set_status(invalid, 403)
    fake.set_status(busy, 502)
    ids = queue_messages(db, [ok, invalid, busy])
    clock = Clock(wita(10))
    with pytest.raises(TransientSendError):
        sender(db, fake, clock).send_batch(ids)
    with db.begin() as session:
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
        sender(db, fake, clock).send_batch(ids)  # attempt 2
    last = sender(db, fake, clock).send_batch(ids)  # attempt 3: the last, so no retry
    assert (last.failed, last.retry, last.skipped) == (1, 0, 2)
    assert sender(db, fake, clock).send_batch(ids).skipped == 3  # nothing left to send
    with db.begin() as session:
        failed = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == busy)).one()
    assert failed.status == "failed" and failed.attempts == 3
    assert failed.last_error == "gave up after 3 attempts: 502 RejectedByGateway"
    assert fake.sent_to(ok) == 1


def test_two_jobs_with_the_same_ids_send_once(db: Database, fake: FakeAfricasTalking) -> None:
    ids = queue_messages(db, [f"+62812700{i:05d}" for i in range(120)])
    clock = Clock(wita(10))
    first = sender(db, fake, clock).send_batch(ids)
    second = sender(db, fake, clock).send_batch(ids)
    assert (first.sent, second.sent, second.skipped) == (120, 0, 120)
    assert fake.total_messages() == 120 and fake.duplicates() == {}


def test_stuck_messages_are_taken_back(db: Database) -> None:
    ids = queue_messages(db, ["+6281270000001", "+6281270000002"])
    with db.begin() as session:
        outbox.claim(session, ids[:1], wita(9))  # a worker took it at 09:00, then died
    recorder = Recorder()
    report = Sweeper(db, recorder, SendSettings(), clock=Clock(wita(9, 10))).run()
    assert (report.taken_back, report.enqueued) == (1, 2)
    assert recorder.batches == [ids]


def test_the_worker_context_builds_from_settings(settings: dict[str, Any]) -> None:
    context = build_context(
        {**DEFAULTS, **{k: v for k, v in settings.items() if not k.startswith("_")}}
    )
    assert isinstance(context.sender.provider, AfricasTalkingProvider)
    assert context.sender.settings.max_recipients_per_call == PER_CALL
    with context.db.begin() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    context.db.dispose()


def test_the_embedded_default_sends_in_process(tmp_path: Path, sqlite_template: Path) -> None:
    """No Redis, no worker: a booking's confirmation SMS leaves through the console provider
    from a thread of the web process."""
    import shutil

    from tests.conftest import Phone

    path = tmp_path / "gateway.sqlite3"
    shutil.copy(sqlite_template, path)
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{path}", "SMS_QUIET_HOURS": [], "SWEEP_INTERVAL_SECONDS": 60}
    )
    rt = app.extensions["gateway"]
    try:
        phone = Phone(app.test_client())
        phone.dial()
        for key in ("4", "1", "1"):
            phone.press(key)
        assert phone.press("1").startswith("END ")  # the checklist by SMS
        wait_until(lambda: statuses(rt.db) == {"sent": 1}, 10, "the checklist sent")
        with rt.db.begin() as session:
            message = session.scalars(select(OutboxMessage)).one()
        assert message.provider_message_id is not None
        assert message.provider_message_id.startswith("console-")
    finally:
        rt.jobs.stop()
        rt.db.dispose()
