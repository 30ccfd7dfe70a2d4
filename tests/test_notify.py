"""What the product tells residents by SMS, and when (SPEC §4): the outbox rows written by the
operator CLI and the USSD journeys, on both configurations — exact texts, in each resident's
language, with exact due times (07:00 WITA is 23:00 UTC the day before)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from common.local_time import LOCAL_TZ, local_today
from storage import numbers, outbox, queries
from storage.db import Database
from storage.models import (
    Broadcast,
    HomeVisitBooking,
    OutboxMessage,
    ReminderSubscription,
    Resident,
    VillageVisit,
    utcnow,
)
from tests.conftest import Phone, ok, run

TEMBOK = "51.08.09.2010"
LES = "51.08.09.2007"
ME = "+6281299990001"

# Residents of the visit tests
ANA = "+6281200000001"  # Tembok, Indonesian
BEN = "+6281200000002"  # Tembok, English
CICI = "+6281200000003"  # Tembok, opted out
DEWA = "+6281200000004"  # Les
EVA = "+6281200000005"  # lives in Les, asked by USSD (in English) to hear about Tembok
FAJAR = "+6281200000006"  # Tembok, and asked to hear about Tembok too
GEDE = "+6281200000007"  # Tembok, asked to hear about Les only


def id_date(day: dt.date) -> str:
    return format_date(day, format="EEEE, d MMM y", locale="id")


def en_date(day: dt.date) -> str:
    return format_date(day, format="EEEE d MMM y", locale="en")


def seven_wita(day: dt.date) -> dt.datetime:
    """07:00 WITA (UTC+8) on ``day``, in UTC: 23:00 the day before."""
    return dt.datetime.combine(day - dt.timedelta(days=1), dt.time(23), dt.UTC)


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@pytest.fixture
def db(app: Flask) -> Database:
    return app.extensions["gateway"].db  # type: ignore[no-any-return]


def fails(result: Result, message: str) -> None:
    """The command failed cleanly: one ``Error:`` line with ``message``, no traceback."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {message}"], result.stderr
    assert result.stdout == ""


def count(db: Database, model: type[Any], **where: Any) -> int:
    with db.begin() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(session.scalar(query) or 0)


def rows(db: Database, *columns: str, since: int = 0) -> list[tuple[Any, ...]]:
    """The outbox, oldest first, as tuples of ``columns`` (due_at in UTC)."""
    with db.begin() as session:
        found = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id > since).order_by(OutboxMessage.id)
        )
        return [
            tuple(as_utc(getattr(m, c)) if c.endswith("_at") else getattr(m, c) for c in columns)
            for m in found
        ]


def last_id(db: Database) -> int:
    with db.begin() as session:
        return int(session.scalar(select(func.max(OutboxMessage.id))) or 0)


def resident(
    db: Database,
    phone: str,
    village: str | None = TEMBOK,
    language: str = "id",
    opted_out: bool = False,
) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, phone, village_code=village, language=language)
        stored = queries.get_resident(session, phone)
        assert stored is not None
        stored.opted_out = opted_out


def mark_sent(db: Database, *message_ids: int) -> None:
    with db.begin() as session:
        for message_id in message_ids:
            outbox.mark_sent(session, message_id, f"ATXid_{message_id}", utcnow())


# --- document requests -----------------------------------------------------------------------

KTP = numbers.with_check_digit("2000001")


@pytest.mark.parametrize(
    ("language", "processing", "ready"),
    [
        (
            "id",
            f"Adminduk Buleleng: KTP-el no. {KTP}: Sedang diproses.",
            f"Adminduk Buleleng: KTP-el no. {KTP}: Siap diambil. Ambil di Kantor Desa Tembok.",
        ),
        (
            "en",
            f"Adminduk Buleleng: KTP-el (ID card) no. {KTP}: In progress.",
            f"Adminduk Buleleng: KTP-el (ID card) no. {KTP}: Ready to collect. "
            "Collect at Kantor Desa Tembok.",
        ),
    ],
)
def test_a_status_change_is_told_in_the_applicants_language(
    runner: Any, db: Database, language: str, processing: str, ready: str
) -> None:
    resident(db, ME, language=language)
    ok(
        run(
            runner,
            "requests",
            "add",
            "--type",
            "ktp",
            "--phone",
            "0812-9999-0001",
            "--birth-year",
            "1956",
            "--village",
            "Tembok",
            "--number",
            KTP,
        )
    )
    assert rows(db, "id") == []  # registering a request tells nobody
    ok(run(runner, "requests", "set-status", KTP, "processing"))
    ok(run(runner, "requests", "set-status", KTP, "ready", "--pickup", "Kantor Desa Tembok"))
    with db.begin() as session:
        request = queries.find_request(session, KTP)
        assert request is not None
        changes = [h.id for h in request.history]
        request_id = request.id
    assert rows(db, "recipient", "kind", "urgent", "status", "body", "dedupe_key") == [
        (
            ME,
            "notification",
            False,
            "queued",
            processing,
            f"request:{request_id}:change:{changes[1]}",
        ),
        (ME, "notification", False, "queued", ready, f"request:{request_id}:change:{changes[2]}"),
    ]


