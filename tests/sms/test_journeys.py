"""Whole journeys by SMS replies alone, on both configurations: status, home visit, next village
visit; a keyword starts its journey from anywhere; the conversation lives thirty minutes and is
not the USSD session."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from common.local_time import local_today
from flows import SMS_SCREEN_LIMIT, build_engine
from flows.flow import build_flow, read_flow_data
from storage.db import Database
from storage.models import HomeVisitBooking, ReminderSubscription, Resident
from tests.helpers import ME, TEMBOK, Phone, as_utc, count, id_date, short_id
from tests.sms.helpers import (
    HELP_EN,
    HELP_ID,
    MAIN_ID,
    MY_KTP,
    NEIGHBOURS_KK,
    STRANGER,
    VISIT_DAYS,
    Texter,
)


@pytest.mark.usefixtures("seeded")
def test_status_journey_by_sms(me: Texter) -> None:
    assert me.reply("halo") == MAIN_ID
    listing = me.reply("1")
    assert listing == (
        f"Dokumen Anda:\n1 KTP-el ..{MY_KTP[-4:]} Siap diambil\n9 Nomor lain\n0 Kembali 00 Menu"
    )
    detail = (
        f"KTP-el ..{MY_KTP[-4:]}\nStatus: Siap diambil\nTgl: {id_date(local_today())}\n"
        "Ambil di: Kantor Desa Tembok\nSen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama.\n"
        "0 Kembali 00 Menu"
    )
    assert me.reply("1") == detail
    assert me.reply("0") == listing
    assert me.reply("9") == ("Ketik nomor permohonan (8 angka di tanda terima):\n0 Kembali 00 Menu")
    assert me.reply(MY_KTP) == detail
    assert me.reply("00") == MAIN_ID


@pytest.mark.usefixtures("seeded")
def test_status_journey_by_sms_typing_the_number(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    assert stranger.reply("Selamat pagi") == MAIN_ID
    ask = "Ketik nomor permohonan (8 angka di tanda terima):\n0 Kembali 00 Menu"
    assert stranger.reply("1") == ask
    assert stranger.reply("12345678") == "Nomor salah, periksa lagi.\n" + ask
    assert stranger.reply(NEIGHBOURS_KK) == (
        "Nomor ini tidak terdaftar untuk HP ini. Ketik tahun lahir pemohon (4 angka):\n"
        "0 Kembali 00 Menu"
    )
    assert stranger.reply("1961") == (
        f"Kartu Keluarga ..{NEIGHBOURS_KK[-4:]}\nStatus: Sedang "
        f"diproses\nTgl: {id_date(local_today())}\n"
        "0 Kembali 00 Menu"
    )


def test_home_visit_journey_by_sms(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    assert stranger.reply("RUMAH") == (
        "Petugas datang untuk siapa?\n1 Saya sendiri\n2 Anggota keluarga\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1") == (
        "Alasannya?\n1 Sakit\n2 Disabilitas\n3 Lansia\n4 Miskin\n5 Baru wajib KTP\n6 Lainnya\n"
        "0 Kembali 00 Menu"
    )
    assert stranger.reply("3") == (
        "Perlu layanan apa?\n1 Rekam KTP-el\n2 Kartu Keluarga\n3 Akta\n4 Lainnya\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1").startswith("Pilih kecamatan:\n1 Gerokgak\n")
    assert stranger.reply("9") == (
        "Pilih desa:\n1 Bondalem\n2 Julah\n3 Les\n4 Madenan\n"
        "5 Pacung\n6 Penuktukan\n7 Sambirenteng\n8 Sembiran\n"
        "9 Tejakula\n10 Tembok\n0 Kembali 00 Menu"
    )
    assert stranger.reply("10") == "Ketik nama banjar/dusun:\n1 Lewati\n0 Kembali 00 Menu"
    assert stranger.reply("1") == (
        "Kirim?\nRekam KTP-el, diri sendiri, Lansia\nDesa Tembok\n"
        "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
    )
    rows = stranger.new_rows("1")
    with db.begin() as session:
        booking = session.scalars(select(HomeVisitBooking)).one()
        assert (
            booking.phone,
            booking.for_whom,
            booking.reason,
            booking.service,
            booking.village_code,
            booking.hamlet,
            booking.status,
        ) == (STRANGER, "self", "elderly", "ktp", TEMBOK, None, "requested")
        number = booking.number
    assert [(r.recipient, r.kind, r.urgent, r.status, r.body) for r in rows] == [
        (
            STRANGER,
            "notification",
            True,
            "queued",
            f"Adminduk Buleleng: permintaan petugas ke rumah diterima. Nomor {number}, "
            "Rekam KTP-el, Desa Tembok. Petugas menelepon untuk jadwal.",
        ),
        (
            STRANGER,
            "reply",
            True,
            "queued",
            f"Diterima. Nomor: {number}. Petugas akan menelepon Anda untuk jadwalnya. "
            "SMS menyusul.",
        ),
    ]
    # The journey ended: the next text starts afresh, and asking again finds the booking.
    assert stranger.reply("1") == MAIN_ID
    for answer in ("2", "1", "3", "1", "1"):  # village remembered now: no picker
        stranger.reply(answer)
    assert stranger.reply("1") == (
        f"Anda sudah minta Rekam KTP-el, nomor {number}, menunggu "
        "jadwal. Petugas akan menghubungi Anda."
    )
    assert count(db, HomeVisitBooking) == 1


@pytest.mark.usefixtures("seeded", "visit")
def test_next_visit_journey_by_sms_with_the_remembered_village(me: Texter, db: Database) -> None:
    visit_day = local_today() + dt.timedelta(days=VISIT_DAYS)
    assert me.reply("halo") == MAIN_ID
    assert me.reply("3") == (
        f"Petugas ke Desa Tembok:\n{id_date(visit_day)}\nJam 09:00-14:00\n"
        "Di Balai Desa\nBawa: KK asli\n98 Lanjut\n0 Kembali 00 Menu"
    )
    assert me.reply("98") == (
        f"Formulir & berkas ke kantor desa s.d. {short_id(visit_day - dt.timedelta(days=2))}\n"
        "1 Ingatkan saya lewat SMS\n2 Desa lain\n0 Kembali 00 Menu"
    )
    rows = me.new_rows("1")
    assert [(r.kind, r.urgent, as_utc(r.due_at), r.body) for r in rows] == [
        (
            "reminder",
            False,
            dt.datetime.combine(visit_day - dt.timedelta(days=4), dt.time(23), dt.UTC),
            f"Pengingat: petugas Adminduk di Desa Tembok 3 hari lagi, {id_date(visit_day)} "
            "09:00-14:00, di Balai Desa. Formulir ke kantor desa s.d. "
            f"{short_id(visit_day - dt.timedelta(days=2))}.",
        ),
        (
            "reminder",
            False,
            dt.datetime.combine(visit_day - dt.timedelta(days=2), dt.time(23), dt.UTC),
            f"Pengingat: petugas Adminduk di Desa Tembok besok, {id_date(visit_day)} "
            "09:00-14:00, di Balai Desa.",
        ),
        (
            "reply",
            True,
            as_utc(rows[2].due_at),
            f"Baik. Kami kirim SMS pengingat sebelum {id_date(visit_day)}.",
        ),
    ]
    assert me.check_reply(rows[2])


@pytest.mark.usefixtures("visit")
def test_next_visit_journey_by_sms_for_a_newcomer(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    visit_day = id_date(local_today() + dt.timedelta(days=VISIT_DAYS))
    schedule = (
        f"Adminduk: petugas ke Desa Tembok {visit_day} 09:00-14:00 di Balai Desa. "
        "Bawa KK asli. Formulir ke kantor desa s.d. "
        f"{short_id(local_today() + dt.timedelta(days=VISIT_DAYS - 2))}. Balas STOP u/ berhenti."
    )
    assert stranger.reply("JADWAL Tembok") == schedule
    # Tembok is remembered now: option 3 goes straight to it.
    assert stranger.reply("hai") == MAIN_ID
    assert stranger.reply("3").startswith(f"Petugas ke Desa Tembok:\n{visit_day}\n")
    assert stranger.reply("2").startswith("Pilih kecamatan:\n")  # another village
    assert stranger.reply("9").startswith("Pilih desa:\n")
    assert stranger.reply("3") == (
        "Belum ada jadwal petugas ke Desa Les.\n1 Kabari saya lewat "
        "SMS\n2 Desa lain\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1") == ("Baik. Anda dikabari lewat SMS saat jadwal ke Desa Les terbit.")
    with db.begin() as session:
        sub = session.scalars(select(ReminderSubscription)).one()
        assert (sub.phone, sub.kind, sub.village_code) == (
            STRANGER,
            "visit_published",
            "51.08.09.2007",
        )


def test_menu_keyword_restarts_a_conversation(me: Texter) -> None:
    me.reply("halo")
    assert me.reply("2").startswith("Petugas datang untuk siapa?")
    assert me.reply("MENU") == MAIN_ID
    assert me.reply("2").startswith("Petugas datang untuk siapa?")
    assert me.reply("RUMAH").startswith("Petugas datang untuk siapa?")
    assert me.reply("2").startswith("Alasannya?")  # a family member


def test_keywords_start_their_journey_wherever_the_menu_puts_it(
    client: FlaskClient, db: Database, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RUMAH and JADWAL start journeys by name: with the main menu reordered (the same
    screens.toml, its first option moved to the end) they still land where they did."""
    rt = app.extensions["gateway"]
    data = read_flow_data()
    options = data["screens"]["main"]["options"]
    options.append(options.pop(0))
    reordered = build_engine(SMS_SCREEN_LIMIT, flow=build_flow(data), catalogs=rt.catalogs)
    monkeypatch.setattr(rt, "sms_engine", reordered)
    stranger = Texter(client, db, STRANGER)
    main = (
        "Adminduk Buleleng\n1 Minta petugas ke rumah\n2 Jadwal petugas ke desa\n"
        "3 Layanan prioritas\n4 Bahasa/Language\n5 Hubungi kantor\n6 Cek status"
    )
    assert stranger.reply("MENU") == main
    assert stranger.reply("RUMAH") == (
        "Petugas datang untuk siapa?\n1 Saya sendiri\n2 Anggota keluarga\n0 Kembali 00 Menu"
    )
    assert rt.sms_store.load(STRANGER)[0]["state"]["journey"] == "home_visit"
    assert stranger.reply("1").startswith("Alasannya?")
    assert stranger.reply("00") == main
    assert stranger.reply("JADWAL").startswith("Pilih kecamatan:\n1 Gerokgak\n")
    assert rt.sms_store.load(STRANGER)[0]["state"]["journey"] == "next_visit"
    assert stranger.reply("9").startswith("Pilih desa:\n1 Bondalem\n")
    assert stranger.reply("10") == (
        "Belum ada jadwal petugas ke Desa Tembok.\n1 Kabari saya lewat SMS"
        "\n2 Desa lain\n0 Kembali 00 Menu"
    )
    # Two villages of one name: the reply names the journey's digit on this menu.
    assert stranger.reply("JADWAL Kayuputih") == (
        "Ada 2 desa bernama Kayuputih. Balas MENU lalu pilih 2 untuk memilih kecamatan."
    )
    assert stranger.reply("MENU") == main
    assert stranger.reply("2").startswith("Belum ada jadwal petugas ke Desa Tembok.")  # remembered


