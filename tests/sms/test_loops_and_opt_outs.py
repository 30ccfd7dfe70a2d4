"""The loop guard (a sender that keeps texting stops getting replies) and opt-outs honoured at send
time, on both configurations."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from storage import outbox, queries
from storage.db import Database
from storage.models import HomeVisitBooking, InboundMessage, OutboxMessage
from tests.helpers import ME, NEIGHBOUR, TEMBOK, count
from tests.sms.helpers import (
    HELP_ID,
    MAIN_ID,
    MY_KTP,
    STARTED,
    STOPPED,
    STRANGER,
    WRONG,
    Texter,
    opted_out,
    outbox_rows,
    use_stub,
)

# --- the loop guard --------------------------------------------------------------------------


def test_a_looping_sender_stops_getting_replies(client: FlaskClient, db: Database) -> None:
    robot = Texter(client, db, STRANGER)
    assert robot.reply("Pesan Anda diterima") == MAIN_ID
    for _ in range(4):
        assert robot.reply("Pesan Anda diterima") == WRONG + MAIN_ID
    for _ in range(3):
        assert robot.send("Pesan Anda diterima") == "looping"
        assert robot.last_status == 200
    assert count(db, OutboxMessage) == 5
    assert count(db, InboundMessage) == 8  # every text is kept
    # Not even keywords or menu answers get a reply now ...
    assert robot.send("HELP") == "looping"
    assert robot.send("1") == "looping"
    assert count(db, OutboxMessage) == 5
    # ... but STOP is honoured, silently, and so is MULAI.
    assert robot.send("STOP") == "looping"
    assert opted_out(db, STRANGER) is True
    assert robot.send("mulai") == "looping"
    assert opted_out(db, STRANGER) is False
    assert robot.send("BERHENTI") == "looping"
    assert opted_out(db, STRANGER) is True
    assert count(db, OutboxMessage) == 5
    # A repeated callback of a looping number is still just a duplicate.
    assert robot.send("STOP", message_id=robot.last_id) == "duplicate"
    # Another number is not affected.
    other = Texter(client, db, NEIGHBOUR)
    assert other.reply("Pesan Anda diterima") == MAIN_ID
    assert other.reply("HELP") == HELP_ID


def test_the_loop_guard_counts_texts_that_go_nowhere(client: FlaskClient, db: Database) -> None:
    texter = Texter(client, db, STRANGER)
    assert texter.reply("halo") == MAIN_ID  # 1
    assert texter.reply("HELP") == HELP_ID  # 2
    assert texter.reply("MENU") == MAIN_ID  # 3
    assert texter.reply("7") == WRONG + MAIN_ID  # 4
    assert texter.reply("1").startswith("Ketik nomor permohonan")  # goes somewhere: not counted
    assert texter.reply("12345678").startswith("Nomor salah, periksa lagi.\n")  # 5
    assert texter.send("2") == "looping"


def test_a_long_journey_by_sms_is_never_cut_off(client: FlaskClient, db: Database) -> None:
    texter = Texter(client, db, STRANGER)
    replies = [
        texter.reply(text)
        for text in (
            "halo",
            "2",
            "7",
            "1",
            "0",
            "1",
            "1",
            "9",
            "1",
            "9",
            "10",
            "Banjar Kaja",
            "0",
            "1",
        )
    ]
    assert [r.split("\n")[0] for r in replies] == [
        "Adminduk Buleleng",
        "Petugas datang untuk siapa?",
        "Pilihan salah.",
        "Alasannya?",
        "Petugas datang untuk siapa?",
        "Alasannya?",
        "Perlu layanan apa?",
        "Pilihan salah.",
        "Pilih kecamatan:",
        "Pilih desa:",
        "Ketik nama banjar/dusun:",
        "Kirim?",
        "Ketik nama banjar/dusun:",
        "Kirim?",
    ]
    done = texter.new_rows("1")  # the 12th answer that moves on: send
    assert [r.kind for r in done] == ["notification", "reply"]
    assert texter.check_reply(done[1]).startswith("Diterima. Nomor: ")
    assert count(db, HomeVisitBooking) == 1


def test_at_most_the_reply_cap_per_number_per_hour(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Alternating 1 and 0 moves the conversation every time, so the loop guard never counts
    it: the issue's flood got 100 paid replies. The cap stops at 30, logged once."""
    texter = Texter(client, db, STRANGER)
    with caplog.at_level(logging.WARNING, logger="gateway.webhooks.sms"):
        results = [texter.send("1" if i % 2 == 0 else "0") for i in range(100)]
    assert count(db, OutboxMessage, recipient=STRANGER) == 30
    assert (results.count("ok"), results.count("capped")) == (30, 70)
    assert count(db, InboundMessage) == 100  # every text is kept
    assert [r.getMessage() for r in caplog.records] == [
        "reply cap: 30 replies to +62812****0003 within the hour; no more for now"
    ]
    # STOP is still honoured, silently; another number is not affected
    assert texter.send("STOP") == "capped"
    assert opted_out(db, STRANGER) is True
    assert count(db, OutboxMessage, recipient=STRANGER) == 30
    assert Texter(client, db, NEIGHBOUR).reply("HELP") == HELP_ID