def test_a_language_chosen_by_ussd_is_used_for_notifications(
    runner: Any, db: Database, client: FlaskClient
) -> None:
    ok(
        run(
            runner,
            "requests",
            "add",
            "--type",
            "kk",
            "--phone",
            ME,
            "--birth-year",
            "1956",
            "--village",
            "Tembok",
            "--number",
            KTP,
        )
    )
    ok(run(runner, "requests", "set-status", KTP, "processing"))
    phone = Phone(client, ME)  # never heard of before: Indonesian; then chooses English
    phone.dial()
    phone.press("5")
    assert phone.press("2").startswith("CON Adminduk Buleleng\n1 Check document status")
    ok(run(runner, "requests", "set-status", KTP, "rejected"))
    assert rows(db, "body") == [
        (f"Adminduk Buleleng: Kartu Keluarga no. {KTP}: Sedang diproses.",),
        (f"Adminduk Buleleng: Family card no. {KTP}: Incomplete.",),
    ]


# --- home-visit bookings ---------------------------------------------------------------------


def book(db: Database, phone: str = ME, language: str = "id") -> str:
    resident(db, phone, language=language)
    with db.begin() as session:
        booking, created = queries.create_booking(
            session,
            phone=phone,
            for_whom="self",
            reason="sick",
            service="ktp",
            village_code=TEMBOK,
            hamlet=None,
        )
        assert created
        return booking.number


def booking_state(db: Database, number: str) -> tuple[str, dt.datetime | None, str | None]:
    with db.begin() as session:
        b = session.scalars(select(HomeVisitBooking).where(HomeVisitBooking.number == number)).one()
        return b.status, as_utc(b.scheduled_for), b.team


IN_4_DAYS = local_today() + dt.timedelta(days=4)
IN_6_DAYS = local_today() + dt.timedelta(days=6)


@pytest.mark.parametrize(
    ("language", "scheduled", "reminder"),
    [
        (
            "id",
            "Adminduk Buleleng: petugas datang ke rumah Anda {date} jam 10:00. Nomor {number}.",
            "Pengingat Adminduk: petugas datang ke rumah Anda besok, {date} jam 10:00.",
        ),
        (
            "en",
            "Adminduk Buleleng: staff will visit your home {date} at 10:00. Number {number}.",
            "Adminduk reminder: staff visit your home tomorrow, {date} at 10:00.",
        ),
    ],
)
def test_schedule_a_booking(
    runner: Any, db: Database, language: str, scheduled: str, reminder: str
) -> None:
    number = book(db, language=language)
    day = IN_4_DAYS.isoformat()
    before = utcnow()
    assert ok(
        run(
            runner,
            "bookings",
            "schedule",
            number,
            "--at",
            f"{day} 10:00",
            "--team",
            "Tim Sidakep 2",
        )
    ) == (f"booking {number} scheduled for {day} 10:00; the resident is told by SMS\n")
    after = utcnow()
    ten_wita = dt.datetime.combine(IN_4_DAYS, dt.time(2), dt.UTC)
    assert booking_state(db, number) == ("scheduled", ten_wita, "Tim Sidakep 2")
    date = (id_date if language == "id" else en_date)(IN_4_DAYS)
    written = rows(db, "recipient", "kind", "urgent", "status", "body", "due_at")
    assert written == [
        (
            ME,
            "notification",
            False,
            "queued",
            scheduled.format(date=date, number=number),
            written[0][-1],
        ),
        (
            ME,
            "reminder",
            False,
            "queued",
            reminder.format(date=date),
            seven_wita(IN_4_DAYS - dt.timedelta(days=1)),
        ),
    ]
    assert before <= written[0][-1] <= after  # now
    assert ok(run(runner, "bookings", "list")) == (
        f"{number}  scheduled {day} 10:00  {ME}  ktp        sick       Tembok \n"
    )
    assert ok(run(runner, "bookings", "list", "--status", "done")) == ""


