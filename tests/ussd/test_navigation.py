"""Dialling *123# through POST /ussd: the main menu, a wrong choice, back and home, the language
switch, and a dropped session offered for resume. Screens are asserted exactly, as the caller
reads them, on both configurations."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from storage.db import Database
from storage.models import Resident
from tests.helpers import Phone
from tests.ussd.helpers import MAIN_EN, MAIN_ID

# --- main menu and navigation ----------------------------------------------------------------


def test_first_screen_is_the_main_menu(phone: Phone) -> None:
    assert phone.dial() == MAIN_ID
    assert phone.last_status == 200


def test_invalid_choice_reshows_the_screen_with_an_error_line(phone: Phone) -> None:
    phone.dial()
    assert phone.press("7") == MAIN_ID.replace("CON ", "CON Pilihan salah.\n")
    assert phone.press("hello") == MAIN_ID.replace("CON ", "CON Pilihan salah.\n")
    assert phone.press("") == MAIN_ID.replace("CON ", "CON Pilihan salah.\n")


def test_back_and_home(phone: Phone) -> None:
    phone.dial()
    assert phone.press("2") == (
        "CON Petugas datang untuk siapa?\n1 Saya sendiri\n2 Anggota keluarga\n0 Kembali 00 Menu"
    )
    assert phone.press("1") == (
        "CON Alasannya?\n1 Sakit\n2 Disabilitas\n3 Lansia\n4 Miskin\n5 Baru wajib KTP\n6 Lainnya\n"
        "0 Kembali 00 Menu"
    )
    assert phone.press("0").startswith("CON Petugas datang untuk siapa?")
    assert phone.press("1").startswith("CON Alasannya?")
    assert phone.press("00") == MAIN_ID
    assert phone.press("0") == MAIN_ID  # back from the main menu stays there


# --- 5. Language -----------------------------------------------------------------------------


def test_language_switch_is_remembered(phone: Phone, db: Database) -> None:
    phone.dial()
    assert phone.press("5") == (
        "CON Pilih bahasa / Choose language:\n1 Bahasa Indonesia\n2 English\n0 Kembali 00 Menu"
    )
    assert phone.press("2") == MAIN_EN
    assert phone.press("2") == (
        "CON Who is the visit for?\n1 Myself\n2 A family member\n0 Back 00 Menu"
    )
    assert phone.press("00") == MAIN_EN
    assert phone.dial() == MAIN_EN  # a new session: remembered
    with db.begin() as session:
        resident = session.scalars(select(Resident).where(Resident.phone == phone.number)).one()
    assert resident.language == "en"
    assert phone.press("9") == MAIN_EN.replace("CON ", "CON Invalid choice.\n")


# --- dropped sessions ------------------------------------------------------------------------


def test_dropped_session_can_be_resumed(phone: Phone) -> None:
    phone.dial()
    phone.press("2")
    reason = phone.press("1")
    assert reason.startswith("CON Alasannya?")
    # The signal drops; the caller dials again.
    assert phone.dial() == "CON Lanjutkan yang tadi?\n1 Lanjutkan\n2 Mulai baru"
    phone.inputs = []
    assert phone.press("1") == reason
    assert phone.press("3").startswith("CON Perlu layanan apa?")
    assert phone.press("0") == reason  # the back stack survived the drop


def test_dropped_session_can_be_started_afresh(phone: Phone) -> None:
    phone.dial()
    phone.press("2")
    phone.dial()
    assert phone.press("2") == MAIN_ID
    assert phone.dial() == MAIN_ID  # nothing left to resume


def test_a_finished_session_is_not_offered_for_resume(phone: Phone) -> None:
    phone.dial()
    for key in ("4", "1", "1", "1"):
        phone.press(key)
    assert phone.dial() == MAIN_ID


def test_resume_offer_expires_after_ten_minutes(phone: Phone, app: Flask, backend: str) -> None:
    phone.dial()
    phone.press("2")
    store = app.extensions["gateway"].store
    if backend == "production":
        key = f"ussd:call:{phone.number}"
        assert 590 <= store.redis.ttl(key) <= 600
        store.redis.expire(key, 1)
        store.redis.delete(key)  # as if the TTL had run out
    else:
        store.clock = lambda: 10**9  # far in the future
    assert phone.dial() == MAIN_ID