# --- opt-outs at send time -------------------------------------------------------------------


def test_opt_out_is_honoured_at_send_time(
    app: Flask, runner: Any, client: FlaskClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="id")
        queries.upsert_resident(session, NEIGHBOUR, village_code=TEMBOK, language="id")
        queries.add_request(
            session,
            doc_type="ktp",
            phone=ME,
            birth_year=1950,
            village_code=TEMBOK,
            status="processing",
            number=MY_KTP,
        )
    result = runner.invoke(
        args=[
            "broadcast",
            "--village",
            "Tembok",
            "--text",
            "Kantor Disdukcapil tutup Senin.",
            "--yes",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "2 message(s) queued" in result.stdout
    with db.begin() as session:  # a reminder I asked for earlier
        outbox.add(
            session,
            recipient=ME,
            kind="reminder",
            body="Pengingat: besok.",
            dedupe_key="test:reminder",
        )
    # Then I text STOP, before anything was sent.
    assert Texter(client, db, ME).reply("STOP") == STOPPED
    # Transactional messages still reach me.
    result = runner.invoke(
        args=["requests", "set-status", MY_KTP, "ready", "--pickup", "Kantor Desa Tembok"]
    )
    assert result.exit_code == 0, result.output
    sender, stub = use_stub(app, monkeypatch)
    ids = [m.id for m in outbox_rows(db) if m.status == "queued"]
    batch = sender.send_batch(ids)
    assert (batch.sent, batch.cancelled, batch.failed, batch.postponed) == (3, 2, 0, 0)
    assert stub.calls == [
        ("Kantor Disdukcapil tutup Senin.", [NEIGHBOUR]),
        (STOPPED, [ME]),
        (
            f"Adminduk Buleleng: KTP-el no. {MY_KTP}: Siap diambil. Ambil di Kantor Desa Tembok. "
            "Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama.",
            [ME],
        ),
    ]
    assert [
        (m.recipient, m.kind, m.status, m.last_error, m.provider_message_id)
        for m in outbox_rows(db)
    ] == [
        (ME, "broadcast", "cancelled", "opted out", None),
        (NEIGHBOUR, "broadcast", "sent", None, "stub-1"),
        (ME, "reminder", "cancelled", "opted out", None),
        (ME, "reply", "sent", None, "stub-2"),
        (ME, "notification", "sent", None, "stub-3"),
    ]
    # MULAI again: broadcasts from now on reach me; the cancelled one stays cancelled.
    assert Texter(client, db, ME).reply("MULAI") == STARTED
    ids = [m.id for m in outbox_rows(db) if m.status == "queued"]
    sender.send_batch([*ids, *(m.id for m in outbox_rows(db) if m.status == "cancelled")])
    assert [m.status for m in outbox_rows(db)] == [
        "cancelled",
        "sent",
        "cancelled",
        "sent",
        "sent",
        "sent",
    ]


@pytest.mark.parametrize("word", ["top", "shop", "step", "sto", "stok", "smart", "stat", "mula"])
def test_near_words_never_opt_anyone_in_or_out(word: str) -> None:
    from flows.keywords import parse

    command = parse(word)
    assert command is None or command.name not in ("stop", "start")


def test_the_same_keyword_again_and_again_is_a_loop(client: FlaskClient, app: Flask) -> None:
    replies = []
    for i in range(8):
        response = client.post(
            "/sms/inbound",
            data={
                "from": "+6281299997777",
                "to": "12345",
                "text": "JADWAL Tembok",
                "id": f"loop-kw-{i}",
                "date": "2026-11-28",
                "linkId": "",
                "networkCode": "51010",
            },
        )
        replies.append(response.get_data(as_text=True).strip())
    # The first is an answer; repeats count towards the guard (5 in 10 minutes).
    assert replies == ["ok"] * 6 + ["looping"] * 2
