"""Journeys 2 to 4 through POST /ussd: a home visit (Sidakep), the next village visit (Si Melik)
and the priority service's checklist by SMS. Screens are asserted exactly, and what each writes
(bookings, subscriptions, outbox rows), on both configurations."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from common.local_time import local_today
from storage import numbers, queries
from storage.db import Database
from storage.models import HomeVisitBooking, OutboxMessage, ReminderSubscription
from tests.helpers import ME, TEMBOK, Phone, count

# --- 2. Home visit (Sidakep) -----------------------------------------------------------------


def test_home_visit_for_a_new_caller_picks_district_and_village(phone: Phone, db: Database) -> None:
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
        "CON Kirim?\nRekam KTP-el, keluarga, Sakit\nDesa Tembok\nBanjar Kaja\n"
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
def test_returning_caller_skips_the_village_and_cannot_book_twice(
    phone: Phone, db: Database
) -> None:
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
    assert count(db, HomeVisitBooking) == 1
    assert count(db, OutboxMessage) == 1  # one confirmation, not two


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


def _add_visit(db: Database, days: int = 5, bring: str | None = "KK asli dan KTP lama") -> int:
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
def test_next_visit_for_my_village_and_remind_me(phone: Phone, db: Database) -> None:
    from babel.dates import format_date

    visit_id = _add_visit(db)
    day = format_date(local_today() + dt.timedelta(days=5), format="EEEE, d MMM y", locale="id")
    phone.number = ME
    phone.dial()
    assert phone.press("3") == (
        f"CON Petugas ke Desa Tembok:\n{day}\nJam 09:00-14:00\n"
        "Di Balai Desa\nBawa: KK asli dan KTP lama\n98 Lanjut\n0 Kembali 00 Menu"
    )
    # Si Melik: forms and documents go to the village office first, by VISIT_FORMS_DAYS_BEFORE
    deadline = format_date(local_today() + dt.timedelta(days=3), format="EEE, d MMM", locale="id")
    assert phone.press("98") == (
        f"CON Formulir & berkas ke kantor desa s.d. {deadline}\n"
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


def test_no_visit_scheduled_offers_notify_me(phone: Phone, db: Database) -> None:
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
    assert count(db, ReminderSubscription, kind="visit_published", visit_id=None) == 1


@pytest.mark.usefixtures("seeded")
def test_past_and_draft_visits_are_not_shown(phone: Phone, db: Database) -> None:
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


def test_priority_service_checklist_by_sms(phone: Phone, db: Database) -> None:
    phone.dial()
    assert phone.press("4") == (
        "CON Untuk pemuka agama, pembawa batita, difabel, lansia; dokumen lengkap. "
        "Di loket 1 dekat pintu masuk.\n1 Dokumen yang dibawa\n0 Kembali 00 Menu"
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
    assert count(db, OutboxMessage) == 1