def test_reschedule_replaces_the_reminder(runner: Any, db: Database) -> None:
    number = book(db)
    ok(run(runner, "bookings", "schedule", number, "--at", f"{IN_4_DAYS} 10:00"))
    ok(run(runner, "bookings", "schedule", number, "--at", f"{IN_6_DAYS} 08:30"))
    assert booking_state(db, number) == (
        "scheduled",
        dt.datetime.combine(IN_6_DAYS, dt.time(0, 30), dt.UTC),
        None,
    )
    new = id_date(IN_6_DAYS)
    assert rows(db, "kind", "status", "last_error", "due_at", "body")[1:] == [
        (
            "reminder",
            "cancelled",
            "rescheduled",
            seven_wita(IN_4_DAYS - dt.timedelta(days=1)),
            f"Pengingat Adminduk: petugas datang ke rumah Anda besok, {id_date(IN_4_DAYS)} jam "
            "10:00.",
        ),
        (
            "notification",
            "queued",
            None,
            rows(db, "due_at")[2][0],
            f"Adminduk Buleleng: petugas datang ke rumah Anda {new} jam 08:30. Nomor {number}.",
        ),
        (
            "reminder",
            "queued",
            None,
            seven_wita(IN_6_DAYS - dt.timedelta(days=1)),
            f"Pengingat Adminduk: petugas datang ke rumah Anda besok, {new} jam 08:30.",
        ),
    ]


def test_scheduling_again_at_the_same_time_keeps_the_reminder(runner: Any, db: Database) -> None:
    number = book(db)
    ok(run(runner, "bookings", "schedule", number, "--at", f"{IN_4_DAYS} 10:00"))
    # The operator only adds the team (or runs the command twice): nothing new to tell.
    ok(run(runner, "bookings", "schedule", number, "--at", f"{IN_4_DAYS} 10:00", "--team", "B"))
    assert booking_state(db, number)[2] == "B"
    assert rows(db, "kind", "status", "due_at")[1:] == [
        ("reminder", "queued", seven_wita(IN_4_DAYS - dt.timedelta(days=1)))
    ]
    assert count(db, OutboxMessage) == 2


def test_moving_a_booking_back_to_its_first_time_is_told(runner: Any, db: Database) -> None:
    number = book(db)
    for when in (f"{IN_4_DAYS} 10:00", f"{IN_6_DAYS} 10:00", f"{IN_4_DAYS} 10:00"):
        ok(run(runner, "bookings", "schedule", number, "--at", when))
    first, second = id_date(IN_4_DAYS), id_date(IN_6_DAYS)
    assert rows(db, "kind", "status", "body") == [
        (
            "notification",
            "queued",
            f"Adminduk Buleleng: petugas datang ke rumah Anda {first} jam 10:00. Nomor {number}.",
        ),
        (
            "reminder",
            "cancelled",
            f"Pengingat Adminduk: petugas datang ke rumah Anda besok, {first} jam 10:00.",
        ),
        (
            "notification",
            "queued",
            f"Adminduk Buleleng: petugas datang ke rumah Anda {second} jam 10:00. Nomor {number}.",
        ),
        (
            "reminder",
            "cancelled",
            f"Pengingat Adminduk: petugas datang ke rumah Anda besok, {second} jam 10:00.",
        ),
        # Back to the first date: the resident, who was told the second, is told again ...
        (
            "notification",
            "queued",
            f"Adminduk Buleleng: petugas datang ke rumah Anda {first} jam 10:00. Nomor {number}.",
        ),
        # ... and reminded the day before it.
        (
            "reminder",
            "queued",
            f"Pengingat Adminduk: petugas datang ke rumah Anda besok, {first} jam 10:00.",
        ),
    ]


def test_no_reminder_when_the_day_before_is_already_past(runner: Any, db: Database) -> None:
    number = book(db)
    soon = (dt.datetime.now(LOCAL_TZ) + dt.timedelta(minutes=90)).replace(second=0, microsecond=0)
    ok(run(runner, "bookings", "schedule", number, "--at", f"{soon:%Y-%m-%d %H:%M}"))
    assert rows(db, "kind", "body") == [
        (
            "notification",
            f"Adminduk Buleleng: petugas datang ke rumah Anda "
            f"{id_date(soon.date())} jam {soon:%H:%M}. Nomor {number}.",
        )
    ]


