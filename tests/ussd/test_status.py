"""Journey 1, document status, through POST /ussd: my requests, a request by its number, another
phone's behind the applicant's birth year, and the guard against enumeration. Screens are
asserted exactly, on both configurations."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from storage.db import Database
from tests.helpers import ME, Phone
from tests.ussd.helpers import MY_KK, MY_KTP, NEIGHBOURS_ACTA, number, today_id

ASK_YEAR = (
    "CON Nomor ini tidak terdaftar untuk HP ini. Ketik tahun lahir pemohon (4 angka):\n"
    "0 Kembali 00 Menu"
)
WRONG_YEAR = ASK_YEAR.replace("CON ", "CON Tahun lahir tidak cocok.\n")
CLOSED = (
    "END Hari ini nomor ini tidak bisa dicek lagi dari HP lain. Cek dari HP pemohon, atau "
    "tanya kantor desa."
)


@pytest.mark.usefixtures("seeded")
def test_status_lists_my_requests_and_shows_one(phone: Phone, db: Database) -> None:
    phone.number = ME
    phone.dial()
    listing = phone.press("1")
    assert listing.startswith("CON Dokumen Anda:\n")
    assert f"KTP-el ..{MY_KTP[-4:]} Siap diambil" in listing
    assert f"Kartu Keluarga ..{MY_KK[-4:]} Sedang diproses" in listing
    assert listing.endswith("9 Nomor lain\n0 Kembali 00 Menu")
    position = next(line.split(" ")[0] for line in listing.split("\n") if "KTP-el" in line)
    assert phone.press(position) == (
        f"CON KTP-el ..{MY_KTP[-4:]}\nStatus: Siap diambil\nTgl: {today_id()}\n"
        "Ambil di: Kantor Desa Tembok\nSen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama.\n"
        "0 Kembali 00 Menu"
    )
    assert phone.press("0") == listing  # back to the list without a second look-up


@pytest.mark.usefixtures("seeded")
def test_status_never_shows_a_name_or_the_full_number(phone: Phone) -> None:
    phone.number = ME
    phone.dial()
    listing = phone.press("1")
    assert MY_KTP not in listing and MY_KK not in listing


@pytest.mark.usefixtures("seeded")
def test_mistyped_request_number_is_caught_before_any_lookup(phone: Phone, app: Flask) -> None:
    phone.number = "+6281299990003"  # no requests on file: asked for a number straight away
    phone.dial()
    ask = "Ketik nomor permohonan (8 angka di tanda terima):\n0 Kembali 00 Menu"
    assert phone.press("1") == "CON " + ask
    i = next(i for i in range(7) if MY_KTP[i] != MY_KTP[i + 1])
    swapped = MY_KTP[:i] + MY_KTP[i + 1] + MY_KTP[i] + MY_KTP[i + 2 :]
    for typo in (swapped, MY_KTP[:-1], "12345678"):
        assert phone.press(typo) == "CON Nomor salah, periksa lagi.\n" + ask
    # Typos are not failed look-ups: the guard has not been touched.
    rt = app.extensions["gateway"]
    assert rt.limiter.test(rt.lookup_limit, phone.number)
    assert rt.limiter.get_window_stats(rt.lookup_limit, phone.number).remaining == 5


@pytest.mark.usefixtures("seeded")
def test_own_request_by_number(phone: Phone, db: Database) -> None:
    phone.number = ME
    phone.dial()
    phone.press("1")
    phone.press("9")
    assert phone.press(MY_KK) == (
        f"CON Kartu Keluarga ..{MY_KK[-4:]}\nStatus: Sedang diproses\n"
        f"Tgl: {today_id()}\n0 Kembali 00 Menu"
    )


@pytest.mark.usefixtures("seeded")
def test_another_phones_request_needs_the_birth_year(phone: Phone, db: Database) -> None:
    phone.number = ME
    phone.dial()
    phone.press("1")
    phone.press("9")
    assert phone.press(NEIGHBOURS_ACTA) == ASK_YEAR
    ask_year = ASK_YEAR
    assert phone.press("61") == ask_year.replace("CON ", "CON Ketik 4 angka, mis. 1956.\n")
    assert phone.press("1960") == ask_year.replace("CON ", "CON Tahun lahir tidak cocok.\n")
    assert phone.press("1961") == (
        f"CON Akta Kelahiran ..{NEIGHBOURS_ACTA[-4:]}\nStatus: Diterima\n"
        f"Tgl: {today_id()}\n0 Kembali 00 Menu"
    )


@pytest.mark.usefixtures("seeded")
def test_enumeration_guard_after_five_failed_lookups(phone: Phone, client: FlaskClient) -> None:
    phone.number = "+6281299990004"
    phone.dial()
    phone.press("1")
    unknown = [number(str(3000000 + i)) for i in range(6)]
    assert phone.press(unknown[0]).startswith("CON Nomor tidak ditemukan.\n")  # 1
    for n in unknown[1:4]:  # 2, 3, 4: after a first miss, every number asks for the year
        assert phone.press(n) == ASK_YEAR
        assert phone.press("1950") == WRONG_YEAR
        phone.press("0")
    assert phone.press(unknown[4]) == ASK_YEAR
    blocked = "END Terlalu banyak nomor salah. Coba lagi 1 jam lagi, atau tanya kantor desa."
    assert phone.press("1950") == blocked  # 5
    # A new session cannot get around it, not even with a real number.
    other = Phone(client, phone.number)
    other.dial()
    other.press("1")
    assert other.press(NEIGHBOURS_ACTA) == blocked


@pytest.mark.usefixtures("seeded")
def test_wrong_birth_years_count_towards_the_guard(phone: Phone, client: FlaskClient) -> None:
    """Five failures an hour per phone: three wrong years for one number (which closes it for
    today), then two for another."""
    phone.number = "+6281299990005"
    phone.dial()
    phone.press("1")
    phone.press(NEIGHBOURS_ACTA)
    for year in ("1900", "1901"):
        assert phone.press(year) == WRONG_YEAR
    assert phone.press("1902") == CLOSED
    again = Phone(client, phone.number)
    again.dial()
    again.press("1")
    assert again.press(number("3000001")) == ASK_YEAR
    assert again.press("1903") == WRONG_YEAR
    assert again.press("1904").startswith("END Terlalu banyak nomor salah.")
