"""``requests add`` and ``requests set-status``, and what the applicant is told by SMS of each
change, in their language."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from storage import numbers, queries
from storage.db import Database
from storage.models import DocumentRequest, OutboxMessage, RequestStatusChange
from tests.helpers import (
    KAYUPUTIH_SUKASADA,
    ME,
    TEMBOK,
    Phone,
    count,
    fails,
    ok,
    resident,
    rows,
    run,
)

# --- requests add ----------------------------------------------------------------------------

ADD = ("requests", "add", "--type", "ktp", "--phone", "0812-3456-7890", "--birth-year", "1956")


@pytest.mark.parametrize(
    ("village", "code"),
    [
        ("Tembok", TEMBOK),
        ("tembok", TEMBOK),
        (TEMBOK, TEMBOK),
        (KAYUPUTIH_SUKASADA, KAYUPUTIH_SUKASADA),
    ],
)
def test_requests_add_prints_a_well_formed_number(
    runner: Any, db: Database, village: str, code: str
) -> None:
    out = ok(run(runner, *ADD, "--village", village))
    assert re.fullmatch(r"\d{8}\n", out)
    number = out.strip()
    assert numbers.is_well_formed(number)
    with db.begin() as session:
        request = queries.find_request(session, number)
        assert request is not None
        assert (
            request.doc_type,
            request.applicant_phone,
            request.applicant_birth_year,
            request.village_code,
            request.status,
        ) == ("ktp", "+6281234567890", 1956, code, "submitted")
        assert [h.status for h in request.history] == ["submitted"]


def test_requests_add_with_number_status_and_pickup(runner: Any, db: Database) -> None:
    number = numbers.with_check_digit("3141592")
    out = ok(
        run(
            runner,
            *ADD,
            "--village",
            "Tembok",
            "--number",
            number,
            "--status",
            "ready",
            "--pickup",
            "Kantor Desa Tembok",
        )
    )
    assert out == number + "\n"
    with db.begin() as session:
        request = queries.find_request(session, number)
        assert request is not None
        assert (request.status, request.pickup_place) == ("ready", "Kantor Desa Tembok")


VALID = numbers.with_check_digit("3141592")
WRONG_CHECK = VALID[:-1] + str((int(VALID[-1]) + 1) % 10)
NEXT_YEAR = str(dt.date.today().year + 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--village", "Kayuputih"),
            "'Kayuputih' names 2 villages; use a code: "
            "51.08.04.2003 (Banjar), 51.08.05.2015 (Sukasada)",
        ),
        (("--village", "Atlantis"), "no village with code or name 'Atlantis'"),
        (("--village", "51.08.09"), "no village with code or name '51.08.09'"),  # a district
        (("--village", "Tembok", "--phone", "12"), "'12' is not a valid phone number"),
        (("--village", "Tembok", "--phone", "+1 555"), "'+1 555' is not a valid phone number"),
        (
            ("--village", "Tembok", "--number", WRONG_CHECK),
            f"'{WRONG_CHECK}' is not a valid request number (8 digits with a check digit)",
        ),
        (("--village", "Tembok", "--number", VALID[:-1]), "is not a valid request number"),
        (("--village", "Tembok", "--number", "abcdefgh"), "is not a valid request number"),
        (("--village", "Tembok", "--type", "passport"), "'passport' is not one of 'ktp', 'kk'"),
        (
            ("--village", "Tembok", "--birth-year", NEXT_YEAR),
            f"birth year {NEXT_YEAR} is not between 1900 and {dt.date.today().year}",
        ),
        (("--village", "Tembok", "--birth-year", "1066"), "birth year 1066 is not between 1900"),
        (("--village", "Tembok", "--birth-year", "-5"), "birth year -5 is not between 1900"),
        (("--village", "Tembok", "--birth-year", "nineteen"), "'nineteen' is not a valid integer"),
        (("--village", "Tembok", "--status", "lost"), "'lost' is not one of 'submitted'"),
        (
            ("--village", "Tembok", "--pickup", "x" * 121),
            "the pickup place is longer than 120 characters",
        ),
    ],
)
def test_requests_add_rejects_bad_input(
    runner: Any, db: Database, options: tuple[str, ...], message: str
) -> None:
    fails(run(runner, *ADD, *options), message)
    assert count(db, DocumentRequest) == 0
    assert count(db, RequestStatusChange) == 0


def test_requests_add_rejects_a_number_in_use(runner: Any, db: Database) -> None:
    ok(run(runner, *ADD, "--village", "Tembok", "--number", VALID))
    fails(
        run(runner, *ADD, "--village", "Tembok", "--number", VALID),
        f"request number {VALID} already exists",
    )
    assert count(db, DocumentRequest) == 1


def test_requests_add_requires_its_options(runner: Any) -> None:
    fails(run(runner, "requests", "add", "--type", "ktp"), "Missing option")


# --- requests set-status ---------------------------------------------------------------------


@pytest.fixture
def request_number(runner: Any) -> str:
    return ok(run(runner, *ADD, "--village", "Tembok")).strip()


def _history(db: Database, number: str) -> list[tuple[str, str | None]]:
    with db.begin() as session:
        request = queries.find_request(session, number)
        assert request is not None
        return [(h.status, h.pickup_place) for h in request.history]


def test_set_status(runner: Any, db: Database, request_number: str) -> None:
    notified = "; the resident is notified by SMS\n"
    assert ok(run(runner, "requests", "set-status", request_number, "processing")) == (
        f"{request_number}: processing" + notified
    )
    assert ok(
        run(
            runner,
            "requests",
            "set-status",
            request_number,
            "ready",
            "--pickup",
            "Kantor Desa Tembok",
        )
    ) == (f"{request_number}: ready (collect at Kantor Desa Tembok)" + notified)
    assert ok(run(runner, "requests", "set-status", request_number, "collected")) == (
        f"{request_number}: collected (collect at Kantor Desa Tembok)" + notified
    )
    assert _history(db, request_number) == [
        ("submitted", None),
        ("processing", None),
        ("ready", "Kantor Desa Tembok"),
        ("collected", "Kantor Desa Tembok"),
    ]
    with db.begin() as session:
        sms = [
            (m.kind, m.body)
            for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    assert sms == [
        (
            "notification",
            f"Adminduk Buleleng: permohonan KTP-el Anda terdaftar, nomor {request_number}. "
            "Cek status di *123#.",
        ),
        ("notification", f"Adminduk Buleleng: KTP-el no. {request_number}: Sedang diproses."),
        (
            "notification",
            f"Adminduk Buleleng: KTP-el no. {request_number}: Siap diambil. "
            "Ambil di Kantor Desa Tembok. Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama.",
        ),
        ("notification", f"Adminduk Buleleng: KTP-el no. {request_number}: Sudah diambil."),
    ]


def test_set_status_of_an_unknown_number(runner: Any, request_number: str) -> None:
    unknown = numbers.with_check_digit("9999999")
    assert unknown != request_number
    fails(
        run(runner, "requests", "set-status", unknown, "ready"), f"no request with number {unknown}"
    )


@pytest.mark.parametrize("number", ["12345678", "1234", "abcdefgh", ""])
def test_set_status_of_a_malformed_number(
    runner: Any, db: Database, request_number: str, number: str
) -> None:
    fails(
        run(runner, "requests", "set-status", number, "ready"),
        f"'{number}' is not a valid request number",
    )
    assert _history(db, request_number) == [("submitted", None)]


def test_set_status_with_a_mistyped_digit_is_refused(
    runner: Any, db: Database, request_number: str
) -> None:
    swapped = request_number[1] + request_number[0] + request_number[2:]
    if swapped == request_number:
        swapped = request_number[:-1] + str((int(request_number[-1]) + 1) % 10)
    fails(run(runner, "requests", "set-status", swapped, "ready"), "is not a valid request number")
    assert _history(db, request_number) == [("submitted", None)]


def test_set_status_rejects_unknown_status_and_long_pickup(
    runner: Any, db: Database, request_number: str
) -> None:
    fails(
        run(runner, "requests", "set-status", request_number, "lost"),
        "'lost' is not one of 'submitted'",
    )
    fails(
        run(runner, "requests", "set-status", request_number, "ready", "--pickup", "p" * 121),
        "the pickup place is longer than 120 characters",
    )
    assert _history(db, request_number) == [("submitted", None)]


# --- what the applicant is told --------------------------------------------------------------

KTP = numbers.with_check_digit("2000001")


@pytest.mark.parametrize(
    ("language", "processing", "ready"),
    [
        (
            "id",
            f"Adminduk Buleleng: KTP-el no. {KTP}: Sedang diproses.",
            f"Adminduk Buleleng: KTP-el no. {KTP}: Siap diambil. Ambil di Kantor Desa Tembok. "
            "Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama.",
        ),
        (
            "en",
            f"Adminduk Buleleng: KTP-el (ID card) no. {KTP}: In progress.",
            f"Adminduk Buleleng: KTP-el (ID card) no. {KTP}: Ready to collect. "
            "Collect at Kantor Desa Tembok. Mon-Fri 08:00-15:00. Bring: receipt, old ID card.",
        ),
    ],
)
def test_a_status_change_is_told_in_the_applicants_language(
    runner: Any, db: Database, language: str, processing: str, ready: str
) -> None:
    resident(db, ME, language=language)
    ok(
        run(
            runner,
            "requests",
            "add",
            "--type",
            "ktp",
            "--phone",
            "0812-9999-0001",
            "--birth-year",
            "1956",
            "--village",
            "Tembok",
            "--number",
            KTP,
        )
    )
    [(registered,)] = rows(db, "dedupe_key")  # its number, and where to check it
    assert registered.endswith(":registered")
    ok(run(runner, "requests", "set-status", KTP, "processing"))
    ok(run(runner, "requests", "set-status", KTP, "ready", "--pickup", "Kantor Desa Tembok"))
    with db.begin() as session:
        request = queries.find_request(session, KTP)
        assert request is not None
        changes = [h.id for h in request.history]
        request_id = request.id
    assert rows(db, "recipient", "kind", "urgent", "status", "body", "dedupe_key")[1:] == [
        (
            ME,
            "notification",
            False,
            "queued",
            processing,
            f"request:{request_id}:change:{changes[1]}",
        ),
        (ME, "notification", False, "queued", ready, f"request:{request_id}:change:{changes[2]}"),
    ]


def test_a_language_chosen_by_ussd_is_used_for_notifications(
    runner: Any, db: Database, client: FlaskClient
) -> None:
    ok(
        run(
            runner,
            "requests",
            "add",
            "--type",
            "kk",
            "--phone",
            ME,
            "--birth-year",
            "1956",
            "--village",
            "Tembok",
            "--number",
            KTP,
        )
    )
    ok(run(runner, "requests", "set-status", KTP, "processing"))
    phone = Phone(client, ME)  # never heard of before: Indonesian; then chooses English
    phone.dial()
    phone.press("5")
    assert phone.press("2").startswith("CON Adminduk Buleleng\n1 Check status")
    ok(run(runner, "requests", "set-status", KTP, "rejected", "--reason", "photo"))
    assert rows(db, "body")[1:] == [
        (f"Adminduk Buleleng: Kartu Keluarga no. {KTP}: Sedang diproses.",),
        (f"Adminduk Buleleng: Family card no. {KTP}: Incomplete. Reason: photo missing.",),
    ]


def test_set_status_follows_the_lifecycle(runner: Any, db: Database, request_number: str) -> None:
    """The same status twice sends one SMS; going back and "perlu dilengkapi" need a reason,
    which the resident reads."""
    ok(run(runner, "requests", "set-status", request_number, "ready", "--pickup", "Balai Desa"))
    again = ok(run(runner, "requests", "set-status", request_number, "ready"))
    assert again == f"{request_number}: ready (collect at Balai Desa); unchanged, nothing sent\n"
    fails(
        run(runner, "requests", "set-status", request_number, "submitted"),
        "Going back from ready to submitted needs a reason",
    )
    fails(
        run(runner, "requests", "set-status", request_number, "rejected"),
        "Say what is missing",
    )
    ok(run(runner, "requests", "set-status", request_number, "rejected", "--reason", "signature"))
    with db.begin() as session:
        bodies = [m.body for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert bodies[1:] == [
        f"Adminduk Buleleng: KTP-el no. {request_number}: Siap diambil. Ambil di Balai Desa. "
        "Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama.",
        f"Adminduk Buleleng: koreksi, KTP-el no. {request_number} kembali Perlu dilengkapi. "
        "Alasan: tanda tangan kurang.",
    ]