@pytest.mark.parametrize(
    ("command", "status", "id_text", "en_text"),
    [
        (
            "done",
            "done",
            "Adminduk Buleleng: kunjungan petugas nomor {n} selesai. Terima kasih.",
            "Adminduk Buleleng: home visit number {n} is done. Thank you.",
        ),
        (
            "cancel",
            "cancelled",
            "Adminduk Buleleng: kunjungan petugas nomor {n} dibatalkan. "
            "Tanya kantor desa bila perlu.",
            "Adminduk Buleleng: home visit number {n} is cancelled. Ask the village office if "
            "needed.",
        ),
    ],
)
def test_closing_a_booking_tells_and_drops_the_reminder(
    runner: Any, db: Database, command: str, status: str, id_text: str, en_text: str
) -> None:
    scheduled = book(db, ME, "id")
    ok(run(runner, "bookings", "schedule", scheduled, "--at", f"{IN_4_DAYS} 10:00"))
    assert ok(run(runner, "bookings", command, scheduled)) == (
        f"booking {scheduled} {status}; the resident is told by SMS\n"
    )
    assert booking_state(db, scheduled)[0] == status
    assert rows(db, "kind", "status", "last_error", "body")[1:] == [
        ("reminder", "cancelled", f"booking {status}", rows(db, "body")[1][0]),
        ("notification", "queued", None, id_text.format(n=scheduled)),
    ]
    # One never scheduled: told in English, nothing to cancel.
    requested = book(db, "+6281299990009", "en")
    mark = last_id(db)
    ok(run(runner, "bookings", command, requested))
    assert rows(db, "recipient", "kind", "status", "body", since=mark) == [
        ("+6281299990009", "notification", "queued", en_text.format(n=requested))
    ]
    # Closing twice is refused, and so is scheduling a closed booking.
    fails(run(runner, "bookings", "done", scheduled), f"booking {scheduled} is already {status}")
    fails(run(runner, "bookings", "cancel", requested), f"booking {requested} is already {status}")
    fails(
        run(runner, "bookings", "schedule", scheduled, "--at", f"{IN_6_DAYS} 10:00"),
        f"booking {scheduled} is {status}",
    )
    assert count(db, OutboxMessage) == 4


def test_booking_errors_are_one_line(runner: Any, db: Database) -> None:
    number = book(db)
    unknown = numbers.with_check_digit("1234567")
    fails(
        run(runner, "bookings", "schedule", unknown, "--at", f"{IN_4_DAYS} 10:00"),
        f"no booking with number {unknown}",
    )
    fails(run(runner, "bookings", "done", unknown), f"no booking with number {unknown}")
    fails(run(runner, "bookings", "cancel", "x"), "no booking with number x")
    yesterday = local_today() - dt.timedelta(days=1)
    fails(
        run(runner, "bookings", "schedule", number, "--at", f"{yesterday} 10:00"),
        f"Invalid value for --at: {yesterday} 10:00 is in the past",
    )
    for bad in ("besok", f"{IN_4_DAYS}", f"{IN_4_DAYS} 25:00", "03/12/2030 10:00"):
        fails(
            run(runner, "bookings", "schedule", number, "--at", bad),
            f"Invalid value for --at: '{bad}' is not like 2026-12-03 10:00",
        )
    fails(run(runner, "bookings", "schedule", number), "Missing option '--at'.")
    assert booking_state(db, number) == ("requested", None, None)
    assert count(db, OutboxMessage) == 0


def test_a_booking_made_by_ussd_is_scheduled_and_told(
    runner: Any, db: Database, phone: Phone
) -> None:
    resident(db, phone.number, language="en")
    phone.dial()
    for key in ("2", "2", "3", "2", "1"):  # family member, elderly, family card, skip hamlet
        phone.press(key)
    assert phone.press("1").startswith("END Received. Number: ")
    with db.begin() as session:
        number = session.scalars(select(HomeVisitBooking.number)).one()
    assert rows(db, "kind", "body") == [
        (
            "notification",
            f"Adminduk Buleleng: home visit request received. Number {number}, "
            "Family card, village Tembok. Staff will call to set a date.",
        )
    ]
    ok(run(runner, "bookings", "schedule", number, "--at", f"{IN_6_DAYS} 09:15"))
    assert rows(db, "kind", "body")[1:] == [
        (
            "notification",
            f"Adminduk Buleleng: staff will visit your home {en_date(IN_6_DAYS)} "
            f"at 09:15. Number {number}.",
        ),
        (
            "reminder",
            f"Adminduk reminder: staff visit your home tomorrow, {en_date(IN_6_DAYS)} at 09:15.",
        ),
    ]
    # Asking again by USSD shows the date.
    phone.dial()
    for key in ("2", "2", "3", "2", "1"):
        phone.press(key)
    assert phone.press("1") == (
        f"END You already asked for Family card, number {number}, "
        f"scheduled {en_date(IN_6_DAYS)}. Staff will contact you."
    )


