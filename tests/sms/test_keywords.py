"""POST /sms/inbound (SPEC §4, §6), on both configurations: the keywords (JADWAL, STATUS, STOP,
MULAI, BANTUAN, with typos), one reply per message, and the refusals. Replies are asserted
exactly, as the resident reads them, and as the outbox rows they are."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from common.local_time import local_today
from storage import numbers, queries
from storage.db import Database
from storage.models import (
    DeliveryReport,
    InboundMessage,
    OutboxMessage,
    ReminderSubscription,
    Resident,
)
from tests.helpers import ME, NEIGHBOUR, TEMBOK, count, en_date, id_date, short_en, short_id
from tests.sms.helpers import (
    HELP_EN,
    HELP_ID,
    MAIN_ID,
    MY_KTP,
    NEIGHBOURS_KK,
    STARTED,
    STOPPED,
    STRANGER,
    UNKNOWN,
    VISIT_DAYS,
    WRONG,
    Texter,
    opted_out,
)


def test_help_in_both_languages(me: Texter, db: Database, client: FlaskClient) -> None:
    assert me.reply("BANTUAN") == HELP_ID
    assert me.reply("help") == HELP_ID  # a newcomer gets the default language
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply("HELP") == HELP_EN
    assert neighbour.reply("Bantuan!") == HELP_EN
    assert neighbour.reply("info") == HELP_EN


@pytest.mark.usefixtures("visit")
@pytest.mark.parametrize(
    "text", ["JADWAL Tembok", "jadwl tembk", "SCHEDULE tembok", "Jadwal  TEMBOK ", "jadwal tembok."]
)
def test_schedule_keyword_with_typos(me: Texter, db: Database, text: str) -> None:
    day = id_date(local_today() + dt.timedelta(days=VISIT_DAYS))
    assert me.reply(text) == (
        f"Adminduk: petugas ke Desa Tembok {day} 09:00-14:00 di Balai "
        "Desa. Bawa KK asli. Formulir ke kantor desa s.d. "
        f"{short_id(local_today() + dt.timedelta(days=VISIT_DAYS - 2))}. Balas STOP u/ berhenti."
    )
    with db.begin() as session:
        resident = queries.get_resident(session, ME)
        assert resident is not None and resident.village_code == TEMBOK  # remembered


@pytest.mark.usefixtures("visit")
def test_schedule_in_english_and_for_the_remembered_village(
    client: FlaskClient, db: Database
) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, village_code=TEMBOK, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    day = en_date(local_today() + dt.timedelta(days=VISIT_DAYS))
    text = (
        f"Adminduk: staff visit Tembok {day} 09:00-14:00 at Balai Desa. Bring KK asli. "
        "Forms to the village office by "
        f"{short_en(local_today() + dt.timedelta(days=VISIT_DAYS - 2))}. Reply STOP to stop."
    )
    assert neighbour.reply("SCHEDULE") == text
    assert neighbour.reply("jadwal") == text


def test_schedule_for_a_village_with_no_visit_subscribes(me: Texter, db: Database) -> None:
    assert me.reply("JADWAL Tembok") == (
        "Belum ada jadwal petugas ke Desa Tembok. Kami kabari lewat SMS bila terbit."
    )
    with db.begin() as session:
        sub = session.scalars(select(ReminderSubscription)).one()
        assert (sub.phone, sub.kind, sub.village_code, sub.visit_id, sub.language) == (
            ME,
            "visit_published",
            TEMBOK,
            None,
            "id",
        )


def test_schedule_for_an_unknown_or_ambiguous_village(me: Texter, db: Database) -> None:
    assert me.reply("JADWAL Xyzzy") == (
        'Desa "Xyzzy" tidak dikenal. Contoh: JADWAL Tembok. Atau balas MENU.'
    )
    assert me.reply("JADWAL Kayuputih") == (
        "Ada 2 desa bernama Kayuputih. Balas MENU lalu pilih 3 untuk memilih kecamatan."
    )
    assert count(db, ReminderSubscription) == 0


def test_schedule_without_a_village_asks_for_one(me: Texter) -> None:
    assert me.reply("JADWAL") == (
        "Pilih kecamatan:\n1 Gerokgak\n2 Seririt\n3 Busungbiu\n"
        "4 Banjar\n5 Sukasada\n6 Buleleng\n7 Sawan\n8 Kubutambahan\n"
        "9 Tejakula\n0 Kembali 00 Menu"
    )
    assert me.reply("9").startswith("Pilih desa:\n1 Bondalem\n")
    assert me.reply("10") == (
        "Belum ada jadwal petugas ke Desa Tembok.\n1 Kabari saya lewat SMS"
        "\n2 Desa lain\n0 Kembali 00 Menu"
    )


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("keyword", ["STATUS", "status", "staus", "STATSU", "Cek"])
def test_status_keyword_with_typos(me: Texter, keyword: str) -> None:
    assert me.reply(f"{keyword} {MY_KTP}") == (
        f"KTP-el ..{MY_KTP[-4:]}: Siap diambil, {id_date(local_today())}. "
        "Ambil di Kantor Desa Tembok. Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama."
    )


NOT_THIS_PHONES = (
    "Nomor ini tidak terdaftar untuk HP ini. Untuk cek, tekan *123# atau tanya kantor desa."
)


@pytest.mark.usefixtures("seeded")
def test_status_keyword_answers(me: Texter, client: FlaskClient, db: Database) -> None:
    assert (
        me.reply(f"STATUS {MY_KTP[:4]} {MY_KTP[4:]}")
        == (  # spaces are forgiven
            f"KTP-el ..{MY_KTP[-4:]}: Siap diambil, {id_date(local_today())}. "
            "Ambil di Kantor Desa Tembok. Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama."
        )
    )
    assert me.reply("STATUS") == "Nomor salah, periksa lagi. Contoh: STATUS 12345678"
    assert me.reply("STATUS 12345678") == "Nomor salah, periksa lagi. Contoh: STATUS 12345678"
    assert me.reply(f"STATUS {UNKNOWN}") == (
        f"Nomor {UNKNOWN} tidak ditemukan. Periksa lagi tanda terima Anda."
    )
    # Another phone's request: nothing about it is told.
    assert me.reply(f"STATUS {NEIGHBOURS_KK}") == NOT_THIS_PHONES
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply(f"status {NEIGHBOURS_KK}") == (
        f"Family card ..{NEIGHBOURS_KK[-4:]}: In progress, {en_date(local_today())}."
    )


@pytest.mark.usefixtures("seeded")
def test_status_look_ups_are_guarded(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    first = numbers.with_check_digit("3000000")
    assert stranger.reply(f"STATUS {first}").startswith(f"Nomor {first} tidak ditemukan.")
    # After a first miss, an unknown number and another phone's get the same answer: a phone
    # trying numbers learns nothing of which exist (issue 10).
    assert stranger.reply(f"STATUS {NEIGHBOURS_KK}") == NOT_THIS_PHONES
    for i in range(1, 4):
        wrong = numbers.with_check_digit(str(3000000 + i))
        assert stranger.reply(f"STATUS {wrong}") == NOT_THIS_PHONES
    assert stranger.reply(f"STATUS {MY_KTP}") == (
        "Terlalu banyak nomor salah. Coba lagi 1 jam lagi, atau tanya kantor desa."
    )


@pytest.mark.parametrize(
    ("stop", "start"),
    [
        ("STOP", "MULAI"),
        ("BERHENTI", "START"),
        ("brhenti", "mulai"),
        ("stpo", "Start."),
        ("Unsubscribe", "MULAI"),
    ],
)
def test_stop_and_start(me: Texter, db: Database, stop: str, start: str) -> None:
    assert opted_out(db, ME) is None  # never heard of
    assert me.reply(stop) == STOPPED
    assert opted_out(db, ME) is True
    assert me.reply(stop) == STOPPED
    assert opted_out(db, ME) is True
    assert me.reply(start) == STARTED
    assert opted_out(db, ME) is False


def test_stop_in_english(client: FlaskClient, db: Database) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, village_code=TEMBOK, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply("STOP") == (
        "You will get no more schedule messages. Reply MULAI to get them again."
    )
    assert neighbour.reply("START") == "You will get schedule messages again. Reply STOP to stop."
    with db.begin() as session:
        resident = queries.get_resident(session, NEIGHBOUR)
        assert resident is not None
        assert (resident.opted_out, resident.village_code, resident.language) == (
            False,
            TEMBOK,
            "en",
        )  # nothing else changed


def test_words_that_only_look_like_keywords_get_the_menu(me: Texter) -> None:
    for text in ("Terima kasih", "MULA1", "rumahku", "?", "..."):  # the loop guard allows 5
        reply = me.reply(text)
        assert reply in (MAIN_ID, WRONG + MAIN_ID), (text, reply)


def test_the_same_inbound_message_twice_gets_one_reply(me: Texter, db: Database) -> None:
    assert me.reply("STOP") == STOPPED
    first = me.last_id
    assert me.send("MULAI", message_id=first) == "duplicate"  # AT retried the callback
    assert me.send("STOP", message_id=first) == "duplicate"
    assert opted_out(db, ME) is True  # the retry did nothing
    assert count(db, OutboxMessage) == 1
    assert count(db, InboundMessage) == 1
    with db.begin() as session:
        inbound = session.scalars(select(InboundMessage)).one()
        assert (inbound.provider_id, inbound.sender, inbound.text) == (first, ME, "STOP")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"text": "STOP", "from": ME}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "ATXid_x"}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "ATXid_x", "from": "  "}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "x" * 65, "from": ME}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "ATXid_x", "from": "hello"}, "from is not a valid phone number"),
        ({"text": "STOP", "id": "ATXid_x", "from": "12"}, "from is not a valid phone number"),
        ({"id": "ATXid_x", "from": ME}, "an inbound message needs text"),
        ({"text": "STOP", "id": "ATX\x00id", "from": ME}, "id holds a control character"),
        (
            {"text": "STOP", "id": "ATXid_x", "from": "+1 202 555 01"},
            "from is not a valid phone number",
        ),
    ],
)
def test_a_malformed_inbound_message_is_refused(
    client: FlaskClient, db: Database, form: dict[str, str], message: str
) -> None:
    response = client.post("/sms/inbound", data=form)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == message + "\n"
    assert count(db, InboundMessage) == 0
    assert count(db, OutboxMessage) == 0
    assert count(db, Resident) == 0


def test_control_characters_are_refused_and_long_texts_cut(me: Texter, db: Database) -> None:
    assert me.send("\x00ST\x07OP\x1b") == "text holds a control character"
    assert me.last_status == 400
    assert opted_out(db, ME) is None and count(db, InboundMessage) == 0
    assert me.reply("STOP\r\n") == STOPPED  # line breaks are a text's own
    assert opted_out(db, ME) is True
    me.reply("halo " + "x" * 600)  # kept and read up to 480 characters
    with db.begin() as session:
        texts = list(session.scalars(select(InboundMessage.text).order_by(InboundMessage.id)))
    assert texts == ["STOP\n", "halo " + "x" * 475]


def test_the_sms_webhooks_need_the_token(app_config: dict[str, Any]) -> None:
    from gateway import create_app

    app = create_app({"TESTING": True, **app_config, "WEBHOOK_TOKEN": "s3cret"})
    try:
        client = app.test_client()
        db = app.extensions["gateway"].db
        inbound = {"from": ME, "to": "98765", "text": "STOP", "id": "ATXid_t1"}
        delivery = {"id": "ATXid_1", "status": "Success", "phoneNumber": ME}
        for path, form in (("/sms/inbound", inbound), ("/sms/delivery", delivery)):
            for query in ("", "?token=wrong", "?token=S3CRET"):
                refused = client.post(path + query, data=form)
                assert refused.status_code == 403
                assert refused.get_data(as_text=True) == "webhook token missing or wrong\n"
        assert count(db, InboundMessage) == 0 and count(db, DeliveryReport) == 0
        assert opted_out(db, ME) is None
        ok = client.post("/sms/inbound?token=s3cret", data=inbound)
        assert (ok.status_code, ok.get_data(as_text=True)) == (200, "ok\n")
        ok = client.post("/sms/delivery", data=delivery, headers={"X-Webhook-Token": "s3cret"})
        assert (ok.status_code, ok.get_data(as_text=True)) == (200, "pending\n")
        assert opted_out(db, ME) is True
    finally:
        app.extensions["gateway"].db.dispose()
