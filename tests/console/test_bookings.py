"""Home-visit bookings: scheduled (the resident told, a reminder planned), done or cancelled,
and listed by district and status."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from common.local_time import LOCAL_TZ, local_today
from storage.db import Database
from storage.models import HomeVisitBooking, OutboxMessage
from tests.console.helpers import (
    ENGLISH,
    GRANNY,
    Browser,
    World,
    audit_log,
    errors_of,
    flashes,
    outbox_rows,
    snapshot,
)


def test_schedule_and_close_bookings(staff: Browser, db: Database, world: World) -> None:
    number = world.booking_kayuputih
    day = local_today() + dt.timedelta(days=3)
    response = staff.post(
        f"/staff/bookings/{number}/schedule",
        {"date": day.isoformat(), "time": "10:00", "team": " Tim A "},
    )
    page = staff.follow(response, "/staff/bookings")
    assert flashes(page) == [
        ("ok", f"Permintaan {number} diperbarui; warga diberi tahu lewat SMS.")
    ]
    when = dt.datetime.combine(day, dt.time(10), LOCAL_TZ).astimezone(dt.UTC)
    stamp = int(when.timestamp())
    assert [(m.recipient, m.kind, m.status, m.dedupe_key) for m in outbox_rows(db)] == [
        (ENGLISH, "notification", "queued", f"booking:{number}:scheduled:{stamp}:0"),
        (ENGLISH, "reminder", "queued", f"booking:{number}:reminder:{stamp}:0"),
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "booking.schedule",
        "home_visit_booking",
        number,
        {"status": "requested", "scheduled_for": None, "team": None},
        {"status": "scheduled", "scheduled_for": str(when), "team": "Tim A"},
    )

    staff.follow(staff.post(f"/staff/bookings/{number}/done"), "/staff/bookings")
    assert [(m.kind, m.status, m.dedupe_key) for m in outbox_rows(db)][1:] == [
        ("reminder", "cancelled", f"booking:{number}:reminder:{stamp}:0"),
        ("notification", "queued", f"booking:{number}:done"),
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "booking.done",
        "home_visit_booking",
        number,
        {"status": "scheduled"},
        {"status": "done"},
    )

    other = world.booking_tembok
    before = snapshot(db)
    response = staff.post(f"/staff/bookings/{other}/cancelled")  # first a confirmation
    assert response.status_code == 200
    confirm = response.get_data(as_text=True)
    assert f"1 warga ({GRANNY}) akan menerima SMS pembatalan." in confirm
    assert 'name="confirmed" value="1"' in confirm
    assert snapshot(db) == before
    staff.follow(
        staff.post(f"/staff/bookings/{other}/cancelled", {"confirmed": "1"}), "/staff/bookings"
    )
    [told] = outbox_rows(db, OutboxMessage.recipient == GRANNY)
    assert (told.kind, told.dedupe_key) == ("notification", f"booking:{other}:cancelled")
    assert audit_log(db)[-1] == (
        "staff",
        "booking.cancelled",
        "home_visit_booking",
        other,
        {"status": "requested"},
        {"status": "cancelled"},
    )
    with db.begin() as session:
        assert {b.number: b.status for b in session.scalars(select(HomeVisitBooking))} == {
            number: "done",
            other: "cancelled",
        }

    # closed bookings cannot move again; unknown steps and bookings are refused
    before = snapshot(db)
    page = staff.follow(staff.post(f"/staff/bookings/{number}/cancelled"), "/staff/bookings")
    assert flashes(page) == [("error", f"permintaan kunjungan {number} sudah selesai")]
    page = staff.follow(staff.post("/staff/bookings/123/done"), "/staff/bookings")
    assert flashes(page) == [("error", "tidak ada permintaan kunjungan bernomor 123")]
    assert staff.post(f"/staff/bookings/{number}/reopen").status_code == 404
    assert snapshot(db) == before


def test_a_bad_schedule_changes_nothing(staff: Browser, db: Database, world: World) -> None:
    before = snapshot(db)
    cases = [
        ({"date": "2001-01-01"}, "Senin, 1 Jan 2001 10.00 WITA sudah lewat"),
        ({"date": "besok"}, "Bukan tanggal dan jam: besok 10:00"),
    ]
    got = errors_of(
        staff,
        f"/staff/bookings/{world.booking_kayuputih}/schedule",
        {"time": "10:00"},
        cases,
        status=302,
        then="/staff/bookings",
    )
    assert got == {error: [("error", error)] for _, error in cases}
    assert snapshot(db) == before


def test_bookings_by_district_and_status(staff: Browser, world: World, db: Database) -> None:
    def listed(query: str) -> list[str]:
        page = staff.get(f"/staff/bookings?{query}").text
        return re.findall(r"<tr><td[^>]*>(\d+)</td>", page)

    assert sorted(listed("")) == sorted([world.booking_tembok, world.booking_kayuputih])
    assert listed("district=51.08.05") == [world.booking_kayuputih]
    assert listed("district=51.08.09&status=requested") == [world.booking_tembok]
    assert listed("status=done") == []
    with db.begin() as session:
        session.scalars(
            select(HomeVisitBooking).where(HomeVisitBooking.number == world.booking_tembok)
        ).one().status = "done"
    assert listed("status=done") == [world.booking_tembok]
    assert listed("") == [world.booking_kayuputih]  # open ones by default
    assert sorted(listed("status=")) == sorted([world.booking_tembok, world.booking_kayuputih])
