"""The operator CLI under audit (issue 10, items 11 and 12), on both configurations: every
command that changes data writes audit entries naming who ran it -- ``cli:`` and the OS user,
or ``--actor NAME`` -- as the console names its logged-in user; and ``demo`` (log-ins with
known passwords) refuses anything but the embedded default unless ``--force``."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import select

from common.local_time import local_today
from gateway import create_app
from gateway.runtime import runtime
from storage import outbox, queries
from storage.db import Database
from storage.models import AuditEntry, DocumentRequest, OutboxMessage, Resident, User, utcnow
from tests.helpers import ME, TEMBOK, count, fails, ok, resident, run

ME_OS = f"cli:{getpass.getuser()}"


def audit_log(db: Database, since: int = 0) -> list[tuple[Any, ...]]:
    """(actor, action, entity, entity_id, before, after) after entry ``since``, oldest first."""
    with db.begin() as session:
        return [
            (
                e.actor,
                e.action,
                e.entity,
                e.entity_id,
                None if e.before is None else json.loads(e.before),
                None if e.after is None else json.loads(e.after),
            )
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.id > since).order_by(AuditEntry.id)
            )
        ]


def last_entry(db: Database) -> int:
    with db.begin() as session:
        return max(session.scalars(select(AuditEntry.id)), default=0)


# --- demo --------------------------------------------------------------------------------------


def test_demo_refuses_a_production_database_unless_forced(
    backend: str, runner: Any, db: Database
) -> None:
    """It ran against any database and created admin/admin-demo-123 there."""
    if backend == "embedded":
        assert ok(run(runner, "demo")).startswith("Demo data loaded.")
        assert audit_log(db)[-1][:2] == (ME_OS, "demo.load")
        return
    fails(
        run(runner, "demo"),
        "demo data is for the embedded default (SQLite, no REDIS_URL), not this postgresql "
        "with Redis database: it adds log-ins with known passwords. Add --force for a "
        "training server.",
        exact=True,
    )
    assert (count(db, User), count(db, Resident), count(db, DocumentRequest)) == (0, 0, 0)
    assert audit_log(db) == []
    forced = run(runner, "demo", "--force", "--actor", "trainer")
    assert ok(forced).startswith("Demo data loaded.")
    assert "warning: loading demo data with log-ins whose passwords are public" in forced.stderr
    assert audit_log(db) == [
        (
            "cli:trainer",
            "demo.load",
            "database",
            None,
            None,
            {"users": ["admin", "staff", "officer"], "forced": True},
        )
    ]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_demo_refuses_sqlite_with_redis(app_config: dict[str, Any], redis_client: Any) -> None:
    """SQLite with REDIS_URL is not the embedded default either (a half-configured server)."""
    from tests.helpers import REDIS_URL

    app = create_app({"TESTING": True, **app_config, "REDIS_URL": REDIS_URL})
    try:
        fails(run(app.test_cli_runner(), "demo"), "not this sqlite with Redis database")
        assert count(runtime(app).db, User) == 0
    finally:
        runtime(app).db.dispose()


# --- every change is audited -------------------------------------------------------------------


def test_residents_import_is_audited_row_by_row(runner: Any, db: Database, tmp_path: Path) -> None:
    """It wrote no audit entry at all."""
    resident(db, "+6281200000009", village=TEMBOK, language="id")
    resident(db, "+6281200000008", village=TEMBOK, language="id")
    path = tmp_path / "warga.csv"
    path.write_text(
        "phone,village,language\n"
        "081200000001,Tembok,en\n"  # new
        "081200000009,Les,id\n"  # moved
        "081200000008,Tembok,id\n"  # unchanged: no entry of its own
        "hello,Tembok,id\n",
        encoding="utf-8",
    )
    ok(run(runner, "residents", "import", str(path)))
    les = "51.08.09.2007"
    assert audit_log(db) == [
        (
            ME_OS,
            "resident.add",
            "resident",
            "+6281200000001",
            None,
            {"village_code": TEMBOK, "language": "en"},
        ),
        (
            ME_OS,
            "resident.update",
            "resident",
            "+6281200000009",
            {"village_code": TEMBOK, "language": "id"},
            {"village_code": les, "language": "id"},
        ),
        (
            ME_OS,
            "residents.import",
            "resident",
            None,
            None,
            {"file": "warga.csv", "added": 1, "updated": 2, "rejected": 1},
        ),
    ]
    since = last_entry(db)
    ok(run(runner, "residents", "import", str(path), "--actor", "Made (Disdukcapil)"))
    assert [e[:2] for e in audit_log(db, since)] == [
        ("cli:Made (Disdukcapil)", "residents.import")  # nothing changed: the import alone
    ]


def _day(days: int) -> str:
    return (local_today() + dt.timedelta(days=days)).isoformat()


def test_every_command_that_changes_data_names_its_actor(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    """Each changing command, run as the OS user and as --actor: the entries it writes."""
    resident(db, ME)
    with db.begin() as session:
        booking, _ = queries.create_booking(
            session,
            phone=ME,
            for_whom="self",
            reason="sick",
            service="ktp",
            village_code=TEMBOK,
            hamlet=None,
        )
        assert outbox.add(session, recipient=ME, kind="reply", body="x", dedupe_key="t:1")
        message_id = session.scalar(select(OutboxMessage.id))
        assert message_id is not None
        outbox.mark_failed(session, message_id, "test", utcnow())
    visit = [
        *("visits", "add", "--village", "Tembok", "--date", _day(5), "--start", "09:00"),
        *("--end", "12:00", "--place", "Balai Desa", "--draft"),
    ]
    number = ok(
        run(
            runner,
            *("requests", "add", "--type", "ktp", "--phone", ME, "--birth-year", "1956"),
            *("--village", "Tembok"),
        )
    ).strip()
    visit_id = ok(run(runner, *visit)).split(":")[0].removeprefix("visit ")
    regions = tmp_path / "regions.csv"
    regions.write_text(
        "code,name,level,parent_code\n51.08.09.2010,Tembok,desa,51.08.09\n", encoding="utf-8"
    )
    commands: list[tuple[tuple[str, ...], str]] = [
        (("requests", "set-status", number, "ready"), "request.status"),
        (("visits", "publish", visit_id), "visit.publish"),
        (("visits", "edit", visit_id, "--place", "Balai Banjar"), "visit.edit"),
        (("visits", "cancel", visit_id), "visit.cancel"),
        (("bookings", "schedule", booking.number, "--at", f"{_day(2)} 10:00"), "booking.schedule"),
        (("bookings", "done", booking.number), "booking.done"),
        (("broadcast", "--village", "Tembok", "--text", "Halo", "--yes"), "broadcast.send"),
        (("outbox", "retry", str(message_id)), "outbox.retry"),
        (("outbox", "sweep"), "outbox.sweep"),
        (("sessions", "flush"), "sessions.flush"),
        (("regions", "import", str(regions)), "regions.import"),
        (("db", "upgrade"), "db.upgrade"),
        (
            ("users", "create", "--username", "wayan", "--role", "staff"),
            "user.create",
        ),
    ]
    assert [e[:2] for e in audit_log(db)] == [(ME_OS, "request.add"), (ME_OS, "visit.add")]
    for args, action in commands:
        since = last_entry(db)
        extra = ("--password", "panjang-sekali-1") if args[0] == "users" else ()
        ok(run(runner, *args, *extra, "--actor", "ketut"))
        entries = audit_log(db, since)
        assert [(e[0], e[1]) for e in entries] == [("cli:ketut", action)], (args, entries)


def test_the_actor_is_a_name_not_anything(runner: Any, db: Database) -> None:
    for bad in ("", "   ", "a\x00b", "x" * 57):
        fails(run(runner, "outbox", "sweep", "--actor", bad), "a name of 1 to 56 printable")
    assert audit_log(db) == []
    ok(run(runner, "outbox", "sweep", "--actor", "x" * 56))
    assert audit_log(db)[0][0] == "cli:" + "x" * 56


# What reads only, or acts as a resident's phone (dial), or runs a process (worker): no actor.
READ_ONLY = {
    "bookings list",
    "callbacks list",
    "visits list",
    "outbox list",
    "dial",
    "worker",
    "smpp",  # like the worker: sends what is queued, changes nothing itself
    "android webhooks",  # registers our addresses on the office phone; no data of ours changes
    "voice render",  # renders audio files from the catalogs; no data changes
    "db revision",  # a developer's file, not data
}


def test_every_changing_command_takes_an_actor(app: Flask) -> None:
    """A command added later that changes data must say who: it gets --actor, or is listed
    above as one that does not change data."""
    found = set()

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
            return
        if path.split(" ")[0] in ("routes", "run", "shell"):  # Flask's own
            return
        found.add(path)
        takes_actor = any(p.name == "actor" for p in command.params)
        assert takes_actor != (path in READ_ONLY), path

    walk(app.cli, "")
    assert found >= READ_ONLY
