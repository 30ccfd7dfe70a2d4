"""``bookings schedule``, ``done``, ``cancel`` and ``list``: what the resident is told by SMS, and
when (exact texts in their language; the reminder at 07:00 WITA the day before, which is 23:00
UTC two days before), on both configurations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from common.local_time import LOCAL_TZ, local_today
from storage import numbers, queries
from storage.db import Database
from storage.models import HomeVisitBooking, OutboxMessage, utcnow
from tests.helpers import (
    ME,
    TEMBOK,
    Phone,
    as_utc,
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


def last_id(db: Database) -> int:
    with db.begin() as session:
        return int(session.scalar(select(func.max(OutboxMessage.id))) or 0)


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
    fails(
        run(runner, "bookings", "done", scheduled),
        f"booking {scheduled} is already {status}",
        exact=True,
    )
    fails(
        run(runner, "bookings", "cancel", requested),
        f"booking {requested} is already {status}",
        exact=True,
    )
    fails(
        run(runner, "bookings", "schedule", scheduled, "--at", f"{IN_6_DAYS} 10:00"),
        f"booking {scheduled} is {status}",
        exact=True,
    )
    assert count(db, OutboxMessage) == 4


def test_booking_errors_are_one_line(runner: Any, db: Database) -> None:
    number = book(db)
    unknown = numbers.with_check_digit("1234567")
    fails(
        run(runner, "bookings", "schedule", unknown, "--at", f"{IN_4_DAYS} 10:00"),
        f"no booking with number {unknown}",
        exact=True,
    )
    fails(run(runner, "bookings", "done", unknown), f"no booking with number {unknown}", exact=True)
    fails(run(runner, "bookings", "cancel", "x"), "no booking with number x", exact=True)
    yesterday = local_today() - dt.timedelta(days=1)
    fails(
        run(runner, "bookings", "schedule", number, "--at", f"{yesterday} 10:00"),
        f"Invalid value for --at: {yesterday} 10:00 is in the past",
        exact=True,
    )
    for bad in ("besok", f"{IN_4_DAYS}", f"{IN_4_DAYS} 25:00", "03/12/2030 10:00"):
        fails(
            run(runner, "bookings", "schedule", number, "--at", bad),
            f"Invalid value for --at: '{bad}' is not like 2026-12-03 10:00",
            exact=True,
        )
    fails(run(runner, "bookings", "schedule", number), "Missing option '--at'.", exact=True)
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
