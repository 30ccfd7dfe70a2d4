"""Document requests in storage/queries and the hop's look-ups (storage/hop.py), on SQLite and
PostgreSQL alike (the ``db`` fixture runs each test on both configurations)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from common.local_time import local_today
from storage import hop, numbers, queries
from storage.db import Database
from storage.models import DocumentRequest, RequestStatusChange
from tests.helpers import TEMBOK, count
from tests.storage.helpers import OTHER_PHONE, PHONE


def _history(db: Database, number: str) -> list[tuple[str, str | None]]:
    with db.begin() as session:
        request = queries.find_request(session, number)
        assert request is not None
        return [(h.status, h.pickup_place) for h in request.history]


def test_add_request_records_its_first_status(db: Database) -> None:
    with db.begin() as session:
        request = queries.add_request(
            session, doc_type="ktp", phone=PHONE, birth_year=1956, village_code=TEMBOK
        )
        number = request.number
    assert numbers.is_well_formed(number)
    with db.begin() as session:
        stored = queries.find_request(session, number)
        assert stored is not None
        assert (
            stored.doc_type,
            stored.applicant_phone,
            stored.applicant_birth_year,
            stored.village_code,
            stored.status,
            stored.pickup_place,
        ) == ("ktp", PHONE, 1956, TEMBOK, "submitted", None)
    assert _history(db, number) == [("submitted", None)]


def test_add_request_with_given_number_status_and_pickup(db: Database) -> None:
    number = numbers.with_check_digit("1234567")
    with db.begin() as session:
        queries.add_request(
            session,
            doc_type="kk",
            phone=PHONE,
            birth_year=1990,
            village_code=TEMBOK,
            status="ready",
            number=number,
            pickup_place="Kantor Desa Tembok",
        )
    assert _history(db, number) == [("ready", "Kantor Desa Tembok")]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"doc_type": "passport"}, "unknown document type 'passport'"),
        ({"status": "lost"}, "unknown status 'lost'"),
        ({"birth_year": 1899}, "birth year 1899 is not between 1900"),
        ({"birth_year": dt.date.today().year + 1}, "is not between 1900 and"),
        ({"number": "12345678"}, "'12345678' is not a valid request number"),
    ],
)
def test_add_request_rejects_bad_values(
    db: Database, changes: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        "doc_type": "ktp",
        "phone": PHONE,
        "birth_year": 1956,
        "village_code": TEMBOK,
        **changes,
    }
    assert not numbers.is_well_formed("12345678")
    with pytest.raises(ValueError, match=message), db.begin() as session:
        queries.add_request(session, **values)  # type: ignore[arg-type]
    assert count(db, DocumentRequest) == 0
    assert count(db, RequestStatusChange) == 0


def test_add_request_rejects_a_duplicate_number(db: Database) -> None:
    number = numbers.with_check_digit("7654321")
    with db.begin() as session:
        queries.add_request(
            session,
            doc_type="ktp",
            phone=PHONE,
            birth_year=1956,
            village_code=TEMBOK,
            number=number,
        )
    with (
        pytest.raises(ValueError, match=f"request number {number} already exists"),
        db.begin() as session,
    ):
        queries.add_request(
            session,
            doc_type="kk",
            phone=OTHER_PHONE,
            birth_year=1970,
            village_code=TEMBOK,
            number=number,
        )
    assert count(db, DocumentRequest) == 1


def test_set_request_status_appends_history(db: Database) -> None:
    with db.begin() as session:
        number = queries.add_request(
            session, doc_type="ktp", phone=PHONE, birth_year=1956, village_code=TEMBOK
        ).number
    with db.begin() as session:
        first_update = queries.find_request(session, number).updated_at  # type: ignore[union-attr]
        changed = queries.set_request_status(session, number, "processing")
        assert changed.status == "processing"
    with db.begin() as session:
        queries.set_request_status(session, number, "ready", pickup_place="Kantor Desa Tembok")
    with db.begin() as session:
        queries.set_request_status(session, number, "collected")  # the pickup place is kept
    assert _history(db, number) == [
        ("submitted", None),
        ("processing", None),
        ("ready", "Kantor Desa Tembok"),
        ("collected", "Kantor Desa Tembok"),
    ]
    with db.begin() as session:
        request = queries.find_request(session, number)
        assert request is not None
        assert (request.status, request.pickup_place) == ("collected", "Kantor Desa Tembok")
        assert request.updated_at >= first_update


def test_set_request_status_rejects_unknown_number_and_status(db: Database) -> None:
    with db.begin() as session:
        number = queries.add_request(
            session, doc_type="ktp", phone=PHONE, birth_year=1956, village_code=TEMBOK
        ).number
    missing = numbers.with_check_digit("9999999")
    with (
        pytest.raises(ValueError, match=f"no request with number {missing}"),
        db.begin() as session,
    ):
        queries.set_request_status(session, missing, "ready")
    with pytest.raises(ValueError, match="unknown status 'lost'"), db.begin() as session:
        queries.set_request_status(session, number, "lost")
    assert _history(db, number) == [("submitted", None)]


def test_requests_for_phone_newest_first(db: Database) -> None:
    made = []
    for doc in ("ktp", "kk", "kia"):
        with db.begin() as session:
            made.append(
                queries.add_request(
                    session, doc_type=doc, phone=PHONE, birth_year=1956, village_code=TEMBOK
                ).number
            )
    with db.begin() as session:
        queries.add_request(
            session, doc_type="ktp", phone=OTHER_PHONE, birth_year=1956, village_code=TEMBOK
        )
    with db.begin() as session:
        queries.set_request_status(session, made[0], "ready")  # now the most recently updated
    mine = hop.requests_of(db, PHONE, 8)
    assert [r.number for r in hop.requests_of(db, PHONE, 2)] == [r.number for r in mine[:2]]
    assert [r.number for r in mine] == [made[0], made[2], made[1]]
    assert all(r.owned_by_caller for r in mine)
    assert (mine[0].status, mine[0].doc_type, mine[0].updated) == ("ready", "ktp", local_today())
    assert hop.find_request(db, made[0], OTHER_PHONE) == replace(mine[0], owned_by_caller=False)
    assert hop.find_request(db, made[0], OTHER_PHONE, birth_year=1956) is not None
    assert hop.find_request(db, made[0], OTHER_PHONE, birth_year=1957) is None
