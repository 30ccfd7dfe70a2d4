"""Times in WITA (Asia/Makassar), labelled, dates and numbers as the reader writes them
(Babel's CLDR data), on the pages staff read: visits, bookings, broadcasts, the outbox, the
audit log. Typed times are WITA, stored as UTC."""

from __future__ import annotations

import datetime as dt
import html

from flask import Flask, session
from sqlalchemy import select

from common.local_time import LOCAL_TZ, local_today
from gateway.console import formatting
from gateway.console.broadcasts import state_of
from storage.db import Database
from storage.models import Broadcast, HomeVisitBooking, OutboxMessage
from tests.console.helpers import Browser, World, as_utc, unlabelled
from tests.helpers import TEMBOK

MOMENT = dt.datetime(2026, 12, 3, 2, 30, tzinfo=dt.UTC)  # 10:30 in Singaraja


def test_the_filters_in_both_languages(app: Flask, world: World) -> None:
    with app.test_request_context("/staff/"):
        session["ui_lang"] = "id"
        assert formatting.when(MOMENT) == "Kamis, 3 Des 2026 10.30 WITA"
        assert formatting.day(dt.date(2026, 12, 3)) == "Kamis, 3 Des 2026"
        assert formatting.hours(dt.time(9), dt.time(14)) == "09.00\u201314.00 WITA"
        assert formatting.number(2340) == "2.340"
        assert formatting.money(1400) == "Rp 1.400"
        assert formatting.money(1049.6) == "Rp 1.050"
        assert formatting.village(TEMBOK) == "Tembok (Tejakula)"
        assert formatting.audience(f"village:{TEMBOK}", 2340) == (
            "Desa Tembok (Tejakula) \u2014 2.340 warga"
        )
        assert formatting.audience("district:51.08.05") == "Kecamatan Sukasada"
        assert formatting.audience("status:ready") == "Warga yang permohonannya siap diambil"
        assert formatting.audience(f"status:ready:village:{TEMBOK}") == (
            "Warga Tembok (Tejakula) yang permohonannya siap diambil"
        )
        assert formatting.language_name("id") == "Bahasa Indonesia"
        # a naive moment is UTC (SQLite gives them back so)
        assert formatting.when(MOMENT.replace(tzinfo=None)) == "Kamis, 3 Des 2026 10.30 WITA"
        session["ui_lang"] = "en"
        assert formatting.when(MOMENT) == "Thu 3 Dec 2026 10:30 WITA"
        assert formatting.number(2340) == "2,340"
        assert formatting.money(1400) == "Rp 1,400"
        assert formatting.audience(f"village:{TEMBOK}", 2340) == (
            "Village Tembok (Tejakula) \u2014 2,340 resident(s)"
        )
        assert formatting.language_name("en") == "English"


def test_visits_in_wita_and_the_readers_language(staff: Browser, world: World) -> None:
    page = unlabelled(staff.get("/staff/visits").text)
    day = local_today() + dt.timedelta(days=5)  # the demo's Tembok visit
    with staff.client.application.test_request_context("/staff/"):
        session["ui_lang"] = "id"
        shown = formatting.day(day)
    assert f"<td>{shown}</td><td>09.00\u201314.00 WITA</td>" in page
    assert "<td>Tembok (Tejakula)</td>" in page
    page = unlabelled(staff.get("/staff/visits?lang=en").text)
    assert "<td>09:00\u201314:00 WITA</td>" in page


def test_a_booking_typed_in_wita_is_stored_in_utc_and_shown_in_wita(
    staff: Browser, world: World, db: Database
) -> None:
    day = local_today() + dt.timedelta(days=3)
    staff.post(
        f"/staff/bookings/{world.booking_tembok}/schedule",
        {"date": day.isoformat(), "time": "10:30", "team": "Tim A"},
    )
    with db.begin() as s:
        booking = s.scalars(
            select(HomeVisitBooking).where(HomeVisitBooking.number == world.booking_tembok)
        ).one()
        stored = as_utc(booking.scheduled_for)
    assert stored == dt.datetime.combine(day, dt.time(10, 30), LOCAL_TZ).astimezone(dt.UTC)
    assert stored.hour == (10 - 8) % 24  # eight hours behind Bali
    page = unlabelled(staff.get("/staff/bookings").text)
    assert "10.30 WITA Tim A</td>" in page
    assert "UTC" not in page


def test_broadcasts_outbox_and_audit_in_wita(
    staff: Browser, admin: Browser, world: World, db: Database
) -> None:
    later = local_today() + dt.timedelta(days=2)
    staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Rapat desa.",
            "when": "later",
            "send_at": f"{later}T10:55",
            "step": "send",
        },
    )
    page = html.unescape(unlabelled(staff.get("/staff/broadcasts").text))
    assert "<td>Desa Tembok (Tejakula)</td>" in page
    assert "10.55 WITA</td>" in page
    assert '<span class="state planned">direncanakan</span>' in page
    assert "village:" not in page and "UTC" not in page
    outbox = unlabelled(staff.get("/staff/outbox").text)
    assert " WITA</td>" in outbox and "UTC" not in outbox
    audit = unlabelled(admin.get("/staff/audit").text)
    assert " WITA</td>" in audit and "UTC" not in audit


def _broadcast(status: str = "planned", send_at: dt.datetime = MOMENT) -> Broadcast:
    return Broadcast(kind="custom", audience="all", status=status, send_at=send_at)


def test_broadcast_states_from_their_messages() -> None:
    before, after = MOMENT - dt.timedelta(hours=1), MOMENT + dt.timedelta(hours=1)
    assert state_of(_broadcast(), {"queued": 3}, now=before) == "planned"
    assert state_of(_broadcast(), {"queued": 3}, now=after) == "sending"
    assert state_of(_broadcast(), {"queued": 1, "sent": 2}, now=before) == "sending"
    assert state_of(_broadcast(), {"sent": 1, "delivered": 2}, now=after) == "sent"
    assert state_of(_broadcast(), {}, now=after) == "sent"  # nobody to tell
    assert state_of(_broadcast(), {"delivered": 2, "failed": 1}, now=after) == "failures"
    assert state_of(_broadcast("cancelled"), {"cancelled": 2, "sent": 1}) == "cancelled"
    # a stored naive moment (SQLite) is UTC
    assert state_of(_broadcast(send_at=MOMENT.replace(tzinfo=None)), {"queued": 1}, now=before) == (
        "planned"
    )


def test_a_finished_broadcast_does_not_say_planned(staff: Browser, world: World) -> None:
    """The issue's case: 100 % handed over, the row still "planned"."""
    from storage import outbox
    from storage.models import utcnow

    staff.post(
        "/staff/broadcasts/new",
        {"audience": "village", "village": TEMBOK, "text": "Halo.", "step": "send"},
    )
    rt = staff.client.application.extensions["gateway"]
    with rt.db.begin() as s:
        broadcast = s.scalars(select(Broadcast).where(Broadcast.body == "Halo.")).one()
        ids = [
            m.id
            for m in s.scalars(
                select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id)
            )
        ]
        for i in ids:
            outbox.mark_sent(s, i, f"ATXid_{i}", utcnow())
        bid = broadcast.id
    page = staff.get(f"/staff/broadcasts/{bid}").text
    assert '<strong id="state" class="state sent">terkirim</strong>' in page
    assert "100%" in page
    assert '<span class="state sent">terkirim</span>' in staff.get("/staff/broadcasts").text
