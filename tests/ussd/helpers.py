"""What the tests of /ussd share: the main menu as the caller reads it, the requests on file
(``seeded`` in conftest.py), the invariants every answer keeps, a well-formed callback, and
"remind me" on a visit's screen."""

from __future__ import annotations

from werkzeug.test import TestResponse

from common.local_time import local_today
from storage import numbers
from tests.helpers import ME, Phone, id_date

MAIN_ID = (
    "CON Adminduk Buleleng\n"
    "1 Cek status\n"
    "2 Minta petugas ke rumah\n"
    "3 Jadwal petugas ke desa\n"
    "4 Layanan prioritas\n"
    "5 Bahasa/Language\n"
    "6 Hubungi kantor"
)
MAIN_EN = (
    "CON Adminduk Buleleng\n"
    "1 Check status\n"
    "2 Ask for a home visit\n"
    "3 Village visit dates\n"
    "4 Priority service\n"
    "5 Bahasa/Language\n"
    "6 Contact the office"
)


def number(body: str) -> str:
    return numbers.with_check_digit(body)


MY_KTP = number("2000001")
MY_KK = number("2000002")
NEIGHBOURS_ACTA = number("2000003")


def today_id() -> str:
    return id_date(local_today())


SCREEN_LIMIT = 160


def check_reply(response: TestResponse) -> str:
    """The invariants every answer to the gateway keeps."""
    body = response.get_data(as_text=True)
    assert response.status_code != 500
    assert response.status_code in (200, 400), (response.status_code, body)
    assert response.mimetype == "text/plain"
    if response.status_code == 200:
        assert body.startswith(("CON ", "END ")), body
        assert len(body) <= SCREEN_LIMIT, (len(body), body)
        assert body[4:].strip(), "an empty screen"
    else:
        assert body.endswith("\n") and body.count("\n") == 1, body
        assert 0 < len(body) <= 120
    return body


# A well-formed callback, which tests spoil one field at a time
GOOD = {
    "sessionId": "ATUid_x",
    "serviceCode": "*123#",
    "phoneNumber": ME,
    "networkCode": "51010",
    "text": "",
}


def remind_me(phone: Phone) -> str:
    phone.dial()
    assert phone.press("3").startswith("CON ")
    return phone.press("1")
