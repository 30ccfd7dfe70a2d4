"""Village visits: drafted, previewed (who is told, what they read, what it costs),
published, edited and cancelled; a bad form is shown again with its error."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from common.local_time import local_today
from common.segments import count_segments
from gateway.runtime import runtime
from storage.db import Database
from storage.models import Broadcast, OutboxMessage, VillageVisit
from storage.queries.visits import view_of
from tests.console.helpers import (
    GRANNY,
    NEIGHBOUR_EN,
    SUBSCRIBER,
    Browser,
    World,
    audit_log,
    errors_of,
    flashes,
    outbox_rows,
    snapshot,
)
from tests.helpers import TEMBOK


def _visit_fields(
    day: dt.date,
    *,
    published: bool,
    cancelled: bool = False,
    place: str = "Balai Banjar Dinas",
    start: str = "09:00",
) -> dict[str, Any]:
    return {
        "village_code": TEMBOK,
        "date": day.isoformat(),
        "start": start,
        "end": "13:00",
        "place": place,
        "bring": "KK asli",
        "published": published,
        "cancelled": cancelled,
    }


def test_a_visit_is_drafted_previewed_and_published(
    app: Flask, staff: Browser, db: Database
) -> None:
    day = local_today() + dt.timedelta(days=20)
    response = staff.post(
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": day.isoformat(),
            "start": "09:00",
            "end": "13:00",
            "place": " Balai Banjar Dinas ",
            "bring": "KK asli",
        },
    )
    with db.begin() as session:
        visit = session.scalars(select(VillageVisit).where(VillageVisit.visit_date == day)).one()
        visit_id = visit.id
        assert (visit.published, visit.cancelled, visit.place) == (
            False,
            False,
            "Balai Banjar Dinas",
        )
        resident_sms = runtime(app).resident_sms
        previews = {
            code: resident_sms.visit_text("sms.visit_published", code, view_of(visit))
            for code in ("id", "en")
        }
    page = staff.follow(response, f"/staff/visits/{visit_id}/publish")
    assert flashes(page) == [("ok", "Kunjungan disimpan sebagai draf. Periksa, lalu terbitkan.")]
    assert outbox_rows(db) == []
    assert audit_log(db)[-1] == (
        "staff",
        "visit.add",
        "village_visit",
        str(visit_id),
        None,
        _visit_fields(day, published=False),
    )

    # the preview: who (the two residents not opted out, and a subscriber), what, how much
    before = snapshot(db)
    who = re.search(r'<strong id="recipients">(\d+)</strong>\s*((?:\([\w ]+: \d+\) )*)', page)
    assert who is not None
    assert who.group(1) == "3"
    assert dict(re.findall(r"\(([\w ]+): (\d+)\)", who.group(2))) == {
        "Bahasa Indonesia": "2",
        "English": "1",
    }
    for code, text in previews.items():
        name = {"id": "Bahasa Indonesia", "en": "English"}[code]
        assert f'<h2>Pratinjau ({name})</h2>\n<p class="sms">{html.escape(text)}</p>' in page
    segments = count_segments(previews["id"]).segments
    assert f"Perkiraan biaya: Rp {3 * segments * 350:,}".replace(",", ".") in page
    assert staff.get(f"/staff/visits/{visit_id}/publish").status_code == 200
    assert snapshot(db) == before  # looking writes nothing

    response = staff.post(f"/staff/visits/{visit_id}/publish")
    with db.begin() as session:
        broadcast = session.scalars(select(Broadcast).where(Broadcast.visit_id == visit_id)).one()
        assert (
            broadcast.kind,
            broadcast.audience,
            broadcast.recipients,
            broadcast.status,
            broadcast.created_by,
        ) == ("visit_published", f"village:{TEMBOK}", 3, "planned", "staff")
        broadcast_id = broadcast.id
    page = staff.follow(response, f"/staff/broadcasts/{broadcast_id}")
    assert flashes(page) == [("ok", "Kunjungan diterbitkan.")]
    sent = {
        (m.recipient, m.kind, m.status, m.broadcast_id, m.visit_id, m.body) for m in outbox_rows(db)
    }
    assert sent == {
        (GRANNY, "broadcast", "queued", broadcast_id, visit_id, previews["id"]),
        (NEIGHBOUR_EN, "broadcast", "queued", broadcast_id, visit_id, previews["en"]),
        (SUBSCRIBER, "broadcast", "queued", broadcast_id, visit_id, previews["id"]),
    }
    assert audit_log(db)[-1] == (
        "staff",
        "visit.publish",
        "village_visit",
        str(visit_id),
        _visit_fields(day, published=False),
        _visit_fields(day, published=True),
    )

    # publishing twice is refused and writes nothing
    before = snapshot(db)
    page = staff.follow(staff.post(f"/staff/visits/{visit_id}/publish"), "/staff/visits")
    assert flashes(page) == [("error", f"kunjungan {visit_id} sudah diterbitkan")]
    assert snapshot(db) == before


def test_editing_and_cancelling_a_published_visit(
    staff: Browser, db: Database, world: World
) -> None:
    day = local_today() + dt.timedelta(days=20)
    staff.post(
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": day.isoformat(),
            "start": "09:00",
            "end": "13:00",
            "place": "Balai Banjar Dinas",
            "bring": "KK asli",
        },
    )
    with db.begin() as session:
        visit_id = session.scalars(
            select(VillageVisit.id).where(VillageVisit.visit_date == day)
        ).one()
    staff.post(f"/staff/visits/{visit_id}/publish")
    with db.begin() as session:  # the grandmother's message went out already
        session.execute(
            update(OutboxMessage).where(OutboxMessage.recipient == GRANNY).values(status="sent")
        )

    form = staff.get(f"/staff/visits/{visit_id}/edit").text
    assert 'name="place" required maxlength="120" value="Balai Banjar Dinas"' in form
    response = staff.post(
        f"/staff/visits/{visit_id}/edit",
        {
            "date": day.isoformat(),
            "start": "10:00",
            "end": "13:00",
            "place": "Pura Desa",
            "bring": "KK asli",
        },
    )
    page = staff.follow(response, "/staff/visits")
    assert flashes(page) == [
        ("ok", "Kunjungan diubah; 1 warga yang sudah tahu mendapat perubahannya.")
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "visit.edit",
        "village_visit",
        str(visit_id),
        _visit_fields(day, published=True),
        _visit_fields(day, published=True, place="Pura Desa", start="10:00"),
    )
    by_recipient = {
        (m.recipient, m.status) for m in outbox_rows(db, OutboxMessage.visit_id == visit_id)
    }
    assert by_recipient == {
        (GRANNY, "sent"),
        (GRANNY, "queued"),  # the change, to her
        (NEIGHBOUR_EN, "cancelled"),
        (NEIGHBOUR_EN, "queued"),
        (SUBSCRIBER, "cancelled"),
        (SUBSCRIBER, "queued"),
    }

    # a bad edit is shown again with its error and changes nothing
    before = snapshot(db)
    response = staff.post(
        f"/staff/visits/{visit_id}/edit",
        {"date": day.isoformat(), "start": "14:00", "end": "13:00", "place": "Pura Desa"},
    )
    assert response.status_code == 200
    assert flashes(response.get_data(as_text=True)) == [
        ("error", "jam selesai 13.00 tidak sesudah jam mulai 14.00")
    ]
    assert snapshot(db) == before
    with db.begin() as session:
        visit = session.get(VillageVisit, visit_id)
        assert visit is not None and f"{visit.start_time:%H:%M}" == "10:00"

    # first a confirmation, which says who will be told, and changes nothing
    before = snapshot(db)
    response = staff.post(f"/staff/visits/{visit_id}/cancel")
    assert response.status_code == 200
    confirm = response.get_data(as_text=True)
    waiting = len(
        outbox_rows(db, OutboxMessage.visit_id == visit_id, OutboxMessage.status == "queued")
    )
    assert "1 warga yang sudah diberi tahu akan menerima SMS pembatalan." in confirm
    assert f"{waiting} pesan yang belum terkirim (pengumuman, pengingat) ditarik." in confirm
    assert 'name="confirmed" value="1"' in confirm
    assert snapshot(db) == before
    page = staff.follow(
        staff.post(f"/staff/visits/{visit_id}/cancel", {"confirmed": "1"}), "/staff/visits"
    )
    assert flashes(page) == [("ok", "Kunjungan dibatalkan; 1 warga diberi tahu.")]
    assert audit_log(db)[-1][:4] == ("staff", "visit.cancel", "village_visit", str(visit_id))
    assert audit_log(db)[-1][5]["cancelled"] is True
    # what was still queued is cancelled; the one who was told hears of the cancellation
    assert sorted(
        (m.recipient, m.status, m.dedupe_key.split(":")[3])
        for m in outbox_rows(db, OutboxMessage.visit_id == visit_id)
    ) == [
        (GRANNY, "cancelled", "changed"),
        (GRANNY, "queued", "cancelled"),
        (GRANNY, "sent", "published"),
        (NEIGHBOUR_EN, "cancelled", "published"),
        (NEIGHBOUR_EN, "cancelled", "published"),
        (SUBSCRIBER, "cancelled", "published"),
        (SUBSCRIBER, "cancelled", "published"),
    ]
    page = staff.follow(
        staff.post(f"/staff/visits/{visit_id}/cancel", {"confirmed": "1"}), "/staff/visits"
    )
    assert flashes(page) == [("error", f"kunjungan {visit_id} sudah dibatalkan")]


def test_a_bad_new_visit_is_shown_again(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"date": "2001-01-01"}, "Senin, 1 Jan 2001 sudah lewat"),
        ({"date": "besok"}, "Bukan tanggal: besok"),
        ({"start": "9 pagi"}, "Bukan jam: 9 pagi"),
        ({"end": "08:00"}, "jam selesai 08.00 tidak sesudah jam mulai 09.00"),
        ({"place": "  "}, "tempat masih kosong"),
        ({"village": "Atlantis"}, "tidak ada desa dengan kode atau nama 'Atlantis'"),
        ({"village": ""}, "Pilih desa."),
        (
            {"village": "Kayuputih"},
            "'Kayuputih' adalah nama 2 desa; pakai kodenya: "
            "51.08.04.2003 (Banjar), 51.08.05.2015 (Sukasada)",
        ),
    ]
    got = errors_of(
        staff,
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": f"{local_today() + dt.timedelta(days=3)}",
            "start": "09:00",
            "end": "13:00",
            "place": "Balai",
        },
        cases,
    )
    assert got == {error: [("error", error)] for _, error in cases}
    assert snapshot(db) == before


def test_a_form_shown_again_keeps_what_was_typed(staff: Browser) -> None:
    """Whatever could not be read stays in its field, to be corrected; with two mistakes, the
    first on the page is named."""
    typed = {"village": TEMBOK, "date": "besok", "start": "08:15", "end": "9 pagi"}
    page = staff.post("/staff/visits/new", {**typed, "place": "Balai <Banjar>", "bring": "KK"})
    text = page.get_data(as_text=True)
    assert flashes(text) == [("error", "Bukan tanggal: besok")]
    for field, value in [*typed.items(), ("place", "Balai &lt;Banjar&gt;"), ("bring", "KK")]:
        if field != "village":
            assert f'name="{field}"' in text and f'value="{value}"' in text, field
    assert f'<option value="{TEMBOK}" selected>' in text
    page = staff.post("/staff/visits/new", {**typed, "village": "Atlantis", "place": "Balai"})
    assert flashes(page.get_data(as_text=True)) == [
        ("error", "tidak ada desa dengan kode atau nama 'Atlantis'")
    ]
    blank = staff.get("/staff/visits/new").text  # the usual hours to start from
    assert 'name="start" type="time" required value="09:00"' in blank
    assert 'name="end" type="time" required value="14:00"' in blank
