"""The "remind me" choice on a village visit's screen: the reminders written to the outbox,
three days and one day before at 07:00 WITA, in the caller's language, on both configurations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from common.local_time import local_today
from storage import queries
from storage.db import Database
from storage.models import OutboxMessage, ReminderSubscription
from tests.helpers import (
    TEMBOK,
    Phone,
    count,
    en_date,
    id_date,
    resident,
    rows,
    seven_wita,
    short_id,
)
from tests.ussd.helpers import remind_me


def add_visit(db: Database, days: int) -> int:
    with db.begin() as session:
        return queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=days),
            start_time=dt.time(9),
            end_time=dt.time(14),
            place="Balai Desa",
        ).id


def test_remind_me_writes_reminders_three_days_and_one_day_before(
    phone: Phone, db: Database
) -> None:
    resident(db, phone.number)
    visit_id = add_visit(db, days=5)
    day = local_today() + dt.timedelta(days=5)
    assert remind_me(phone) == f"END Baik. Kami kirim SMS pengingat sebelum {id_date(day)}."
    columns = ("recipient", "kind", "urgent", "status", "visit_id", "due_at", "body")
    assert rows(db, *columns) == [
        (
            phone.number,
            "reminder",
            False,
            "queued",
            visit_id,
            seven_wita(day - dt.timedelta(3)),
            f"Pengingat: petugas Adminduk di Desa Tembok 3 hari lagi, {id_date(day)} 09:00-14:00, "
            f"di Balai Desa. Formulir ke kantor desa s.d. {short_id(day - dt.timedelta(2))}.",
        ),
        (
            phone.number,
            "reminder",
            False,
            "queued",
            visit_id,
            seven_wita(day - dt.timedelta(1)),
            f"Pengingat: petugas Adminduk di Desa Tembok besok, {id_date(day)} 09:00-14:00, di "
            "Balai Desa.",
        ),
    ]
    assert remind_me(phone).startswith("END Baik.")  # asking twice writes nothing new
    assert count(db, OutboxMessage) == 2
    assert count(db, ReminderSubscription) == 1


def test_remind_me_two_days_before_gets_only_the_last_reminder(phone: Phone, db: Database) -> None:
    resident(db, phone.number, language="en")
    add_visit(db, days=2)
    day = local_today() + dt.timedelta(days=2)
    assert remind_me(phone) == f"END OK. We will send you an SMS reminder before {en_date(day)}."
    assert rows(db, "kind", "due_at", "body") == [
        (
            "reminder",
            seven_wita(day - dt.timedelta(1)),
            f"Reminder: Adminduk staff in Tembok tomorrow, {en_date(day)} 09:00-14:00, at "
            "Balai Desa.",
        ),
    ]


def test_remind_me_on_the_day_writes_nothing(phone: Phone, db: Database) -> None:
    resident(db, phone.number)
    add_visit(db, days=0)
    assert remind_me(phone).startswith("END Baik. Kami kirim SMS pengingat")
    assert count(db, OutboxMessage) == 0
    assert count(db, ReminderSubscription) == 1


@pytest.mark.parametrize("backend", ["production"])  # the one-statement path is PostgreSQL's
def test_remind_me_racing_an_edit_of_the_visit_gets_the_new_times(
    app: Flask, phone: Phone, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hop reads the visit, writes the reminders' texts, then writes them: if staff edit
    the visit in between, the reminders must carry the new times, not the ones read."""
    from gateway import staff_actions
    from gateway.resident_sms import ResidentSms
    from gateway.runtime import runtime

    resident(db, phone.number)
    visit_id = add_visit(db, days=5)
    real = ResidentSms.reminder_messages
    edits: list[int] = []

    def render_then_edit(self: ResidentSms, *args: Any) -> list[dict[str, Any]]:
        messages = real(self, *args)  # the hop's texts: 09:00-14:00
        if not edits:  # (the edit plans reminders itself, through this same method)
            edits.append(visit_id)
            with db.begin() as session:  # staff move the visit to 10:00 meanwhile
                staff_actions.edit_visit(
                    session, runtime(app).resident_sms, "staff", visit_id, start=dt.time(10)
                )
        return messages

    monkeypatch.setattr(ResidentSms, "reminder_messages", render_then_edit)
    assert remind_me(phone).startswith("END Baik.")
    bodies = [body for kind, body in rows(db, "kind", "body") if kind == "reminder"]
    assert len(bodies) == 2
    assert all("10:00-14:00" in body for body in bodies), bodies
    assert count(db, ReminderSubscription) == 1
