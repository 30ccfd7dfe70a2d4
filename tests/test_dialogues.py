"""Every resident journey of SPEC §3, dialled through POST /ussd, on both configurations.

Screens are asserted exactly, as the caller reads them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import func, select

from common.local_time import local_today
from storage import numbers, queries
from storage.models import HomeVisitBooking, OutboxMessage, ReminderSubscription, Resident
from tests.conftest import Phone

TEMBOK = "51.08.09.2010"
ME = "+6281299990001"
NEIGHBOUR = "+6281299990002"

MAIN_ID = (
    "CON Adminduk Buleleng\n"
    "1 Cek status dokumen\n"
    "2 Minta petugas ke rumah\n"
    "3 Jadwal petugas ke desa\n"
    "4 Layanan prioritas\n"
    "5 Bahasa/Language"
)
MAIN_EN = (
    "CON Adminduk Buleleng\n"
    "1 Check document status\n"
    "2 Ask for a home visit\n"
    "3 Village visit dates\n"
    "4 Priority service\n"
    "5 Bahasa/Language"
)


def number(body: str) -> str:
    return numbers.with_check_digit(body)


MY_KTP = number("2000001")
MY_KK = number("2000002")
NEIGHBOURS_ACTA = number("2000003")


@pytest.fixture
def db(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["gateway"].db


@pytest.fixture
def seeded(db) -> None:  # type: ignore[no-untyped-def]
    """Me: a resident of Tembok with two requests. My neighbour: one request."""
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="id")
        queries.add_request(
            session,
            doc_type="ktp",
            phone=ME,
            birth_year=1950,
            village_code=TEMBOK,
            status="ready",
            number=MY_KTP,
            pickup_place="Kantor Desa Tembok",
        )
        queries.add_request(
            session,
            doc_type="kk",
            phone=ME,
            birth_year=1950,
            village_code=TEMBOK,
            status="processing",
            number=MY_KK,
        )
        queries.add_request(
            session,
            doc_type="birth_cert",
            phone=NEIGHBOUR,
            birth_year=1961,
            village_code=TEMBOK,
            status="submitted",
            number=NEIGHBOURS_ACTA,
        )


def today_id(db) -> str:  # type: ignore[no-untyped-def]
    from babel.dates import format_date

    return format_date(local_today(), format="EEEE, d MMM y", locale="id")


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
        "CON Alasannya?\n1 Sakit\n2 Disabilitas\n3 Lansia\n4 Lainnya\n0 Kembali 00 Menu"
    )
    assert phone.press("0").startswith("CON Petugas datang untuk siapa?")
    assert phone.press("1").startswith("CON Alasannya?")
    assert phone.press("00") == MAIN_ID
    assert phone.press("0") == MAIN_ID  # back from the main menu stays there


# --- 1. Document status ----------------------------------------------------------------------


@pytest.mark.usefixtures("seeded")
def test_status_lists_my_requests_and_shows_one(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.number = ME
    phone.dial()
    listing = phone.press("1")
    assert listing.startswith("CON Dokumen Anda:\n")
    assert f"KTP-el ..{MY_KTP[-4:]} Siap diambil" in listing
    assert f"Kartu Keluarga ..{MY_KK[-4:]} Sedang diproses" in listing
    assert listing.endswith("9 Nomor lain\n0 Kembali 00 Menu")
    position = next(line.split(" ")[0] for line in listing.split("\n") if "KTP-el" in line)
    assert phone.press(position) == (
        f"CON KTP-el ..{MY_KTP[-4:]}\nStatus: Siap diambil\nTgl: {today_id(db)}\n"
        "Ambil di: Kantor Desa Tembok\n0 Kembali 00 Menu"
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
def test_own_request_by_number(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.number = ME
    phone.dial()
    phone.press("1")
    phone.press("9")
    assert phone.press(MY_KK) == (
        f"CON Kartu Keluarga ..{MY_KK[-4:]}\nStatus: Sedang diproses\n"
        f"Tgl: {today_id(db)}\n0 Kembali 00 Menu"
    )


@pytest.mark.usefixtures("seeded")
def test_another_phones_request_needs_the_birth_year(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.number = ME
    phone.dial()
    phone.press("1")
    phone.press("9")
    ask_year = (
        "CON Nomor ini milik HP lain. Ketik tahun lahir pemohon (4 angka):\n0 Kembali 00 Menu"
    )
    assert phone.press(NEIGHBOURS_ACTA) == ask_year
    assert phone.press("61") == ask_year.replace("CON ", "CON Ketik 4 angka, mis. 1956.\n")
    assert phone.press("1960") == ask_year.replace("CON ", "CON Tahun lahir tidak cocok.\n")
    assert phone.press("1961") == (
        f"CON Akta Kelahiran ..{NEIGHBOURS_ACTA[-4:]}\nStatus: Diterima\n"
        f"Tgl: {today_id(db)}\n0 Kembali 00 Menu"
    )


@pytest.mark.usefixtures("seeded")
def test_enumeration_guard_after_five_failed_lookups(phone: Phone, client) -> None:  # type: ignore[no-untyped-def]
    phone.number = "+6281299990004"
    phone.dial()
    phone.press("1")
    unknown = [number(str(3000000 + i)) for i in range(6)]
    for n in unknown[:4]:
        assert phone.press(n).startswith("CON Nomor tidak ditemukan.\n")
    blocked = "END Terlalu banyak nomor salah. Coba lagi 1 jam lagi, atau tanya kantor desa."
    assert phone.press(unknown[4]) == blocked
    # A new session cannot get around it, not even with a real number.
    other = Phone(client, phone.number)
    other.dial()
    other.press("1")
    assert other.press(NEIGHBOURS_ACTA) == blocked


@pytest.mark.usefixtures("seeded")
def test_wrong_birth_years_count_towards_the_guard(phone: Phone) -> None:
    phone.number = "+6281299990005"
    phone.dial()
    phone.press("1")
    phone.press(NEIGHBOURS_ACTA)
    for year in ("1900", "1901", "1902", "1903"):
        assert phone.press(year).startswith("CON Tahun lahir tidak cocok.")
    assert phone.press("1904").startswith("END Terlalu banyak nomor salah.")


# --- 2. Home visit (Sidakep) -----------------------------------------------------------------


def _count(db, model, **where) -> int:  # type: ignore[no-untyped-def]
    with db.begin() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(session.scalar(query) or 0)


def test_home_visit_for_a_new_caller_picks_district_and_village(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.number = "+6281299990006"
    phone.dial()
    phone.press("2")
    phone.press("2")  # a family member
    phone.press("1")  # sick
    districts = phone.press("1")  # KTP-el recording
    assert districts == (
        "CON Pilih kecamatan:\n1 Gerokgak\n2 Seririt\n3 Busungbiu\n4 Banjar\n"
        "5 Sukasada\n6 Buleleng\n7 Sawan\n8 Kubutambahan\n9 Tejakula\n"
        "0 Kembali 00 Menu"
    )
    villages = phone.press("9")  # Tejakula: 10 villages, one page
    assert villages == (
        "CON Pilih desa:\n1 Bondalem\n2 Julah\n3 Les\n4 Madenan\n5 Pacung\n"
        "6 Penuktukan\n7 Sambirenteng\n8 Sembiran\n9 Tejakula\n10 Tembok\n"
        "0 Kembali 00 Menu"
    )
    assert phone.press("11") == villages.replace("CON ", "CON Pilihan salah.\n")
    assert phone.press("10") == "CON Ketik nama banjar/dusun:\n1 Lewati\n0 Kembali 00 Menu"
    assert phone.press("Banjar Kaja") == (
        "CON Kirim?\nRekam KTP-el, keluarga, Sakit\nDesa Tembok\nBanjar Banjar Kaja\n"
        "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
    )
    done = phone.press("1")
    with db.begin() as session:
        booking = session.scalars(select(HomeVisitBooking)).one()
        sms = session.scalars(select(OutboxMessage)).one()
        resident = queries.get_resident(session, phone.number)
    assert done == (
        f"END Diterima. Nomor: {booking.number}. Petugas akan menelepon Anda untuk "
        "jadwalnya. SMS menyusul."
    )
    assert numbers.is_well_formed(booking.number)
    assert (
        booking.phone,
        booking.for_whom,
        booking.reason,
        booking.service,
        booking.village_code,
        booking.hamlet,
        booking.status,
    ) == (phone.number, "family", "sick", "ktp", TEMBOK, "Banjar Kaja", "requested")
    assert sms.recipient == phone.number and booking.number in sms.body
    assert sms.status == "queued" and sms.kind == "notification"
    assert resident is not None and resident.village_code == TEMBOK  # remembered


@pytest.mark.usefixtures("seeded")
def test_returning_caller_skips_the_village_and_cannot_book_twice(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.number = ME
    for _ in range(2):
        phone.dial()
        for key in ("2", "1", "3", "2"):  # myself, elderly, family card
            phone.press(key)
        confirm = phone.press("1")  # skip the hamlet: village remembered, no picker
        assert confirm == (
            "CON Kirim?\nKartu Keluarga, diri sendiri, Lansia\nDesa Tembok\n"
            "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
        )
        result = phone.press("1")
    booking_number = result.split("nomor ")[1].split(",")[0]
    assert result == (
        f"END Anda sudah minta Kartu Keluarga, nomor {booking_number}, menunggu "
        "jadwal. Petugas akan menghubungi Anda."
    )
    assert _count(db, HomeVisitBooking) == 1
    assert _count(db, OutboxMessage) == 1  # one confirmation, not two


@pytest.mark.usefixtures("seeded")
def test_change_village_on_the_confirm_screen(phone: Phone) -> None:
    phone.number = ME
    phone.dial()
    for key in ("2", "1", "1", "4", "1"):
        phone.press(key)
    assert phone.press("2").startswith("CON Pilih kecamatan:")
    phone.press("6")  # Buleleng: 29 villages, paged
    page2 = phone.press("98")
    assert page2.startswith("CON ") and "98 Lanjut" in page2
    assert len(page2) <= 160
    assert phone.press("0").startswith("CON Pilih desa:\n1 ")  # 0 goes to the previous page


# --- 3. Next village visit (Si Melik) --------------------------------------------------------


def _add_visit(db, days: int = 5, bring: str | None = "KK asli dan KTP lama") -> int:  # type: ignore[no-untyped-def]
    with db.begin() as session:
        visit = queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=days),
            start_time=dt.time(9),
            end_time=dt.time(14),
            place="Balai Desa",
            bring=bring,
        )
        return visit.id


@pytest.mark.usefixtures("seeded")
def test_next_visit_for_my_village_and_remind_me(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    from babel.dates import format_date

    visit_id = _add_visit(db)
    day = format_date(local_today() + dt.timedelta(days=5), format="EEEE, d MMM y", locale="id")
    phone.number = ME
    phone.dial()
    assert phone.press("3") == (
        f"CON Petugas ke Desa Tembok:\n{day}\nJam 09:00-14:00\n"
        "Di Balai Desa\nBawa: KK asli dan KTP lama\n"
        "1 Ingatkan saya lewat SMS\n2 Desa lain\n0 Kembali 00 Menu"
    )
    assert phone.press("1") == f"END Baik. Kami kirim SMS pengingat sebelum {day}."
    with db.begin() as session:
        sub = session.scalars(select(ReminderSubscription)).one()
    assert (sub.phone, sub.kind, sub.visit_id, sub.village_code, sub.language) == (
        ME,
        "visit_reminder",
        visit_id,
        TEMBOK,
        "id",
    )


def test_no_visit_scheduled_offers_notify_me(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.number = "+6281299990007"
    phone.dial()
    phone.press("3")
    phone.press("9")  # Tejakula
    assert phone.press("10") == (
        "CON Belum ada jadwal petugas ke Desa Tembok.\n"
        "1 Kabari saya lewat SMS\n2 Desa lain\n0 Kembali 00 Menu"
    )
    assert phone.press("1") == (
        "END Baik. Anda dikabari lewat SMS saat jadwal ke Desa Tembok terbit."
    )
    assert _count(db, ReminderSubscription, kind="visit_published", visit_id=None) == 1


@pytest.mark.usefixtures("seeded")
def test_past_and_draft_visits_are_not_shown(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as session:
        queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() - dt.timedelta(days=1),
            start_time=dt.time(9),
            end_time=dt.time(12),
            place="Lama",
        )
        queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=2),
            start_time=dt.time(9),
            end_time=dt.time(12),
            place="Draf",
            published=False,
        )
    phone.number = ME
    phone.dial()
    assert phone.press("3").startswith("CON Belum ada jadwal petugas ke Desa Tembok.")


# --- 4. Priority service ---------------------------------------------------------------------


def test_priority_service_checklist_by_sms(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
    phone.dial()
    assert phone.press("4") == (
        "CON Layanan prioritas: lansia, difabel, pemuka agama, pembawa "
        "balita. Dokumen harus lengkap.\n1 Dokumen yang dibawa\n"
        "0 Kembali 00 Menu"
    )
    phone.press("1")
    assert phone.press("1") == (
        "CON KTP-el: KK asli. Datang sendiri untuk foto dan sidik jari."
        "\n1 Kirim daftar lewat SMS\n0 Kembali 00 Menu"
    )
    assert phone.press("1") == "END Daftar dokumen dikirim lewat SMS. Terima kasih."
    with db.begin() as session:
        sms = session.scalars(select(OutboxMessage)).one()
    assert sms.recipient == phone.number
    assert sms.body == (
        "Adminduk Buleleng. KTP-el, bawa: KK asli. Datang sendiri untuk foto dan sidik jari."
    )
    # Asking again the same day does not send a second SMS.
    phone.dial()
    for key in ("4", "1", "1", "1"):
        phone.press(key)
    assert _count(db, OutboxMessage) == 1


# --- 5. Language -----------------------------------------------------------------------------


def test_language_switch_is_remembered(phone: Phone, db) -> None:  # type: ignore[no-untyped-def]
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


# --- idempotency -----------------------------------------------------------------------------


def test_a_repeated_callback_gets_the_same_reply(phone: Phone) -> None:
    phone.dial()
    first = phone.press("2")
    assert phone.post("2") == first  # the gateway retried the same hop
    assert phone.post("2") == first
    assert phone.press("1").startswith("CON Alasannya?")  # and the session goes on from there


def test_input_containing_a_star_is_taken_whole(phone: Phone) -> None:
    phone.dial()
    phone.press("2")
    phone.press("1")
    phone.press("1")
    phone.press("1")  # village unknown: district list
    phone.press("9")
    phone.press("10")
    assert phone.press("Br*Kaja").startswith(
        "CON Kirim?\nRekam KTP-el, diri sendiri, Sakit\nDesa Tembok\nBanjar Br*Kaja\n"
    )