def test_a_keyword_in_the_middle_of_a_journey_is_answered(me: Texter) -> None:
    me.reply("RUMAH")
    assert me.reply("STATUS 123") == "Nomor salah, periksa lagi. Contoh: STATUS 12345678"
    assert me.reply("1").startswith("Alasannya?")  # the journey is still where it was
    assert me.reply("HELP") == HELP_ID  # BANTUAN starts its own: the office, a call back
    assert me.reply("1").startswith("Petugas menelepon nomor ini. Tentang apa?")


def test_the_language_chosen_by_sms_is_remembered(me: Texter, db: Database) -> None:
    me.reply("halo")
    assert me.reply("5") == (
        "Pilih bahasa / Choose language:\n1 Bahasa Indonesia\n2 English\n0 Kembali 00 Menu"
    )
    main_en = (
        "Adminduk Buleleng\n1 Check status\n2 Ask for a home visit\n"
        "3 Village visit dates\n4 Priority service\n5 Bahasa/Language\n6 Contact the office"
    )
    assert me.reply("2") == main_en
    assert me.reply("help") == HELP_EN
    with db.begin() as session:
        assert session.scalar(select(Resident.language).where(Resident.phone == ME)) == "en"


def test_a_conversation_lives_thirty_minutes(me: Texter, app: Flask, backend: str) -> None:
    me.reply("halo")
    assert me.reply("2").startswith("Petugas datang untuk siapa?")
    store = app.extensions["gateway"].sms_store
    if backend == "production":
        key = f"sms:call:{ME}"
        assert 1790 <= store.redis.ttl(key) <= 1800
        assert me.reply("1").startswith("Alasannya?")
        assert 1790 <= store.redis.ttl(key) <= 1800  # each answer keeps it another 30 minutes
        store.redis.delete(key)  # as if the 30 minutes had run out
    else:
        start = time.monotonic()
        store.clock = lambda: start + 29 * 60
        assert me.reply("1").startswith("Alasannya?")
        store.clock = lambda: start + 29 * 60 + 30 * 60 + 1
    assert me.reply("1") == MAIN_ID  # the old conversation is gone: a new one starts
    assert me.reply("2").startswith("Petugas datang untuk siapa?")


def test_the_sms_conversation_is_not_the_ussd_session(me: Texter, client: FlaskClient) -> None:

    me.reply("halo")
    me.reply("2")
    phone = Phone(client, ME)
    assert phone.dial() == "CON " + MAIN_ID
    assert phone.press("4").startswith("CON Untuk pemuka agama")
    assert me.reply("1").startswith("Alasannya?")  # the SMS conversation went on