# --- village visits: publish -----------------------------------------------------------------

VISIT_DAY = local_today() + dt.timedelta(days=6)


def visit_add(runner: Any, *extra: str) -> str:
    return ok(
        run(
            runner,
            "visits",
            "add",
            "--village",
            "Tembok",
            "--date",
            VISIT_DAY.isoformat(),
            "--start",
            "09:00",
            "--end",
            "14:00",
            "--place",
            "Balai Desa",
            "--bring",
            "KK asli",
            *extra,
        )
    )


def announced(start: str = "09:00") -> dict[str, str]:
    return {
        "id": f"Adminduk: petugas ke Desa Tembok {id_date(VISIT_DAY)} {start}-14:00 di Balai "
        "Desa. Bawa KK asli. Balas STOP u/ berhenti.",
        "en": f"Adminduk: staff visit Tembok {en_date(VISIT_DAY)} {start}-14:00 at Balai Desa. "
        "Bring KK asli. Reply STOP to stop.",
    }


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
    fails(run(runner, "visits", "publish", "1"), "visit 1 is already published")
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
    fails(run(runner, "visits", "publish", "1"), "visit 1 is already published")
    fails(run(runner, "visits", "publish", "7"), "no visit with id 7")
    assert count(db, OutboxMessage) == 5


def test_a_cancelled_draft_cannot_be_published(runner: Any, db: Database) -> None:
    resident(db, ANA)
    visit_add(runner, "--draft")
    assert ok(run(runner, "visits", "cancel", "1")) == "visit 1 cancelled; 0 resident(s) are told\n"
    fails(run(runner, "visits", "publish", "1"), "visit 1 is cancelled")
    assert count(db, OutboxMessage) == 0


# --- village visits: "remind me" by USSD -----------------------------------------------------


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


def remind_me(phone: Phone) -> str:
    phone.dial()
    assert phone.press("3").startswith("CON ")
    return phone.press("1")


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
            "di Balai Desa.",
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
        "Balai Desa.",
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
    fails(run(runner, "visits", "cancel", "1"), "visit 1 is already cancelled")
    fails(run(runner, "visits", "edit", "1", "--place", "Pura Desa"), "visit 1 is cancelled")
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
            "09:00-14:00 di Pura Desa. Balas STOP u/ berhenti.",
        )
    ]


def test_visit_edit_errors_change_nothing(runner: Any, db: Database) -> None:
    resident(db, ANA)
    visit_add(runner)
    fails(
        run(runner, "visits", "edit", "1", "--end", "08:00"),
        "the end time is not after the start time",
    )
    yesterday = local_today() - dt.timedelta(days=1)
    fails(
        run(runner, "visits", "edit", "1", "--date", yesterday.isoformat()),
        f"Invalid value for --date: {yesterday} is in the past",
    )
    fails(
        run(runner, "visits", "edit", "1", "--start", "nine"),
        "Invalid value for --start: 'nine' is not a time like 09:00",
    )
    fails(
        run(runner, "visits", "edit", "1", "--place", "  "),
        "Invalid value for --place: the place cannot be empty",
    )
    fails(run(runner, "visits", "edit", "2", "--place", "X"), "no visit with id 2")
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


# --- residents import ------------------------------------------------------------------------


