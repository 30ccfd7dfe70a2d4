"""A drawer of SIM cards cannot read a document's status (issue 10, item 1), on both
configurations: wrong birth years are counted per request number and day, whatever phones type
them; past LOOKUP_WRONG_YEARS_PER_NUMBER (3) the number answers no remote look-up until the next
day, and its applicant is told once. The applicant's own phone is never stopped."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import gateway.lookup_guard
from common.local_time import local_today
from flows.services import RemoteLookupsClosed
from gateway.runtime import runtime
from storage.db import Database
from storage.models import OutboxMessage
from tests.helpers import NEIGHBOUR, Phone
from tests.ussd.helpers import NEIGHBOURS_ACTA, number, today_id

ASK_NUMBER = "CON Ketik nomor permohonan (8 angka di tanda terima):\n0 Kembali 00 Menu"
ASK_YEAR = (
    "CON Nomor ini tidak terdaftar untuk HP ini. Ketik tahun lahir pemohon (4 angka):\n"
    "0 Kembali 00 Menu"
)
WRONG_YEAR = ASK_YEAR.replace("CON ", "CON Tahun lahir tidak cocok.\n")
CLOSED = (
    "END Hari ini nomor ini tidak bisa dicek lagi dari HP lain. Cek dari HP pemohon, atau "
    "tanya kantor desa."
)
DETAIL = (
    f"CON Akta Kelahiran ..{NEIGHBOURS_ACTA[-4:]}\nStatus: Diterima\nTgl: {today_id()}\n"
    "0 Kembali 00 Menu"
)
WARNING = (
    f"Adminduk Buleleng: ada yang mencoba cek permohonan ..{NEIGHBOURS_ACTA[-4:]} Anda dari HP "
    "lain dengan tahun lahir salah. Hari ini hanya bisa dicek dari HP Anda."
)
BIRTH_YEAR = 1961  # the neighbour's, in the ``seeded`` fixture


def rotating_phones(count: int) -> list[str]:
    return [f"+628129998{i:04d}" for i in range(count)]


def check_a_document(phone: Phone) -> None:
    """Dial (a new session, not the resume offer) and choose "check a document"."""
    if phone.dial().startswith("CON Lanjutkan yang tadi?"):
        phone.press("2")  # start afresh
    assert phone.press("1") == ASK_NUMBER  # none of these phones has a request


def guess(client: FlaskClient, phone_number: str, request_number: str, year: int) -> str:
    """One try from a phone: dial, check a document, type the number, then the year."""
    phone = Phone(client, phone_number)
    check_a_document(phone)
    screen = phone.press(request_number)
    if screen != ASK_YEAR:
        return screen
    return phone.press(str(year))


def warnings_sent(db: Database) -> list[tuple[str, str, str, bool]]:
    with db.begin() as session:
        return [
            (m.recipient, m.kind, m.body, m.urgent)
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.like("lookup-warning:%"))
            )
        ]


@pytest.mark.usefixtures("seeded")
def test_a_hunt_from_40_rotating_phones_never_finds_the_birth_year(
    client: FlaskClient, db: Database
) -> None:
    """On the code before this change, 40 phones with 5 failures an hour each found 1961 at
    the 62nd guess; now the number closes after 3 wrong years and stays closed today."""
    phones = rotating_phones(40)
    answers: list[str] = []
    for i, year in enumerate(range(1900, 2020)):  # 120 guesses, the right year among them
        answer = guess(client, phones[i % len(phones)], NEIGHBOURS_ACTA, year)
        assert answer != DETAIL, f"the hunt found the birth year at guess {i + 1}"
        answers.append(answer)
    assert answers[:2] == [WRONG_YEAR, WRONG_YEAR]
    assert answers[2:] == [CLOSED] * 118  # the third wrong year closed it
    # The applicant is told once that someone tried, in their language, not at night.
    assert warnings_sent(db) == [(NEIGHBOUR, "notification", WARNING, False)]
    # ... and their own phone still reads their request.
    owner = Phone(client, NEIGHBOUR)
    owner.dial()
    listing = owner.press("1")
    assert f"Akta Kelahiran ..{NEIGHBOURS_ACTA[-4:]} Diterima" in listing
    owner.press("9")
    assert owner.press(NEIGHBOURS_ACTA) == DETAIL
    # Another phone with the right year waits for tomorrow today: the price of the lock.
    assert guess(client, "+6281299970001", NEIGHBOURS_ACTA, BIRTH_YEAR) == CLOSED


@pytest.mark.usefixtures("seeded")
def test_tomorrow_the_number_answers_again_and_a_new_hunt_is_told_again(
    client: FlaskClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = "+6281299970002"
    for year in (1950, 1951, 1952):
        guess(client, rotating_phones(3)[year - 1950], NEIGHBOURS_ACTA, year)
    assert guess(client, family, NEIGHBOURS_ACTA, BIRTH_YEAR) == CLOSED
    tomorrow = local_today() + dt.timedelta(days=1)
    monkeypatch.setattr(gateway.lookup_guard, "local_today", lambda: tomorrow)
    monkeypatch.setattr("gateway.caller.local_today", lambda: tomorrow)
    # A right year does not use up the day's wrong years.
    for _ in range(4):
        assert guess(client, family, NEIGHBOURS_ACTA, BIRTH_YEAR).startswith(
            "CON Akta Kelahiran .."
        )
    for year in (1953, 1954):
        assert guess(client, rotating_phones(10)[year - 1950], NEIGHBOURS_ACTA, year) == (
            WRONG_YEAR
        )
    assert guess(client, rotating_phones(10)[9], NEIGHBOURS_ACTA, 1955) == CLOSED
    assert len(warnings_sent(db)) == 2  # one per day


@pytest.mark.usefixtures("seeded")
def test_guesses_arriving_together_get_no_more_than_the_limit_checked(
    app: Flask, db: Database
) -> None:
    """Twenty phones typing a year at the same moment: each guess takes its slot before its
    year is checked, so three wrong years are checked and the rest are refused unchecked."""
    rt = runtime(app)
    outcomes: list[str] = []
    start = threading.Barrier(20)

    def one(phone_number: str, year: int) -> None:
        services = rt.services(phone_number, {"lang": None, "village": None})
        start.wait()
        try:
            found = services.verified_request(NEIGHBOURS_ACTA, year)
            outcomes.append("wrong" if found is None else "found")
        except RemoteLookupsClosed:
            outcomes.append("closed")

    threads = [
        threading.Thread(target=one, args=(phone_number, 1900 + i))
        for i, phone_number in enumerate(rotating_phones(20))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == {"wrong": 3, "closed": 17}
    assert len(warnings_sent(db)) == 1


@pytest.mark.usefixtures("seeded")
def test_after_a_first_miss_an_unknown_number_looks_like_another_phones(
    client: FlaskClient, db: Database
) -> None:
    """ "Nomor ini milik HP lain" told a phone that a number exists before anything was
    counted. Now, once a phone has missed, any number not its own asks for the year and
    refuses a wrong one alike; closed, they look alike too."""
    prober = Phone(client, "+6281299970003")
    check_a_document(prober)
    assert prober.press(number("3000000")).startswith("CON Nomor tidak ditemukan.\n")
    screens = {}
    for label, request_number in (("real", NEIGHBOURS_ACTA), ("unknown", number("3000001"))):
        check_a_document(prober)
        screens[label] = (prober.press(request_number), prober.press("1900"))
    assert screens["real"] == screens["unknown"] == (ASK_YEAR, WRONG_YEAR)
    unknown = number("3000002")
    for i, year in enumerate((1900, 1901, 1902)):  # other phones close both numbers
        phone_number = rotating_phones(3)[i]
        first_miss = guess(client, phone_number, number("3000009"), year)
        assert first_miss.startswith("CON Nomor tidak ditemukan.")
        for request_number in (NEIGHBOURS_ACTA, unknown):
            guess(client, phone_number, request_number, year)
    closed = []
    for request_number in (NEIGHBOURS_ACTA, unknown):
        check_a_document(prober)
        closed.append(prober.press(request_number))
    assert closed == [CLOSED, CLOSED]
    assert len(warnings_sent(db)) == 1  # nobody to tell about the unknown number
