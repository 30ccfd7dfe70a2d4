"""Issue 11 through POST /ussd, on both configurations: "Hubungi kantor" (the office's details
from the settings) and "Minta ditelepon petugas" (a call-back request row and its SMS); open
home-visit bookings listed under "Cek status" and cancelled by the caller after a confirmation;
the input slips refused (a navigation code or digits as a hamlet's name, a doubled "Banjar", a
number from a page not yet shown)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from common.local_time import LOCAL_TZ, local_today
from storage import queries
from storage.db import Database
from storage.models import AuditEntry, CallbackRequest, HomeVisitBooking, OutboxMessage
from tests.helpers import (
    ME,
    NEIGHBOUR,
    TEMBOK,
    Phone,
    count,
    en_date,
    id_date,
    resident,
    short_id,
)
from tests.ussd.helpers import MAIN_ID, MY_KK, MY_KTP

CONTACT_ID = (
    "CON Disdukcapil Kab. Buleleng\nKantor Disdukcapil, Singaraja\nBuka Sen-Jum 08.00-15.00\n"
    "Telp (0362) 000000\n1 Minta ditelepon petugas\n0 Kembali 00 Menu"
)
CONTACT_EN = (
    "CON Disdukcapil Kab. Buleleng\nKantor Disdukcapil, Singaraja\nOpen Mon-Fri 08:00-15:00\n"
    "Tel (0362) 000000\n1 Ask staff to call me\n0 Back 00 Menu"
)

# --- "Hubungi kantor" and call-back requests --------------------------------------------------


def test_contact_the_office_and_ask_to_be_called(phone: Phone, db: Database) -> None:
    assert phone.dial() == MAIN_ID
    assert phone.press("6") == CONTACT_ID
    assert phone.press("1") == (
        "CON Petugas menelepon nomor ini. Tentang apa?\n1 Status dokumen\n2 Petugas ke rumah\n"
        "3 Jadwal ke desa\n4 Lainnya\n0 Kembali 00 Menu"
    )
    assert phone.press("2") == (
        "END Diterima. Petugas menelepon Anda dalam 1 hari kerja, pada jam kerja "
        "(Sen-Jum 08.00-15.00). SMS menyusul."
    )
    with db.begin() as session:
        asked = session.scalars(select(CallbackRequest)).one()
        sms = session.scalars(select(OutboxMessage)).one()
    assert (asked.phone, asked.reason, asked.language, asked.channel, asked.status) == (
        ME,
        "home_visit",
        "id",
        "ussd",
        "open",
    )
    assert (sms.recipient, sms.kind, sms.urgent, sms.status) == (ME, "notification", True, "queued")
    assert sms.body == (
        "Adminduk Buleleng: permintaan ditelepon diterima. Petugas menelepon nomor ini dalam 1 "
        "hari kerja, jam kerja Sen-Jum 08.00-15.00. Kantor: (0362) 000000"
    )
    assert sms.segments == 1
    # Asking again while it waits: told when it was asked, no second row, no second SMS.
    phone.dial()
    for key in ("6", "1"):
        phone.press(key)
    assert phone.press("4") == (
        f"END Anda sudah minta ditelepon pada {id_date(local_today())}. Petugas menelepon Anda "
        "dalam 1 hari kerja."
    )
    assert (count(db, CallbackRequest), count(db, OutboxMessage)) == (1, 1)


def test_contact_the_office_in_english(phone: Phone, db: Database) -> None:
    resident(db, phone.number, language="en")
    phone.dial()
    assert phone.press("6") == CONTACT_EN
    assert phone.press("1") == (
        "CON Staff will call this number. About what?\n1 Document status\n2 Home visit\n"
        "3 Village visit dates\n4 Other\n0 Back 00 Menu"
    )
    assert phone.press("1") == (
        "END Received. Staff will call you within 1 working day, in office hours "
        "(Mon-Fri 08:00-15:00). SMS follows."
    )
    with db.begin() as session:
        sms = session.scalars(select(OutboxMessage)).one()
        asked = session.scalars(select(CallbackRequest)).one()
    assert (asked.reason, asked.language) == ("document_status", "en")
    assert sms.body == (
        "Adminduk Buleleng: call-back request received. Staff will call this number within 1 "
        "working day, office hours Mon-Fri 08:00-15:00. Office: (0362) 000000"
    )
    phone.dial()
    for key in ("6", "1"):
        phone.press(key)
    assert phone.press("3") == (
        f"END You already asked for a call on {en_date(local_today())}. Staff will call you "
        "within 1 working day."
    )


def test_the_office_details_are_settings(app_config: dict[str, object]) -> None:
    from flask.testing import FlaskClient

    from gateway import create_app

    app = create_app(
        {
            "TESTING": True,
            **app_config,
            "OFFICE_NAME": "Disdukcapil",
            "OFFICE_ADDRESS": "Jl. Contoh 1, Singaraja",
            "OFFICE_PHONE": "0362 111",
            "OFFICE_HOURS": "Senin-Kamis 08.00-14.00",  # one text for every language
            "CALLBACK_PROMISE": {"id": "hari ini"},  # another language reads Indonesian's
        }
    )
    try:
        client: FlaskClient = app.test_client()
        phone = Phone(client, NEIGHBOUR)
        phone.dial()
        assert phone.press("6") == (
            "CON Disdukcapil\nJl. Contoh 1, Singaraja\nBuka Senin-Kamis 08.00-14.00\n"
            "Telp 0362 111\n1 Minta ditelepon petugas\n0 Kembali 00 Menu"
        )
        phone.press("1")
        assert phone.press("4") == (
            "END Diterima. Petugas menelepon Anda hari ini, pada jam kerja "
            "(Senin-Kamis 08.00-14.00). SMS menyusul."
        )
    finally:
        app.extensions["gateway"].db.dispose()


# --- bookings under "Cek status" and the caller's cancel ----------------------------------------


def _booking(db: Database, phone: str, scheduled: bool) -> str:
    with db.begin() as session:
        booking, _ = queries.create_booking(
            session,
            phone=phone,
            for_whom="self",
            reason="sick",
            service="ktp",
            village_code=TEMBOK,
            hamlet=None,
        )
        if scheduled:
            day = local_today() + dt.timedelta(days=3)
            booking.status = "scheduled"
            booking.scheduled_for = dt.datetime.combine(day, dt.time(10), LOCAL_TZ).astimezone(
                dt.UTC
            )
            booking.team = "Tim A"
        return booking.number


@pytest.mark.usefixtures("seeded")
def test_a_scheduled_booking_is_listed_and_cancelled_by_the_caller(
    phone: Phone, db: Database
) -> None:
    number = _booking(db, ME, scheduled=True)
    _booking(db, NEIGHBOUR, scheduled=False)  # not mine: not listed
    day = id_date(local_today() + dt.timedelta(days=3))
    phone.dial()
    listing = phone.press("1")
    # after the document requests (whose order is the seed's), in a short date
    assert listing.startswith("CON Dokumen Anda:\n1 ")
    assert f" KTP-el ..{MY_KTP[-4:]} Siap diambil\n" in listing
    assert f" Kartu Keluarga ..{MY_KK[-4:]} Sedang diproses\n" in listing
    assert listing.endswith(
        f"\n3 Ke rumah ..{number[-4:]} dijadwalkan {short_id(local_today() + dt.timedelta(3))}\n"
        "9 Nomor lain\n0 Kembali 00 Menu"
    )
    assert phone.press("3") == (
        f"CON Petugas ke rumah no. {number}\nRekam KTP-el\nStatus: dijadwalkan {day}\n"
        "Jam 10:00\nTim: Tim A\n1 Batalkan permintaan\n0 Kembali 00 Menu"
    )
    assert phone.press("1") == (
        f"CON Yakin batalkan permintaan petugas ke rumah no. {number}?\n1 Ya, batalkan\n"
        "0 Kembali 00 Menu"
    )
    assert phone.press("0").startswith(f"CON Petugas ke rumah no. {number}")  # not yet
    phone.press("1")
    assert count(db, HomeVisitBooking, status="cancelled") == 0
    assert phone.press("1") == (
        f"END Permintaan no. {number} dibatalkan. SMS menyusul. Bila perlu, minta lagi lewat menu."
    )
    with db.begin() as session:
        booking = session.scalars(
            select(HomeVisitBooking).where(HomeVisitBooking.number == number)
        ).one()
        entry = session.scalars(select(AuditEntry)).one()
        sms = session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == f"booking:{number}:cancelled")
        ).one()
    assert booking.status == "cancelled"
    # Staff see who cancelled it: the resident, not a member of staff.
    assert (entry.actor, entry.action, entry.entity, entry.entity_id) == (
        "resident",
        "booking.cancelled",
        "home_visit_booking",
        number,
    )
    assert (json.loads(entry.before or ""), json.loads(entry.after or "")) == (
        {"status": "scheduled"},
        {"status": "cancelled"},
    )
    assert (sms.recipient, sms.kind) == (ME, "notification")
    assert sms.body == (
        f"Adminduk Buleleng: kunjungan petugas nomor {number} dibatalkan. Tanya kantor desa bila "
        "perlu."
    )
    # A cancelled booking is no longer listed.
    phone.dial()
    assert "Ke rumah" not in phone.press("1")


def test_an_unscheduled_booking_in_english_and_a_booking_closed_meanwhile(
    phone: Phone, db: Database
) -> None:
    resident(db, ME, language="en")
    number = _booking(db, ME, scheduled=False)
    phone.dial()
    # No document requests: the booking alone is listed.
    assert phone.press("1") == (
        f"CON Your documents:\n1 Home visit ..{number[-4:]} waiting for a date\n"
        "9 Other number\n0 Back 00 Menu"
    )
    assert phone.press("1") == (
        f"CON Home visit no. {number}\nID card recording\nStatus: waiting for a date\n"
        "1 Cancel the request\n0 Back 00 Menu"
    )
    assert phone.press("1") == (
        f"CON Cancel home visit request no. {number}?\n1 Yes, cancel it\n0 Back 00 Menu"
    )
    with db.begin() as session:  # staff close it while the caller reads
        session.scalars(
            select(HomeVisitBooking).where(HomeVisitBooking.number == number)
        ).one().status = "done"
    assert phone.press("1") == f"END Request no. {number} is already done."
    assert count(db, AuditEntry) == 0


# --- input slips --------------------------------------------------------------------------------


def _to_hamlet(phone: Phone) -> str:
    phone.dial()
    for key in ("2", "1", "1"):  # myself, sick
        phone.press(key)
    return phone.press("1")  # KTP-el: the village is remembered


@pytest.mark.parametrize("typed", ["98", "99", "000", "12 34", "1-2"])
def test_a_hamlet_name_is_not_a_key_or_a_number(phone: Phone, db: Database, typed: str) -> None:
    resident(db, ME)
    hamlet = _to_hamlet(phone)
    assert hamlet == "CON Ketik nama banjar/dusun:\n1 Lewati\n0 Kembali 00 Menu"
    assert phone.press(typed) == hamlet.replace("CON ", "CON Ketik nama, bukan angka.\n")
    assert count(db, HomeVisitBooking) == 0


def test_a_hamlet_name_slip_in_english(phone: Phone, db: Database) -> None:
    resident(db, ME, language="en")
    _to_hamlet(phone)
    assert phone.press("98") == (
        "CON Type a name, not digits.\nType your banjar/dusun:\n1 Skip\n0 Back 00 Menu"
    )


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("Banjar Dinas Tembok", "Banjar Dinas Tembok"),
        ("banjar kaja", "banjar kaja"),
        ("Dusun Kelod", "Dusun Kelod"),
        ("Br. Kauh", "Br. Kauh"),
        ("Kaja 2", "Banjar Kaja 2"),
    ],
)
def test_a_typed_prefix_is_not_doubled(phone: Phone, db: Database, typed: str, shown: str) -> None:
    resident(db, ME)
    _to_hamlet(phone)
    assert phone.press(typed) == (
        f"CON Kirim?\nRekam KTP-el, diri sendiri, Sakit\nDesa Tembok\n{shown}\n"
        "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
    )


def test_a_paged_list_accepts_only_the_numbers_it_has_shown(phone: Phone) -> None:
    phone.number = "+6281299990008"  # a newcomer: the village picker
    phone.dial()
    phone.press("3")  # next village visit
    first = phone.press("6")  # Buleleng district: 29 villages, several pages
    assert first.startswith("CON Pilih desa:\n1 ") and "\n98 Lanjut\n" in first
    last_shown = int(first.split("\n98 Lanjut")[0].rsplit("\n", 1)[1].split(" ")[0])
    unseen = str(last_shown + 1)
    assert phone.press(unseen) == first.replace("CON ", "CON Pilih nomor yang tampil.\n")
    second = phone.press("98")
    assert second.startswith(f"CON {unseen} ")
    assert phone.press(unseen).startswith("CON Belum ada jadwal petugas ke Desa ")  # now seen


def test_a_number_from_an_earlier_page_is_still_accepted(phone: Phone) -> None:
    phone.number = "+6281299990008"
    phone.dial()
    phone.press("3")
    phone.press("6")
    phone.press("98")
    assert phone.press("1").startswith("CON Belum ada jadwal petugas ke Desa ")


# --- the registry's rules: home-visit reasons ---------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason", "label"), [("4", "poor", "Miskin"), ("5", "new_ktp_age", "Baru wajib KTP")]
)
def test_home_visits_for_the_poor_and_the_newly_of_ktp_age(
    phone: Phone, db: Database, key: str, reason: str, label: str
) -> None:
    resident(db, ME)
    phone.dial()
    phone.press("2")
    phone.press("2")  # a family member
    phone.press(key)
    phone.press("1")  # KTP-el recording
    assert phone.press("1") == (
        f"CON Kirim?\nRekam KTP-el, keluarga, {label}\nDesa Tembok\n"
        "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
    )
    assert phone.press("1").startswith("END Diterima. Nomor: ")
    with db.begin() as session:
        assert session.scalars(select(HomeVisitBooking.reason)).one() == reason


# --- key presses a returning caller needs (docs/product.md) -----------------------------------


@pytest.mark.usefixtures("seeded")
def test_key_presses_of_a_returning_caller_stay_few(phone: Phone, db: Database) -> None:
    """The next visit's date: 1 key (2 to be reminded); a home visit: 6 keys."""
    with db.begin() as session:
        queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=5),
            start_time=dt.time(9),
            end_time=dt.time(14),
            place="Balai Desa",
            bring="KK asli dan KTP lama",
        )
    phone.dial()
    assert phone.press("3").startswith("CON Petugas ke Desa Tembok:\n")
    assert phone.press("1").startswith("END Baik. Kami kirim SMS pengingat")
    assert len(phone.inputs) == 2
    phone.dial()
    for key in ("2", "1", "1", "1", "1"):  # myself, sick, KTP-el, (village known), no hamlet
        phone.press(key)
    assert phone.press("1").startswith("END Diterima. Nomor: ")
    assert len(phone.inputs) == 6