def test_residents_import_reports_bad_rows_and_keeps_the_good(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    resident(db, "+6281200000009", village=LES, opted_out=True)
    path = tmp_path / "residents.csv"
    path.write_text(
        "\ufeffPhone , Village,Language\n"
        "0812-0000-0001,Tembok,id\n"
        "+62 812 0000 0002,51.08.09.2010,en\n"
        "hello,Tembok,id\n"
        "081200000001,Tembok,en\n"
        "081200000003,Nowhere,id\n"
        "081200000004,Kayuputih,id\n"
        "081200000005,Tembok,fr\n"
        "6281200000006,les,\n"
        ",,\n"
        "081200000009,Tembok,en\n",
        encoding="utf-8",
    )
    assert ok(run(runner, "residents", "import", str(path))) == (
        "residents: 3 added, 1 updated, 6 rejected\n"
        "  rejected line 4: 'hello' is not a phone number\n"
        "  rejected line 5: +6281200000001 appears twice in the file\n"
        "  rejected line 6: no village with code or name 'Nowhere'\n"
        "  rejected line 7: 'Kayuputih' names 2 villages; use a code: 51.08.04.2003 (Banjar), "
        "51.08.05.2015 (Sukasada)\n"
        "  rejected line 8: unknown language 'fr' (one of en, id)\n"
        "  rejected line 10: '' is not a phone number\n"
    )
    with db.begin() as session:
        stored = [
            (r.phone, r.village_code, r.language, r.opted_out)
            for r in session.scalars(select(Resident).order_by(Resident.phone))
        ]
    assert stored == [
        ("+6281200000001", TEMBOK, "id", False),
        ("+6281200000002", TEMBOK, "en", False),
        ("+6281200000006", LES, "id", False),
        ("+6281200000009", TEMBOK, "en", True),  # moved and switched; still opted out
    ]
    assert count(db, OutboxMessage) == 0


def test_residents_import_refuses_an_unreadable_file(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "residents.csv"
    path.write_text("phone,desa\n081200000001,Tembok\n")
    fails(
        run(runner, "residents", "import", str(path)),
        f"{path}: needs columns phone and village (found: desa, phone)",
    )
    path.write_bytes(b"phone,village\n0812\xff,Tembok\n")
    fails(
        run(runner, "residents", "import", str(path)),
        f"{path}: not UTF-8 text (invalid start byte)",
    )
    assert count(db, Resident) == 0


def test_an_imported_language_is_what_the_caller_hears_next(
    runner: Any, db: Database, phone: Phone, tmp_path: Path
) -> None:
    assert phone.dial().startswith("CON Adminduk Buleleng\n1 Cek status dokumen")
    path = tmp_path / "residents.csv"
    path.write_text(f"phone,village,language\n{phone.number},Tembok,en\n")
    ok(run(runner, "residents", "import", str(path)))
    assert phone.dial().startswith("CON Adminduk Buleleng\n1 Check document status")


# --- broadcast -------------------------------------------------------------------------------


@pytest.fixture
def audience(db: Database) -> None:
    resident(db, ANA)
    resident(db, BEN, language="en")
    resident(db, CICI, opted_out=True)
    resident(db, DEWA, village=LES)
    resident(db, GEDE, village=LES, opted_out=True)
    resident(db, FAJAR, village="51.08.05.2015")  # Kayuputih, Sukasada


@pytest.mark.usefixtures("audience")
def test_broadcast_without_yes_only_shows(runner: Any, db: Database) -> None:
    assert ok(
        run(
            runner,
            "broadcast",
            "--village",
            "Tembok",
            "--text",
            " Kantor Disdukcapil tutup Senin. ",
        )
    ) == (
        f"audience: village:{TEMBOK}, 2 recipient(s)\n"
        "text: 31 characters, GSM-7, 1 segment(s)\n"
        "cost estimate: 700 IDR\n"
        "nothing sent: add --yes to send\n"
    )
    long_text = "Kantor tutup. " * 12  # 167 characters: two parts
    assert ok(run(runner, "broadcast", "--district", "Tejakula", "--text", long_text)) == (
        "audience: district:51.08.09, 3 recipient(s)\n"
        "text: 167 characters, GSM-7, 2 segment(s)\n"
        "cost estimate: 2,100 IDR\n"
        "nothing sent: add --yes to send\n"
    )
    assert ok(run(runner, "broadcast", "--all", "--text", "Kantor tutup “Senin”")) == (
        "audience: all, 4 recipient(s)\n"
        "text: 20 characters, UCS-2, 1 segment(s)\n"
        "  note: '“' '”' make(s) it UCS-2 (70 per segment)\n"
        "cost estimate: 1,400 IDR\n"
        "nothing sent: add --yes to send\n"
    )
    assert count(db, Broadcast) == 0 and count(db, OutboxMessage) == 0


@pytest.mark.usefixtures("audience")
def test_broadcast_price_is_a_setting(app_config: dict[str, Any]) -> None:
    from gateway import create_app

    app = create_app(
        {"TESTING": True, **app_config, "SMS_PRICE_PER_SEGMENT": 410.5, "SMS_CURRENCY": "Rp"}
    )
    try:
        out = ok(run(app.test_cli_runner(), "broadcast", "--all", "--text", "x" * 161))
        assert out.splitlines()[2] == "cost estimate: 3,284 Rp"  # 4 recipients x 2 x 410.5
    finally:
        app.extensions["gateway"].db.dispose()


@pytest.mark.usefixtures("audience")
def test_broadcast_with_yes_writes_one_row_per_recipient(runner: Any, db: Database) -> None:
    before = utcnow()
    assert ok(
        run(
            runner,
            "broadcast",
            "--village",
            "Tembok",
            "--text",
            "Kantor Disdukcapil tutup Senin.",
            "--yes",
        )
    ).splitlines()[-1] == ("broadcast 1: 2 message(s) queued")
    ok(
        run(
            runner,
            "broadcast",
            "--district",
            "Tejakula",
            "--text",
            "Besok kantor tutup.",
            "--at",
            "2030-01-02 07:00",
            "--yes",
        )
    )
    with db.begin() as session:
        planned = [
            (b.kind, b.audience, b.body, b.status, b.recipients, as_utc(b.send_at))
            for b in session.scalars(select(Broadcast).order_by(Broadcast.id))
        ]
    assert planned[1] == (
        "custom",
        "district:51.08.09",
        "Besok kantor tutup.",
        "planned",
        3,
        dt.datetime(2030, 1, 1, 23, tzinfo=dt.UTC),
    )
    assert planned[0][:5] == (
        "custom",
        f"village:{TEMBOK}",
        "Kantor Disdukcapil tutup Senin.",
        "planned",
        2,
    )
    assert before <= planned[0][5] <= utcnow()  # type: ignore[operator]
    columns = (
        "recipient",
        "kind",
        "urgent",
        "status",
        "body",
        "broadcast_id",
        "segments",
        "dedupe_key",
    )
    assert sorted(rows(db, *columns), key=lambda row: (row[5], row[0])) == [
        (
            ANA,
            "broadcast",
            False,
            "queued",
            "Kantor Disdukcapil tutup Senin.",
            1,
            1,
            f"broadcast:1:{ANA}",
        ),
        (
            BEN,
            "broadcast",
            False,
            "queued",
            "Kantor Disdukcapil tutup Senin.",
            1,
            1,
            f"broadcast:1:{BEN}",
        ),
        (ANA, "broadcast", False, "queued", "Besok kantor tutup.", 2, 1, f"broadcast:2:{ANA}"),
        (BEN, "broadcast", False, "queued", "Besok kantor tutup.", 2, 1, f"broadcast:2:{BEN}"),
        (DEWA, "broadcast", False, "queued", "Besok kantor tutup.", 2, 1, f"broadcast:2:{DEWA}"),
    ]
    assert {due for (due,) in rows(db, "due_at", since=2)} == {
        dt.datetime(2030, 1, 1, 23, tzinfo=dt.UTC)
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--village", "Tembok", "--all"), "choose exactly one of --village, --district, --all"),
        (
            ("--village", "Tembok", "--district", "Tejakula"),
            "choose exactly one of --village, --district, --all",
        ),
        ((), "choose exactly one of --village, --district, --all"),
        (
            ("--village", "Kayuputih"),
            "Invalid value: 'Kayuputih' names 2 villages; use a code: "
            "51.08.04.2003 (Banjar), 51.08.05.2015 (Sukasada)",
        ),
        (("--district", "Atlantis"), "Invalid value: no district with code or name 'Atlantis'"),
        (
            ("--all", "--at", "tomorrow"),
            "Invalid value for --at: 'tomorrow' is not like 2026-12-03 07:00",
        ),
    ],
)
@pytest.mark.usefixtures("audience")
def test_broadcast_usage_errors(
    runner: Any, db: Database, args: tuple[str, ...], message: str
) -> None:
    fails(run(runner, "broadcast", *args, "--text", "Halo", "--yes"), message)
    fails(
        run(runner, "broadcast", "--all", "--text", "   ", "--yes"),
        "Invalid value for --text: the text is empty",
    )
    assert count(db, Broadcast) == 0 and count(db, OutboxMessage) == 0


# --- outbox list and retry -------------------------------------------------------------------


@pytest.fixture
def failed_ones(runner: Any, db: Database) -> None:
    resident(db, ANA)
    resident(db, BEN)
    resident(db, DEWA, village=LES)
    ok(run(runner, "broadcast", "--village", "Tembok", "--text", "Kantor tutup Senin.", "--yes"))
    ok(run(runner, "broadcast", "--village", "Les", "--text", "Kantor tutup Selasa.", "--yes"))
    with db.begin() as session:
        now = utcnow()
        for message_id, reason in ((1, "403 InvalidPhoneNumber"), (2, "406 UserInBlacklist")):
            session.execute(
                OutboxMessage.__table__.update()
                .where(OutboxMessage.id == message_id)
                .values(attempts=2)
            )
            outbox.mark_failed(session, message_id, reason, now)


@pytest.mark.usefixtures("failed_ones")
def test_outbox_list(runner: Any) -> None:
    assert ok(run(runner, "outbox", "list")) == (
        "failed: 2  queued: 1\n"
        f"      3 queued    broadcast    {DEWA}  0x  'Kantor tutup Selasa.'\n"
        f"      2 failed    broadcast    {BEN}  2x  'Kantor tutup Senin.'  (406 UserInBlacklist)\n"
        f"      1 failed    broadcast    {ANA}  2x  'Kantor tutup Senin.'  "
        "(403 InvalidPhoneNumber)\n"
    )
    assert ok(run(runner, "outbox", "list", "--status", "queued")) == (
        f"failed: 2  queued: 1\n      3 queued    broadcast    {DEWA}  0x  'Kantor tutup Selasa.'\n"
    )
    assert ok(run(runner, "outbox", "list", "--limit", "1")).splitlines()[1:] == [
        f"      3 queued    broadcast    {DEWA}  0x  'Kantor tutup Selasa.'"
    ]
    fails(
        run(runner, "outbox", "list", "--status", "lost"),
        "Invalid value for '--status': 'lost' is not one of 'queued', 'sending', 'sent', "
        "'delivered', 'failed', 'cancelled'.",
    )


def test_outbox_list_of_an_empty_outbox(runner: Any) -> None:
    assert ok(run(runner, "outbox", "list")) == "outbox empty\n"


@pytest.mark.usefixtures("failed_ones")
def test_outbox_retry(runner: Any, db: Database) -> None:
    before = utcnow()
    assert ok(run(runner, "outbox", "retry", "2", "3", "99")) == "1 message(s) queued again\n"
    assert rows(db, "id", "status", "attempts", "failed_at") == [
        (1, "failed", 2, rows(db, "failed_at")[0][0]),
        (2, "queued", 0, None),
        (3, "queued", 0, None),
    ]
    assert before <= rows(db, "due_at")[1][0] <= utcnow()  # due now again
    assert ok(run(runner, "outbox", "retry", "--failed")) == "1 message(s) queued again\n"
    assert rows(db, "status", "attempts") == [("queued", 0)] * 3
    assert ok(run(runner, "outbox", "retry", "--failed")) == "0 message(s) queued again\n"
    fails(run(runner, "outbox", "retry"), "give message ids or --failed")
    fails(run(runner, "outbox", "retry", "1", "--failed"), "give message ids or --failed")
    fails(
        run(runner, "outbox", "retry", "one"),
        "Invalid value for '[IDS]...': 'one' is not a valid integer.",
    )


@pytest.mark.parametrize("kind", ["broadcast", "visit"])
def test_a_broadcast_is_written_grouped_by_language(runner: Any, db: Database, kind: str) -> None:
    """One text per run of consecutive outbox ids: the sender hands the provider one text for
    many numbers per call, so interleaved languages would halve its batches."""
    phones = [f"+62812000001{i:02d}" for i in range(8)]
    for i, phone in enumerate(phones):
        resident(db, phone, language="en" if i % 3 == 1 else "id")
    if kind == "broadcast":
        ok(
            run(
                runner,
                "broadcast",
                "--village",
                "Tembok",
                "--text",
                "Kantor tutup Senin.",
                "--text-en",
                "The office is closed on Monday.",
                "--yes",
            )
        )
    else:
        visit_add(runner)
    languages = [
        ("en" if body.startswith(("The office", "Adminduk: staff")) else "id")
        for (body,) in rows(db, "body")
    ]
    assert sorted(languages) == ["en"] * 3 + ["id"] * 5  # everyone, each in their language
    assert languages == ["id"] * 5 + ["en"] * 3  # and grouped: Indonesian first
