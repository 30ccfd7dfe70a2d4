"""On the embedded default (no Redis, no worker) a command that writes SMS to the outbox has
sent what is due when it returns: the process ends right after, and a sending thread would end
with it."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from common.local_time import local_today
from gateway import create_app
from gateway.cli.common import DEMO_PHONES
from gateway.runtime import runtime
from storage import queries
from storage.models import HomeVisitBooking, OutboxMessage, utcnow
from tests.helpers import TEMBOK, ok, run
from workers.queue import ThreadJobQueue

ANA = "+6281200000101"
BEN = "+6281200000102"


@pytest.fixture
def embedded(tmp_path: Path, sqlite_template: Path) -> Iterator[Flask]:
    """The embedded default as an operator runs it (jobs in process), two residents of Tembok,
    and no quiet hours, so that everything due is due now."""
    path = tmp_path / "gateway.sqlite3"
    shutil.copy(sqlite_template, path)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{path}",
            "REDIS_URL": "",
            "SMS_QUIET_HOURS": [],
        }
    )
    rt = runtime(app)
    assert isinstance(rt.jobs, ThreadJobQueue)
    with rt.db.begin() as session:
        for phone in (ANA, BEN):
            queries.upsert_resident(session, phone, village_code=TEMBOK, language="id")
    yield app
    rt.jobs.stop()
    rt.db.dispose()


def sent_on_return(app: Flask, *args: str) -> list[tuple[str, str]]:
    """Run a command; once it returns nothing due may still be waiting, and no thread may be
    left to send it. The (recipient, status) of every message due by then."""
    before = set(threading.enumerate())
    out = ok(run(app.test_cli_runner(), *args))
    assert not [t for t in set(threading.enumerate()) - before if t.name == "outbox"], out
    with runtime(app).db.begin() as session:
        due = session.scalars(
            select(OutboxMessage).where(OutboxMessage.due_at <= utcnow()).order_by(OutboxMessage.id)
        )
        owed = [(m.recipient, m.status) for m in due]
    assert owed, f"{args} wrote nothing to send"
    assert {status for _, status in owed} <= {"sent", "cancelled"}, owed
    return owed


def _day(days: int) -> str:
    return (local_today() + dt.timedelta(days=days)).isoformat()


VISIT = ("--village", "Tembok", "--start", "09:00", "--end", "14:00", "--place", "Balai Desa")


def test_visit_announcements(embedded: Flask) -> None:
    assert sent_on_return(embedded, "visits", "add", *VISIT, "--date", _day(7)) == [
        (ANA, "sent"),
        (BEN, "sent"),
    ]
    ok(run(embedded.test_cli_runner(), "visits", "add", *VISIT, "--date", _day(9), "--draft"))
    assert len(sent_on_return(embedded, "visits", "publish", "2")) == 4
    assert len(sent_on_return(embedded, "visits", "edit", "1", "--start", "10:00")) == 6
    assert len(sent_on_return(embedded, "visits", "cancel", "2")) == 8


def test_a_broadcast(embedded: Flask) -> None:
    args = ("broadcast", "--village", "Tembok", "--text", "Besok kantor tutup.", "--yes")
    assert sent_on_return(embedded, *args) == [(ANA, "sent"), (BEN, "sent")]


def test_a_request_status(embedded: Flask) -> None:
    add = ("requests", "add", "--type", "ktp", "--phone", ANA, "--birth-year", "1956")
    number = ok(run(embedded.test_cli_runner(), *add, "--village", "Tembok")).strip()
    # (the first: its number, sent when `requests add` returned)
    assert sent_on_return(embedded, "requests", "set-status", number, "ready") == [
        (ANA, "sent"),
        (ANA, "sent"),
    ]


@pytest.mark.parametrize("step", ["done", "cancel"])
def test_a_home_visit_booking(embedded: Flask, step: str) -> None:
    ok(run(embedded.test_cli_runner(), "demo"))  # its English resident has a booking open
    with runtime(embedded).db.begin() as session:
        number = session.scalars(select(HomeVisitBooking.number)).one()
    english = DEMO_PHONES["english"]
    when = f"{_day(3)} 10:00"
    assert sent_on_return(embedded, "bookings", "schedule", number, "--at", when) == [
        (english, "sent")
    ]
    assert sent_on_return(embedded, "bookings", step, number)[-1] == (english, "sent")


def test_a_failed_message_sent_again(embedded: Flask) -> None:
    args = ("broadcast", "--village", "Tembok", "--text", "Besok kantor tutup.", "--yes")
    sent_on_return(embedded, *args)
    with runtime(embedded).db.begin() as session:
        message = session.get(OutboxMessage, 1)
        assert message is not None
        message.status, message.failed_at = "failed", utcnow()
    assert sent_on_return(embedded, "outbox", "retry", "1") == [(ANA, "sent"), (BEN, "sent")]
