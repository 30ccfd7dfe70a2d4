"""A request's statuses as a lifecycle (common/request_lifecycle.py): the same status twice
sends one SMS, going back asks why and says what the resident will read, and "perlu
dilengkapi" carries its reason to the resident by SMS and on the USSD status screen, in their
language — through the console, on both configurations."""

from __future__ import annotations

import html

import pytest
from flask.testing import FlaskClient

from common import request_lifecycle as lifecycle
from storage.db import Database
from tests.console.helpers import (
    ENGLISH,
    GRANNY,
    R2,
    R3,
    R4,
    Browser,
    audit_log,
    flashes,
    outbox_rows,
    request_state,
    snapshot,
)
from tests.helpers import Phone

# --- the table itself ------------------------------------------------------------------------


def test_the_lifecycle_says_which_moves_send_what() -> None:
    assert lifecycle.move("submitted", "processing").sms == "sms.status_changed"
    assert lifecycle.move("ready", "ready").sms is None  # the same status again: nothing
    assert lifecycle.move("ready", "ready", details_changed=True).kind == lifecycle.UPDATE
    back = lifecycle.move("collected", "submitted", reason="salah input")
    assert (back.kind, back.sms, back.reason) == (
        lifecycle.CORRECTION,
        "sms.status_corrected",
        "salah input",
    )
    assert lifecycle.move("rejected", "processing", old_reason="kk").reason is None
    assert lifecycle.move("processing", "rejected", reason="kk").reason == "kk"
    with pytest.raises(lifecycle.MoveRefused, match="needs a reason"):
        lifecycle.move("collected", "submitted")
    with pytest.raises(lifecycle.MoveRefused, match="what is missing"):
        lifecycle.move("processing", "rejected")
    with pytest.raises(lifecycle.MoveRefused, match="cannot go"):
        lifecycle.move("submitted", "collected")  # handed over before it was ready
    with pytest.raises(lifecycle.MoveRefused, match="longer than 60"):
        lifecycle.move("processing", "rejected", reason="x" * 61)
    # every status can be left, and every move is forward or a correction
    for before in lifecycle.STATUSES:
        assert lifecycle.TRANSITIONS[before]
        assert set(lifecycle.TRANSITIONS[before]) <= set(lifecycle.STATUSES) - {before}


def test_the_status_list_has_no_default(staff: Browser) -> None:
    page = staff.get("/staff/requests").text
    assert '<select id="status" name="status" required><option value="" selected disabled>' in page


# --- the console -------------------------------------------------------------------------------


def test_the_same_status_twice_sends_one_sms(staff: Browser, db: Database) -> None:
    change = {"numbers": [R2], "status": "ready", "pickup": "Kantor Desa Tembok"}
    page = staff.follow(staff.post("/staff/requests/status", change), "/staff/requests")
    assert flashes(page) == [("ok", "1 permohonan diubah; warga diberi tahu lewat SMS.")]
    page = staff.follow(staff.post("/staff/requests/status", change), "/staff/requests")
    assert flashes(page) == [
        (
            "ok",
            "0 permohonan diubah; warga diberi tahu lewat SMS. "
            "1 sudah berstatus itu: tidak ada yang dikirim.",
        )
    ]
    assert [m.recipient for m in outbox_rows(db)] == [GRANNY]
    assert request_state(db, R2) == ("ready", "Kantor Desa Tembok", 2)  # one change, once
    # a new place for the same status is news: told once more
    staff.post("/staff/requests/status", {**change, "pickup": "Kantor Camat Tejakula"})
    assert ["Ambil di Kantor Camat Tejakula." in m.body for m in outbox_rows(db)] == [
        False,
        True,
    ]


def test_going_back_asks_why_and_shows_what_the_resident_reads(
    staff: Browser, db: Database
) -> None:
    before = snapshot(db)
    going_back = {"numbers": [R4], "status": "submitted", "pickup": ""}  # R4: collected
    response = staff.post("/staff/requests/status", going_back)
    assert response.status_code == 200  # not done: a page that asks why
    page = html.unescape(response.get_data(as_text=True))
    assert "Status mundur" in page
    # ENGLISH reads English: the text with the reason still to come
    assert f"no. {R4} is back to Received. Reason: …." in page
    assert snapshot(db) == before
    # the reason is required by the action too, not only by the page
    response = staff.post("/staff/requests/status", {**going_back, "correction": " "})
    assert response.status_code == 200 and snapshot(db) == before
    response = staff.post(
        "/staff/requests/status", {**going_back, "correction": "ditandai diambil karena salah"}
    )
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("ok", "1 permohonan diubah; warga diberi tahu lewat SMS.")]
    [message] = outbox_rows(db)
    assert message.recipient == ENGLISH
    assert message.body.startswith("Adminduk Buleleng: correction, ")
    assert message.body.endswith(
        f"no. {R4} is back to Received. Reason: ditandai diambil karena salah."
    )
    assert audit_log(db)[-1][4:] == (
        {"status": "collected", "pickup": "Kantor Camat Sukasada", "reason": None},
        {
            "status": "submitted",
            "pickup": "Kantor Camat Sukasada",
            "reason": "ditandai diambil karena salah",
        },
    )


def test_incomplete_needs_a_reason(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    response = staff.post("/staff/requests/status", {"numbers": [R2], "status": "rejected"})
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("error", "Sebutkan yang kurang (warga diberi tahu).")]
    response = staff.post(
        "/staff/requests/status",
        {"numbers": [R2], "status": "rejected", "reason_text": "x" * 61},
    )
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("error", "Alasan lebih dari 60 karakter.")]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("number", "phone", "reason", "sms_end", "screen_line"),
    [
        (R2, GRANNY, {"reason": "kk"}, "Perlu dilengkapi. Alasan: KK belum dibawa.", None),
        (
            R3,
            ENGLISH,
            {"reason": "photo"},
            "Incomplete. Reason: photo missing.",
            "Reason: photo missing",
        ),
        (
            R3,
            ENGLISH,
            {"reason": "", "reason_text": "surat pengantar desa"},
            "Incomplete. Reason: surat pengantar desa.",
            "Reason: surat pengantar desa",
        ),
    ],
)
def test_the_reason_is_heard_by_sms_and_ussd(
    staff: Browser,
    db: Database,
    client: FlaskClient,
    number: str,
    phone: str,
    reason: dict[str, str],
    sms_end: str,
    screen_line: str | None,
) -> None:
    response = staff.post(
        "/staff/requests/status", {"numbers": [number], "status": "rejected", **reason}
    )
    assert flashes(staff.follow(response, "/staff/requests"))[0][0] == "ok"
    [message] = outbox_rows(db)
    assert (message.recipient, message.body.endswith(sms_end)) == (phone, True), message.body
    caller = Phone(client, phone)
    caller.dial()
    listing = caller.press("1")
    position = next(
        line.split(" ")[0] for line in listing.split("\n") if f"..{number[-4:]}" in line
    )
    detail = caller.press(position)
    expected = screen_line or "Alasan: KK belum dibawa"
    assert f"\n{expected}\n" in detail, detail
    assert len(detail) <= 160
