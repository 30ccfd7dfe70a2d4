"""``visits publish``, ``edit`` and ``cancel`` (and ``add``, which publishes): who is told what by
SMS — the village's residents and those who asked, each in their language — and what becomes of
messages not sent yet, on both configurations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from common.local_time import local_today
from storage import outbox, queries
from storage.db import Database
from storage.models import (
    Broadcast,
    OutboxMessage,
    ReminderSubscription,
    Resident,
    VillageVisit,
    utcnow,
)
from tests.cli.helpers import (
    ANA,
    BEN,
    CICI,
    DEWA,
    EVA,
    FAJAR,
    FORMS_ID,
    GEDE,
    LES,
    VISIT_DAY,
    announced,
    visit_add,
)
from tests.helpers import (
    TEMBOK,
    Phone,
    count,
    en_date,
    fails,
    id_date,
    ok,
    resident,
    rows,
    run,
    seven_wita,
)
from tests.ussd.helpers import remind_me


def mark_sent(db: Database, *message_ids: int) -> None:
    with db.begin() as session:
        for message_id in message_ids:
            outbox.mark_sent(session, message_id, f"ATXid_{message_id}", utcnow())


# --- village visits: publish -----------------------------------------------------------------


def ussd_notify_me(
    client: FlaskClient,
    number: str,
    english: bool = False,
    village_keys: tuple[str, str] = ("9", "10"),
    then_live_in: tuple[str, str] | None = None,
) -> None:
    """Journey 3 by USSD: no visit to the village yet, "tell me by SMS"."""
    phone = Phone(client, number)
    phone.dial()
    if english:
        phone.press("5")
        phone.press("2")
    phone.press("3")
    for key in village_keys:
        phone.press(key)
    assert phone.press("1").startswith("END ")
    if then_live_in:  # asks about another village afterwards: remembered as theirs
        phone.dial()
        phone.press("3")
        phone.press("2")
        for key in then_live_in:
            phone.press(key)


@pytest.fixture
def village(db: Database, client: FlaskClient) -> None:
    resident(db, ANA)
    resident(db, BEN, language="en")
    resident(db, CICI, opted_out=True)
    resident(db, DEWA, village=LES)
    ussd_notify_me(client, EVA, english=True, then_live_in=("9", "3"))
    resident(db, FAJAR)
    ussd_notify_me(client, FAJAR)
    ussd_notify_me(client, GEDE, village_keys=("9", "3"), then_live_in=("9", "10"))
    with db.begin() as session:
        subs = [
            (s.phone, s.kind, s.village_code, s.visit_id, s.language)
            for s in session.scalars(select(ReminderSubscription).order_by(ReminderSubscription.id))
        ]
        homes = dict(list(session.execute(select(Resident.phone, Resident.village_code))))
    assert subs == [
        (EVA, "visit_published", TEMBOK, None, "en"),
        (FAJAR, "visit_published", TEMBOK, None, "id"),
        (GEDE, "visit_published", LES, None, "id"),
    ]
    assert (homes[EVA], homes[FAJAR], homes[GEDE]) == (LES, TEMBOK, TEMBOK)
    assert count(db, OutboxMessage) == 0


def expected_announcements(broadcast_id: int = 1, start: str = "09:00") -> list[tuple[Any, ...]]:
    text = announced(start)
    return [
        (phone, "broadcast", False, "queued", text[language], broadcast_id, 1)
        for phone, language in ((ANA, "id"), (BEN, "en"), (FAJAR, "id"), (GEDE, "id"), (EVA, "en"))
    ]


ANNOUNCEMENT = ("recipient", "kind", "urgent", "status", "body", "broadcast_id", "visit_id")


def broadcasts(db: Database) -> list[tuple[Any, ...]]:
    with db.begin() as session:
        return [
            (b.id, b.kind, b.audience, b.visit_id, b.status, b.recipients, b.body)
            for b in session.scalars(select(Broadcast).order_by(Broadcast.id))
        ]


@pytest.mark.usefixtures("village")
def test_adding_a_visit_tells_its_village_and_subscribers(runner: Any, db: Database) -> None:
    assert visit_add(runner) == (
        f"visit 1: Tembok {VISIT_DAY} 09:00-14:00 published; 5 resident(s) will be told by SMS\n"
    )
    assert broadcasts(db) == [(1, "visit_published", f"village:{TEMBOK}", 1, "planned", 5, None)]
    # Residents of Tembok who have not opted out, in their language, and those who asked (in
    # any order: the resident_sms groups them by language, so the sender's batches stay full).
    assert sorted(rows(db, *ANNOUNCEMENT)) == sorted(expected_announcements())
    # Publishing again is refused and writes nothing.
    fails(run(runner, "visits", "publish", "1"), "visit 1 is already published", exact=True)
    assert count(db, OutboxMessage) == 5 and count(db, Broadcast) == 1


@pytest.mark.usefixtures("village")
def test_publishing_a_draft(runner: Any, db: Database) -> None:
    assert visit_add(runner, "--draft") == f"visit 1: Tembok {VISIT_DAY} 09:00-14:00 draft\n"
    assert count(db, OutboxMessage) == 0 and count(db, Broadcast) == 0
    assert ok(run(runner, "visits", "publish", "1")) == (
        "visit 1 published; 5 resident(s) will be told by SMS\n"
    )
    assert sorted(rows(db, *ANNOUNCEMENT)) == sorted(expected_announcements())
    assert broadcasts(db) == [(1, "visit_published", f"village:{TEMBOK}", 1, "planned", 5, None)]
    fails(run(runner, "visits", "publish", "1"), "visit 1 is already published", exact=True)
    fails(run(runner, "visits", "publish", "7"), "no visit with id 7", exact=True)
    assert count(db, OutboxMessage) == 5


def test_a_cancelled_draft_cannot_be_published(runner: Any, db: Database) -> None:
    resident(db, ANA)
    visit_add(runner, "--draft")
    assert ok(run(runner, "visits", "cancel", "1")) == "visit 1 cancelled; 0 resident(s) are told\n"
    fails(run(runner, "visits", "publish", "1"), "visit 1 is cancelled", exact=True)
    assert count(db, OutboxMessage) == 0


# --- village visits: edit and cancel ---------------------------------------------------------


def test_editing_and_cancelling_a_published_visit(
    runner: Any, db: Database, client: FlaskClient
) -> None:
    resident(db, ANA)
    resident(db, BEN, language="en")
    ussd_notify_me(client, EVA, english=True, then_live_in=("9", "3"))
    visit_add(runner)
    assert sorted(rows(db, "recipient", "body")) == [
        (ANA, announced()["id"]),
        (BEN, announced()["en"]),
        (EVA, announced()["en"]),
    ]
    assert remind_me(Phone(client, ANA)).startswith("END Baik.")  # Ana asks to be reminded
    assert rows(db, "recipient", "kind", "due_at", since=3) == [
        (ANA, "reminder", seven_wita(VISIT_DAY - dt.timedelta(3))),
        (ANA, "reminder", seven_wita(VISIT_DAY - dt.timedelta(1))),
    ]
    mark_sent(db, 1)  # Ana has heard of the visit already; Ben and Eva not yet

    assert ok(run(runner, "visits", "edit", "1", "--start", "10:00")) == (
        "visit 1 changed; 1 resident(s) already told get the change\n"
    )
    day_id, day_en = id_date(VISIT_DAY), en_date(VISIT_DAY)
    changed = (
        f"Perubahan: petugas Adminduk ke Desa Tembok jadi {day_id}, 10:00-14:00, di Balai Desa."
    )
    reminders_at_ten = [
        f"Pengingat: petugas Adminduk di Desa Tembok 3 hari lagi, {day_id} 10:00-14:00, di "
        f"Balai Desa.{FORMS_ID}",
        f"Pengingat: petugas Adminduk di Desa Tembok besok, {day_id} 10:00-14:00, di Balai Desa.",
    ]
    columns = ("recipient", "kind", "status", "last_error", "broadcast_id", "visit_id", "body")
    assert rows(db, *columns) == [
        (ANA, "broadcast", "sent", None, 1, 1, announced()["id"]),
        (BEN, "broadcast", "cancelled", "visit changed", 1, 1, announced()["en"]),
        (EVA, "broadcast", "cancelled", "visit changed", 1, 1, announced()["en"]),
        (ANA, "reminder", "cancelled", "visit changed", None, 1, rows(db, "body")[3][0]),
        (ANA, "reminder", "cancelled", "visit changed", None, 1, rows(db, "body")[4][0]),
        # Ana was told 09:00: she gets the change, not a second announcement.
        (ANA, "broadcast", "queued", None, None, 1, changed),
        # Ben and Eva were not told yet: they get the announcement with the new time.
        (BEN, "broadcast", "queued", None, 2, 1, announced("10:00")["en"]),
        (EVA, "broadcast", "queued", None, 2, 1, announced("10:00")["en"]),
        # Ana's reminders, with the new time, at the same hours.
        (ANA, "reminder", "queued", None, None, 1, reminders_at_ten[0]),
        (ANA, "reminder", "queued", None, None, 1, reminders_at_ten[1]),
    ]
    assert rows(db, "due_at", since=8) == [
        (seven_wita(VISIT_DAY - dt.timedelta(3)),),
        (seven_wita(VISIT_DAY - dt.timedelta(1)),),
    ]
    assert broadcasts(db)[1] == (2, "visit_published", f"village:{TEMBOK}", 1, "planned", 2, None)
    mark_sent(db, 7)  # Ben hears of 10:00; Ana's change and Eva's announcement still wait

    assert ok(run(runner, "visits", "cancel", "1")) == (
        "visit 1 cancelled; 2 resident(s) are told\n"
    )
    assert [status for (status,) in rows(db, "status", since=5)] == [
        "cancelled",
        "sent",
        "cancelled",
        "cancelled",
        "cancelled",
        "queued",
        "queued",
    ]
    assert set(rows(db, "last_error", since=5)[:5]) == {("visit cancelled",), (None,)}
    assert sorted(rows(db, "recipient", "kind", "status", "visit_id", "body", since=10)) == [
        (
            ANA,
            "broadcast",
            "queued",
            1,
            f"Maaf, kunjungan petugas Adminduk ke Desa Tembok "
            f"{day_id} batal. Jadwal baru dikabari lewat SMS.",
        ),
        (
            BEN,
            "broadcast",
            "queued",
            1,
            f"Sorry, the Adminduk visit to Tembok on {day_en} is "
            "cancelled. We will SMS the new date.",
        ),
    ]
    with db.begin() as session:
        visit = session.get(VillageVisit, 1)
        assert visit is not None and visit.cancelled
        assert queries.next_visit(session, TEMBOK, local_today()) is None
    fails(run(runner, "visits", "cancel", "1"), "visit 1 is already cancelled", exact=True)
    fails(
        run(runner, "visits", "edit", "1", "--place", "Pura Desa"),
        "visit 1 is cancelled",
        exact=True,
    )
    assert count(db, OutboxMessage) == 12


def test_editing_a_draft_tells_nobody(runner: Any, db: Database) -> None:
    resident(db, ANA)
    visit_add(runner, "--draft")
    assert ok(run(runner, "visits", "edit", "1", "--place", " Pura Desa ", "--bring", "")) == (
        "visit 1 changed; 0 resident(s) already told get the change\n"
    )
    assert count(db, OutboxMessage) == 0
    ok(run(runner, "visits", "publish", "1"))
    assert rows(db, "body") == [
        (
            f"Adminduk: petugas ke Desa Tembok {id_date(VISIT_DAY)} "
            f"09:00-14:00 di Pura Desa.{FORMS_ID} Balas STOP u/ berhenti.",
        )
    ]


def test_visit_edit_errors_change_nothing(runner: Any, db: Database) -> None:
    resident(db, ANA)
    visit_add(runner)
    fails(
        run(runner, "visits", "edit", "1", "--end", "08:00"),
        "end time 08:00 is not after start time 09:00",  # the CLI speaks English
        exact=True,
    )
    yesterday = local_today() - dt.timedelta(days=1)
    fails(
        run(runner, "visits", "edit", "1", "--date", yesterday.isoformat()),
        f"Invalid value for --date: {yesterday} is in the past",
        exact=True,
    )
    fails(
        run(runner, "visits", "edit", "1", "--start", "nine"),
        "Invalid value for --start: 'nine' is not a time like 09:00",
        exact=True,
    )
    fails(
        run(runner, "visits", "edit", "1", "--place", "  "),
        "Invalid value for --place: the place cannot be empty",
        exact=True,
    )
    fails(run(runner, "visits", "edit", "2", "--place", "X"), "no visit with id 2", exact=True)
    assert rows(db, "status", "body") == [("queued", announced()["id"])]
    with db.begin() as session:
        visit = session.get(VillageVisit, 1)
        assert visit is not None
        assert (visit.start_time, visit.end_time, visit.visit_date, visit.place) == (
            dt.time(9),
            dt.time(14),
            VISIT_DAY,
            "Balai Desa",
        )
