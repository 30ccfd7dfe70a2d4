"""Broadcasts: the preview (recipients, segments, cost; nothing written), errors, sending and
following the progress, cancelling the rest, sending later; and the outbox sweep left to
the workers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from common.local_time import LOCAL_TZ, local_today
from gateway.runtime import runtime
from storage import outbox
from storage.db import Database
from storage.models import Broadcast, OutboxMessage, VillageVisit, utcnow
from tests.console.helpers import (
    GRANNY,
    NEIGHBOUR_EN,
    R2,
    Browser,
    World,
    as_utc,
    audit_log,
    errors_of,
    flashes,
    outbox_rows,
    snapshot,
)
from tests.helpers import TEMBOK


def test_the_broadcast_preview_counts_and_writes_nothing(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    response = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Kantor tutup besok.",
            "when": "now",
            "step": "preview",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        'Desa Tembok (Tejakula) — <strong id="recipients">2</strong> penerima;\n'
        "     GSM-7, 1 segmen;\n     perkiraan biaya Rp 700"
    ) in page
    assert 'name="step" value="send"' in page
    assert "Teks yang sama dikirim ke semua" in page
    # an English version for the one who chose English, costed with its own length
    english = "The office is closed tomorrow. " * 6  # 186 characters: 2 segments
    page = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Kantor tutup besok.",
            "text_en": english,
            "step": "preview",
        },
    ).get_data(as_text=True)
    assert "<h2>Pratinjau (English) — 1 penerima</h2>" in page
    assert f'<p class="sms">{english.strip()}</p>\n  <p class="muted">GSM-7, 2 segmen</p>' in page
    assert (
        'Desa Tembok (Tejakula) — <strong id="recipients">2</strong> penerima;\n'
        "     GSM-7, 1 segmen;\n     perkiraan biaya Rp 1.050"
    ) in page
    assert "Teks yang sama dikirim ke semua" not in page
    # a long text in UCS-2: the 2 applicants whose request is ready, 3 segments each
    text = "Dokumen siap ✅ " + "x" * 120
    page = staff.post(
        "/staff/broadcasts/new",
        {"audience": "status", "request_status": "ready", "text": text, "step": "preview"},
    ).get_data(as_text=True)
    assert (
        'Warga yang permohonannya siap diambil — <strong id="recipients">2</strong> penerima;\n'
        "     UCS-2, 3 segmen;\n     perkiraan biaya Rp 2.100"
    ) in page
    assert "Huruf ini membuatnya UCS-2 (70 per segmen): ✅</p>" in page
    page = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "district",
            "district": "51.08.05",
            "text": "Halo Sukasada",
            "step": "preview",
        },
    ).get_data(as_text=True)
    assert 'Kecamatan Sukasada — <strong id="recipients">1</strong> penerima' in page
    page = staff.post(
        "/staff/broadcasts/new", {"audience": "all", "text": "Halo semua", "step": "preview"}
    ).get_data(as_text=True)
    assert 'Semua warga — <strong id="recipients">3</strong> penerima' in page
    assert snapshot(db) == before


def test_the_composer_can_be_opened_filled_in(staff: Browser) -> None:
    page = staff.get("/staff/broadcasts/new?audience=status&request_status=ready&text=Halo").text
    assert '<input type="radio" name="audience" value="status" checked>' in page
    assert '<option value="ready" selected>' in page
    assert '<textarea id="text" name="text" rows="4" required>Halo</textarea>' in page


def test_broadcast_errors_write_nothing(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"text": "  "}, "Tulis pesannya."),
        ({"audience": "status", "request_status": "lost"}, "Pilih status permohonan."),
        ({"audience": "mars"}, "Pilih penerimanya."),
        ({"village": "Atlantis"}, "tidak ada desa dengan kode atau nama 'Atlantis'"),
        ({"village": ""}, "Pilih desa."),
        ({"when": "later", "send_at": "besok pagi"}, "Bukan tanggal dan jam: besok pagi"),
        ({"when": "later", "send_at": ""}, "Pilih tanggal dan jam."),
    ]
    for step in ("preview", "send"):
        got = errors_of(
            staff,
            "/staff/broadcasts/new",
            {"audience": "village", "village": TEMBOK, "text": "Halo", "step": step},
            cases,
        )
        assert got == {error: [("error", error)] for _, error in cases}, step
    assert snapshot(db) == before


def test_send_a_broadcast_follow_its_progress_and_cancel_it(staff: Browser, db: Database) -> None:
    response = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Kantor tutup besok.",
            "text_en": " The office is closed tomorrow. ",
            "when": "now",
            "step": "send",
        },
    )
    with db.begin() as session:
        broadcast = session.scalars(
            select(Broadcast).where(
                Broadcast.kind == "custom", Broadcast.body.is_not(None), Broadcast.audience != "all"
            )
        ).one()
        assert (
            broadcast.audience,
            broadcast.body,
            broadcast.recipients,
            broadcast.status,
            broadcast.created_by,
        ) == (f"village:{TEMBOK}", "Kantor tutup besok.", 2, "planned", "staff")
        bid, send_at = broadcast.id, broadcast.send_at
    page = staff.follow(response, f"/staff/broadcasts/{bid}")
    assert flashes(page) == [("ok", "Siaran masuk antrean.")]
    assert '<p id="percent" aria-live="polite">0%</p>' in page
    assert '<td data-label="antre" data-status="queued">2</td>' in page
    assert '<strong id="state" class="state sending">dikirim</strong>' in page
    assert "Batalkan yang belum terkirim" in page
    rows = outbox_rows(db, OutboxMessage.broadcast_id == bid)
    assert sorted((m.recipient, m.kind, m.body, m.status) for m in rows) == [
        (GRANNY, "broadcast", "Kantor tutup besok.", "queued"),
        (NEIGHBOUR_EN, "broadcast", "The office is closed tomorrow.", "queued"),
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "broadcast.send",
        "broadcast",
        str(bid),
        None,
        {
            "audience": f"village:{TEMBOK}",
            "text": "Kantor tutup besok.",
            "translations": {"en": "The office is closed tomorrow."},
            "recipients": 2,
            "send_at": str(as_utc(send_at)),
        },
    )

    progress = staff.get(f"/staff/broadcasts/{bid}/progress.json")
    assert progress.get_json() == {
        "id": bid,
        "status": "planned",
        "state": "sending",
        "state_text": "dikirim",
        "total": 2,
        "counts": {"queued": 2},
        "percent": 0,
        "done": False,
    }
    with db.begin() as session:
        outbox.mark_sent(session, rows[0].id, "ATXid_1", utcnow())
    assert staff.get(f"/staff/broadcasts/{bid}/progress.json").get_json() == {
        "id": bid,
        "status": "planned",
        "state": "sending",
        "state_text": "dikirim",
        "total": 2,
        "counts": {"queued": 1, "sent": 1},
        "percent": 50,
        "done": False,
    }

    page = staff.follow(staff.post(f"/staff/broadcasts/{bid}/cancel"), f"/staff/broadcasts/{bid}")
    assert flashes(page) == [("ok", "1 pesan yang belum terkirim dibatalkan.")]
    assert "Batalkan yang belum terkirim" not in page
    assert staff.get(f"/staff/broadcasts/{bid}/progress.json").get_json() == {
        "id": bid,
        "status": "cancelled",
        "state": "cancelled",
        "state_text": "dibatalkan",
        "total": 2,
        "counts": {"cancelled": 1, "sent": 1},
        "percent": 100,
        "done": True,
    }
    assert audit_log(db)[-1] == (
        "staff",
        "broadcast.cancel",
        "broadcast",
        str(bid),
        {"status": "planned"},
        {"status": "cancelled", "messages_cancelled": 1},
    )
    assert staff.get("/staff/broadcasts/999999").status_code == 404
    assert staff.get("/staff/broadcasts/999999/progress.json").status_code == 404
    page = staff.follow(staff.post("/staff/broadcasts/999999/cancel"), "/staff/broadcasts")
    assert flashes(page) == [("error", "tidak ada siaran nomor 999999")]


def test_a_broadcast_sent_later(staff: Browser, db: Database) -> None:
    later = local_today() + dt.timedelta(days=2)
    response = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Besok lusa ada rapat.",
            "when": "later",
            "send_at": f"{later}T10:30",
            "step": "send",
        },
    )
    assert response.status_code == 302
    expected = dt.datetime.combine(later, dt.time(10, 30), LOCAL_TZ).astimezone(dt.UTC)
    with db.begin() as session:
        broadcast = session.scalars(
            select(Broadcast).where(Broadcast.body == "Besok lusa ada rapat.")
        ).one()
        assert as_utc(broadcast.send_at) == expected
    assert {as_utc(m.due_at) for m in outbox_rows(db)} == {expected}


def test_the_console_leaves_the_sweep_to_the_workers(
    app: Flask, staff: Browser, db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that wrote SMS asks for a sweep (a queued job, or the sender thread woken);
    it never sweeps inside the request, which ``inline=True`` is for (CLI commands that exit
    right after)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(runtime(app), "dispatch", lambda **kwargs: calls.append(kwargs))
    day = local_today() + dt.timedelta(days=20)
    staff.post(
        "/staff/visits/new",
        {"village": TEMBOK, "date": f"{day}", "start": "09:00", "end": "13:00", "place": "Balai"},
    )
    with db.begin() as session:
        visit_id = session.scalars(
            select(VillageVisit.id).where(VillageVisit.visit_date == day)
        ).one()
    changes = [
        (f"/staff/visits/{visit_id}/publish", {}),
        (f"/staff/visits/{visit_id}/edit", {"date": f"{day}", "start": "10:00", "end": "13:00"}),
        (f"/staff/visits/{visit_id}/cancel", {"confirmed": "1"}),
        ("/staff/broadcasts/new", {"audience": "all", "text": "Halo", "step": "send"}),
        ("/staff/requests/status", {"numbers": [R2], "status": "ready"}),
        (f"/staff/bookings/{world.booking_tembok}/done", {}),
        ("/staff/outbox/retry", {}),
    ]
    for path, form in changes:
        assert staff.post(path, {"place": "Pura", **form}).status_code == 302, path
    assert calls == [{}] * len(changes)
