"""Sending, end to end: the outbox, real `rq worker` processes on a real Redis, PostgreSQL, and
the fake Africa's Talking server driven through the real SDK.

What must hold (issue 3): every message arrives exactly once; a worker killed with SIGKILL
loses nothing (only the chunk in flight may arrive twice); a flushed Redis loses nothing (the
sweep finishes the job); a provider outage delays messages and then they go; opted-out numbers
get nothing. And the embedded default, with no Redis and no worker, sends from a thread."""

from __future__ import annotations

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
from tests.fake_africastalking import FakeAfricasTalking
from tests.helpers import REDIS_URL, TEMBOK
from tests.live_servers import RQWorkers, wait_until, write_config
from tests.workers.helpers import PER_CALL
from workers.context import build_context
from workers.providers.africastalking import AfricasTalkingProvider

# --- fixtures --------------------------------------------------------------------------------


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


# --- real workers ----------------------------------------------------------------------------


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

    from tests.helpers import Phone

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
