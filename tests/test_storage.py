"""storage/: migrations, the region list, request numbers and the query functions, on SQLite
and PostgreSQL alike (the ``app`` fixture runs each test on both)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from common.local_time import local_today
from gateway.runtime import runtime
from storage import hop, migrate, numbers, outbox, queries
from storage.db import Database
from storage.models import (
    Base,
    DocumentRequest,
    HomeVisitBooking,
    OutboxMessage,
    Region,
    ReminderSubscription,
    RequestStatusChange,
    UssdSessionLog,
    VillageVisit,
)
from storage.regions import RegionDirectory, bundled_csv, import_regions, read_regions_csv

PG_BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

TEMBOK = "51.08.09.2010"
KAYUPUTIH_BANJAR = "51.08.04.2003"
KAYUPUTIH_SUKASADA = "51.08.05.2015"
PHONE = "+6281234567890"
OTHER_PHONE = "+6281234567891"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables at all: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield db
        db.dispose()
        return
    schema = f"gw_empty_{secrets.token_hex(4)}"
    admin = create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{PG_BASE}?options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(app: Flask) -> Database:
    """The app's database: migrated, with the region list imported."""
    return runtime(app).db


def _count(db: Database, model: type[Base], *where: object) -> int:
    with db.begin() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- migrations ------------------------------------------------------------------------------


def _script_head(db: Database) -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config(db.engine)).get_current_head()
    assert head is not None
    return head


def test_upgrade_from_empty_matches_the_models(empty_db: Database) -> None:
    assert inspect(empty_db.engine).get_table_names() == []
    migrate.upgrade(empty_db.engine)
    migrate.upgrade(empty_db.engine)  # a second run is a no-op, not an error

    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == _script_head(empty_db)
        assert compare_metadata(context, Base.metadata) == []
    tables = set(inspect(empty_db.engine).get_table_names())
    assert tables == {*Base.metadata.tables, "alembic_version"}


def test_open_booking_index_is_partial_and_unique_after_migration(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    indexes = {ix["name"]: ix for ix in inspect(empty_db.engine).get_indexes("home_visit_bookings")}
    index = indexes["uq_home_visit_bookings_open"]
    assert index["unique"]
    assert index["column_names"] == ["phone", "service"]
    where = str(index.get("dialect_options", {}).get(f"{empty_db.engine.dialect.name}_where"))
    assert "requested" in where and "scheduled" in where


def test_downgrade_to_base_and_back(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    with empty_db.engine.begin() as conn:
        cfg = migrate.alembic_config(empty_db.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert inspect(empty_db.engine).get_table_names() == ["alembic_version"]
    migrate.upgrade(empty_db.engine)
    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# --- regions ---------------------------------------------------------------------------------


def test_regions_import_into_empty_database_then_idempotent(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    with empty_db.begin() as session:
        assert import_regions(session) == (158, 0)  # 1 regency + 9 districts + 148 villages
    with empty_db.begin() as session:
        assert import_regions(session) == (0, 0)
    with empty_db.begin() as session:
        levels = {
            level: count
            for level, count in session.execute(
                select(Region.level, func.count()).group_by(Region.level)
            )
        }
        directory = RegionDirectory.load(session)
    assert levels == {"kabupaten": 1, "kecamatan": 9, "desa": 129, "kelurahan": 19}
    assert len(directory.districts) == 9
    assert len(directory.villages) == 148
    assert [d.name for d in directory.districts] == [
        "Gerokgak",
        "Seririt",
        "Busungbiu",
        "Banjar",
        "Sukasada",
        "Buleleng",
        "Sawan",
        "Kubutambahan",
        "Tejakula",
    ]
    # every village hangs under one of the nine districts
    district_codes = {d.code for d in directory.districts}
    assert {v.parent_code for v in directory.villages} == district_codes


def test_regions_reimport_restores_a_changed_row(db: Database) -> None:
    with db.begin() as session:
        session.get(Region, TEMBOK).name = "Tembok Lama"
    with db.begin() as session:
        assert import_regions(session) == (0, 1)
    with db.begin() as session:
        assert session.get(Region, TEMBOK).name == "Tembok"
        assert session.scalar(select(func.count()).select_from(Region)) == 158


def test_read_regions_csv_rejects_bad_files(tmp_path: Path) -> None:
    assert len(read_regions_csv(bundled_csv())) == 158
    missing = tmp_path / "missing.csv"
    missing.write_text("code,name\n51.08,Buleleng\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing column\(s\) level, parent_code"):
        read_regions_csv(missing)
    bad_level = tmp_path / "bad_level.csv"
    bad_level.write_text(
        "code,name,level,parent_code\n51.08,Buleleng,kabupaten,\n"
        "51.08.01,Gerokgak,province,51.08\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad_level.csv:3: bad row"):
        read_regions_csv(bad_level)


@pytest.fixture
def directory(db: Database) -> RegionDirectory:
    with db.begin() as session:
        return RegionDirectory.load(session)


def test_find_village_by_code(directory: RegionDirectory) -> None:
    place = directory.find_village(TEMBOK)
    assert (place.code, place.name, place.parent_code) == (TEMBOK, "Tembok", "51.08.09")
    assert directory.find_village(f"  {TEMBOK} ").code == TEMBOK
    assert directory.name(place.parent_code) == "Tejakula"


@pytest.mark.parametrize("name", ["Tembok", "tembok", "TEMBOK", "  tEmBoK  "])
def test_find_village_by_name_is_case_insensitive(directory: RegionDirectory, name: str) -> None:
    assert directory.find_village(name).code == TEMBOK


def test_find_village_prefers_the_village_over_a_district_of_the_same_name(
    directory: RegionDirectory,
) -> None:
    assert directory.find_village("Tejakula").code.count(".") == 3
    assert directory.find_village("Tejakula").parent_code == "51.08.09"


def test_find_village_ambiguous_name_lists_both_codes(directory: RegionDirectory) -> None:
    with pytest.raises(ValueError) as caught:
        directory.find_village("kayuputih")
    message = str(caught.value)
    assert KAYUPUTIH_BANJAR in message and KAYUPUTIH_SUKASADA in message
    assert "Banjar" in message and "Sukasada" in message
    assert directory.find_village(KAYUPUTIH_SUKASADA).name == "Kayuputih"


@pytest.mark.parametrize(
    "wanted", ["Atlantis", "", "51.08.99.9999", "51.08.09", "51.08", "Tembokk"]
)
def test_find_village_unknown_raises(directory: RegionDirectory, wanted: str) -> None:
    with pytest.raises(ValueError, match="no village with code or name"):
        directory.find_village(wanted)


def test_villages_of_a_district(directory: RegionDirectory) -> None:
    tejakula = directory.find_district("tejakula")
    villages = directory.villages_of(tejakula.code)
    assert "Tembok" in [v.name for v in villages]
    assert all(v.parent_code == "51.08.09" for v in villages)
    assert sum(len(directory.villages_of(d.code)) for d in directory.districts) == 148


# --- request numbers -------------------------------------------------------------------------


def _single_substitutions(number: str) -> Iterator[str]:
    for i, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                yield number[:i] + other + number[i + 1 :]


def _adjacent_transpositions(number: str) -> Iterator[str]:
    for i in range(len(number) - 1):
        if number[i] != number[i + 1]:
            yield number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def test_new_number_is_eight_well_formed_digits() -> None:
    seen = {numbers.new_number() for _ in range(500)}
    assert len(seen) > 490  # random, not sequential or constant
    for number in seen:
        assert len(number) == 8
        assert number.isascii() and number.isdigit()
        assert number[0] != "0"  # no leading zero to lose in a spreadsheet
        assert numbers.is_well_formed(number)


@settings(max_examples=300, deadline=None)
@given(body=st.integers(min_value=10**6, max_value=10**7 - 1))
def test_every_single_typo_and_adjacent_swap_is_rejected(body: int) -> None:
    number = numbers.with_check_digit(str(body))
    assert numbers.is_well_formed(number)
    substitutions = list(_single_substitutions(number))
    assert len(substitutions) == 8 * 9
    assert not [n for n in substitutions if numbers.is_well_formed(n)]
    assert not [n for n in _adjacent_transpositions(number) if numbers.is_well_formed(n)]


def test_typos_of_fresh_numbers_are_rejected() -> None:
    for _ in range(50):
        number = numbers.new_number()
        assert not any(numbers.is_well_formed(n) for n in _single_substitutions(number))
        assert not any(numbers.is_well_formed(n) for n in _adjacent_transpositions(number))


# Verhoeff's tables, written out independently of python-stdnum, as a reference.
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
for _ in range(6):
    _P.append([_P[1][x] for x in _P[-1]])
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def _reference_check_digit(body: str) -> str:
    check = 0
    for i, digit in enumerate(reversed(body)):
        check = _D[check][_P[(i + 1) % 8][int(digit)]]
    return str(_INV[check])


def test_known_check_digits() -> None:
    # Textbook examples: 236 → 3, 12345 → 1
    assert numbers.with_check_digit("236") == "2363"
    assert numbers.with_check_digit("12345") == "123451"
    assert numbers.with_check_digit("1000001") == "10000010"
    assert numbers.with_check_digit("1000006") == "10000068"


@settings(max_examples=200, deadline=None)
@given(body=st.integers(min_value=10**6, max_value=10**7 - 1))
def test_check_digit_matches_the_published_algorithm(body: int) -> None:
    assert numbers.with_check_digit(str(body)) == str(body) + _reference_check_digit(str(body))


_VALID = "10000010"
_ARABIC_INDIC = {ord("0") + i: 0x0660 + i for i in range(10)}
_FULL_WIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1000001",
        "100000100",
        "1000001a",
        "1000 010",
        " 10000010",
        "10000010 ",
        "+0000010",
        "10000011",
        "01000010",
        _VALID.translate(_FULL_WIDTH),
        # Arabic-Indic digits: str.isdigit() is True and int() reads them, but no keypad types them
        _VALID.translate(_ARABIC_INDIC),
        _VALID[:-1] + "\u0660",
        "²²²²²²²²",
    ],
)
def test_malformed_numbers_are_rejected(raw: str) -> None:
    assert numbers.is_well_formed(_VALID)
    assert not numbers.is_well_formed(raw)


# --- document requests -----------------------------------------------------------------------


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
    assert _count(db, DocumentRequest) == 0
    assert _count(db, RequestStatusChange) == 0


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
    assert _count(db, DocumentRequest) == 1


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


# --- home visits -----------------------------------------------------------------------------


def _booking(
    phone: str = PHONE, service: str = "ktp", status: str = "requested", number: str | None = None
) -> HomeVisitBooking:
    return HomeVisitBooking(
        number=number or numbers.new_number(),
        phone=phone,
        for_whom="self",
        reason="elderly",
        service=service,
        village_code=TEMBOK,
        hamlet=None,
        status=status,
    )


def test_database_refuses_two_open_bookings_for_the_same_phone_and_service(db: Database) -> None:
    with db.begin() as session:
        session.add(_booking())
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(_booking())
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(_booking(status="scheduled"))
    with db.begin() as session:  # another service, another phone, or a closed one: fine
        session.add(_booking(service="kk"))
        session.add(_booking(phone=OTHER_PHONE))
        session.add(_booking(status="done"))
        session.add(_booking(status="cancelled"))
    assert _count(db, HomeVisitBooking) == 5
    assert (
        _count(
            db, HomeVisitBooking, HomeVisitBooking.phone == PHONE, HomeVisitBooking.service == "ktp"
        )
        == 3
    )


@pytest.mark.parametrize("closed", ["done", "cancelled"])
def test_a_new_open_booking_is_allowed_once_the_first_is_closed(db: Database, closed: str) -> None:
    with db.begin() as session:
        first = _booking()
        session.add(first)
    with db.begin() as session:
        session.get(HomeVisitBooking, first.id).status = closed  # type: ignore[union-attr]
    with db.begin() as session:
        session.add(_booking())
    assert _count(db, HomeVisitBooking, HomeVisitBooking.status == "requested") == 1
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(_booking())


@pytest.fixture(params=["console", "hop"])
def booking_path(request: pytest.FixtureRequest) -> str:
    """How a booking is made: in an ORM session (console, CLI), or as the USSD hop makes it
    (on PostgreSQL one statement alone on the kept autocommit connection)."""
    return str(request.param)


def _create(
    db: Database, calls: list[str], phone: str = PHONE, service: str = "ktp", path: str = "console"
) -> tuple[str, bool]:
    if path == "hop":
        booked = hop.book_home_visit(
            db,
            phone=phone,
            for_whom="family",
            reason="sick",
            service=service,
            village_code=TEMBOK,
            hamlet="Banjar Kaja",
            confirmation_sms=lambda number: f"Booking {number}",
        )
        if booked.created:
            calls.append(booked.number)
        return booked.number, booked.created
    with db.begin() as session:

        def confirm(booking: HomeVisitBooking) -> None:
            calls.append(booking.number)
            outbox.add(
                session,
                recipient=phone,
                kind="notification",
                body=f"Booking {booking.number}",
                dedupe_key=f"booking-confirmed:{booking.number}",
            )

        booking, created = queries.create_booking(
            session,
            phone=phone,
            for_whom="family",
            reason="sick",
            service=service,
            village_code=TEMBOK,
            hamlet="Banjar Kaja",
            on_created=confirm,
        )
        return booking.number, created


def test_create_booking_returns_the_open_one_and_confirms_once(
    db: Database, booking_path: str
) -> None:
    calls: list[str] = []
    number, created = _create(db, calls, path=booking_path)
    assert created is True
    assert numbers.is_well_formed(number)
    again, created_again = _create(db, calls, path=booking_path)
    assert (again, created_again) == (number, False)
    assert calls == [number]
    assert _count(db, HomeVisitBooking) == 1
    with db.begin() as session:
        rows = list(session.scalars(select(OutboxMessage)))
        assert [(r.recipient, r.kind, r.body, r.dedupe_key, r.status) for r in rows] == [
            (PHONE, "notification", f"Booking {number}", f"booking-confirmed:{number}", "queued")
        ]
        booking = session.scalar(select(HomeVisitBooking))
        assert booking is not None
        assert (
            booking.for_whom,
            booking.reason,
            booking.service,
            booking.village_code,
            booking.hamlet,
            booking.status,
        ) == ("family", "sick", "ktp", TEMBOK, "Banjar Kaja", "requested")
    with db.begin() as session:
        assert queries.count_open_bookings(session) == 1


def test_create_booking_again_after_the_first_is_done(db: Database, booking_path: str) -> None:
    calls: list[str] = []
    first, _ = _create(db, calls, path=booking_path)
    with db.begin() as session:
        booking = session.scalar(select(HomeVisitBooking).where(HomeVisitBooking.number == first))
        booking.status = "done"  # type: ignore[union-attr]
    second, created = _create(db, calls, path=booking_path)
    assert created is True and second != first
    other_service, created = _create(db, calls, service="kk", path=booking_path)
    assert created is True
    assert calls == [first, second, other_service]
    assert _count(db, OutboxMessage) == 3
    with db.begin() as session:
        assert queries.count_open_bookings(session) == 2


def test_create_booking_yields_to_the_racing_winner(db: Database, booking_path: str) -> None:
    """Two hops race: the one whose INSERT the database refuses returns the winner's booking
    (no check-then-insert window: the partial unique index decides)."""
    with db.begin() as session:
        session.add(_booking(number=numbers.with_check_digit("3000001")))  # the winner
    calls: list[str] = []
    number, created = _create(db, calls, path=booking_path)
    assert (number, created) == (numbers.with_check_digit("3000001"), False)
    assert calls == []
    assert _count(db, HomeVisitBooking) == 1


def test_create_booking_draws_again_when_the_number_is_taken(
    db: Database, monkeypatch: pytest.MonkeyPatch, booking_path: str
) -> None:
    taken = numbers.with_check_digit("3000002")
    with db.begin() as session:
        session.add(_booking(number=taken, phone=OTHER_PHONE))
    draws = iter([taken, numbers.with_check_digit("3000003")])
    monkeypatch.setattr(numbers, "new_number", lambda: next(draws))
    calls: list[str] = []
    number, created = _create(db, calls, path=booking_path)
    assert (number, created) == (numbers.with_check_digit("3000003"), True)
    assert calls == [number]


# --- outbox, subscriptions -------------------------------------------------------------------


def test_outbox_add_is_idempotent_by_dedupe_key(db: Database) -> None:
    due = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
    with db.begin() as session:
        assert (
            outbox.add(
                session,
                recipient=PHONE,
                kind="reminder",
                body="first",
                dedupe_key="reminder:1:3d",
                due_at=due,
            )
            is True
        )
    with db.begin() as session:
        assert (
            outbox.add(
                session, recipient=PHONE, kind="reminder", body="second", dedupe_key="reminder:1:3d"
            )
            is False
        )
        assert (
            outbox.add(
                session, recipient=PHONE, kind="reminder", body="other", dedupe_key="reminder:1:1d"
            )
            is True
        )
    with db.begin() as session:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "reminder:1:3d")
        )
        assert row is not None
        assert (row.body, row.status, row.attempts, row.recipient) == ("first", "queued", 0, PHONE)
        stored_due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=dt.UTC)
        assert stored_due == due
    assert _count(db, OutboxMessage) == 2


def test_outbox_dedupe_key_is_unique_in_the_database(db: Database) -> None:
    with db.begin() as session:
        session.add(OutboxMessage(recipient=PHONE, kind="reply", body="a", dedupe_key="k"))
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(OutboxMessage(recipient=PHONE, kind="reply", body="b", dedupe_key="k"))


def _visit(
    session,
    day: dt.date,
    *,
    start: dt.time = dt.time(9),
    village: str = TEMBOK,
    published: bool = True,
) -> VillageVisit:  # type: ignore[no-untyped-def]
    return queries.add_visit(
        session,
        village_code=village,
        visit_date=day,
        start_time=start,
        end_time=dt.time(14),
        place="Balai Desa",
        published=published,
    )


def test_subscribe_is_idempotent(db: Database) -> None:
    today = dt.date(2030, 5, 1)
    with db.begin() as session:
        visit_id = _visit(session, today).id
    args = {"phone": PHONE, "village_code": TEMBOK, "language": "id"}
    with db.begin() as session:
        assert queries.subscribe(session, kind="visit_reminder", visit_id=visit_id, **args)
        assert queries.subscribe(session, kind="visit_published", visit_id=None, **args)
    with db.begin() as session:
        assert not queries.subscribe(session, kind="visit_reminder", visit_id=visit_id, **args)
        # visit_id NULL: the unique constraint cannot catch this one, the function must
        assert not queries.subscribe(session, kind="visit_published", visit_id=None, **args)
        assert queries.subscribe(
            session, kind="visit_published", visit_id=None, **{**args, "phone": OTHER_PHONE}
        )
    assert _count(db, ReminderSubscription) == 3


def test_add_visit_rejects_end_before_start(db: Database) -> None:
    with (
        pytest.raises(ValueError, match="end time 09:00 is not after start time 10:00"),
        db.begin() as session,
    ):
        queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=dt.date(2030, 1, 1),
            start_time=dt.time(10),
            end_time=dt.time(9),
            place="Balai Desa",
        )
    assert _count(db, VillageVisit) == 0


def test_next_visit_ignores_drafts_cancelled_and_past(db: Database) -> None:
    today = dt.date(2030, 5, 10)
    with db.begin() as session:
        assert queries.next_visit(session, TEMBOK, today) is None
        _visit(session, today - dt.timedelta(days=1))  # past
        _visit(session, today + dt.timedelta(days=1), published=False)  # draft
        cancelled = _visit(session, today + dt.timedelta(days=2))
        cancelled.cancelled = True
        _visit(session, today + dt.timedelta(days=3), village="51.08.08.2007")  # elsewhere
        later = _visit(session, today + dt.timedelta(days=9)).id
        _visit(session, today + dt.timedelta(days=4), start=dt.time(13))  # same day, later
        morning = _visit(session, today + dt.timedelta(days=4), start=dt.time(8)).id
    with db.begin() as session:
        found = queries.next_visit(session, TEMBOK, today)
        assert found is not None and found.id == morning
        assert (found.day, found.start, found.end) == (
            today + dt.timedelta(days=4),
            "08:00",
            "14:00",
        )
        assert found == hop.next_visit(db, TEMBOK, today)  # the hop's look-up, the same visit
    with db.begin() as session:
        todays = _visit(session, today).id  # today still counts
    with db.begin() as session:
        assert queries.next_visit(session, TEMBOK, today).id == todays  # type: ignore[union-attr]
        assert (
            queries.next_visit(
                session,
                TEMBOK,  # type: ignore[union-attr]
                today + dt.timedelta(days=5),
            ).id
            == later
        )
        assert queries.next_visit(session, TEMBOK, today + dt.timedelta(days=10)) is None


# --- residents, session log ------------------------------------------------------------------


def test_upsert_resident_updates_only_given_fields(db: Database) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, PHONE, village_code=TEMBOK)
    with db.begin() as session:
        queries.upsert_resident(session, PHONE, language="en")
    with db.begin() as session:
        queries.upsert_resident(session, PHONE)
        resident = queries.get_resident(session, PHONE)
        assert resident is not None
        assert (resident.village_code, resident.language, resident.opted_out) == (
            TEMBOK,
            "en",
            False,
        )
        assert queries.get_resident(session, OTHER_PHONE) is None


def test_record_sessions_upserts_by_session_id(db: Database) -> None:
    started = "2030-01-01T01:00:00+00:00"
    with db.begin() as session:
        assert (
            queries.record_sessions(
                session,
                [
                    {
                        "session_id": "ATUid_1",
                        "phone": PHONE,
                        "service_code": "*123#",
                        "network_code": "51010",
                        "journey": "status",
                        "hops": 3,
                        "outcome": "dropped",
                        "started_at": started,
                        "ended_at": "2030-01-01T01:01:00+00:00",
                    },
                    {"session_id": "ATUid_2", "phone": OTHER_PHONE},
                ],
            )
            == 2
        )
    with db.begin() as session:  # the provider's end-of-session report completes the row
        assert (
            queries.record_sessions(
                session,
                [
                    {
                        "session_id": "ATUid_1",
                        "phone": PHONE,
                        "provider_status": "Success",
                        "outcome": "completed",
                        "hops": 4,
                        "journey": None,
                    }
                ],
            )
            == 1
        )
    with db.begin() as session:
        rows = {r.session_id: r for r in session.scalars(select(UssdSessionLog))}
    assert set(rows) == {"ATUid_1", "ATUid_2"}
    first = rows["ATUid_1"]
    assert (
        first.phone,
        first.service_code,
        first.network_code,
        first.journey,
        first.hops,
        first.outcome,
        first.provider_status,
    ) == (PHONE, "*123#", "51010", "status", 4, "completed", "Success")
    started_at = first.started_at.replace(tzinfo=first.started_at.tzinfo or dt.UTC)
    assert started_at == dt.datetime(2030, 1, 1, 1, tzinfo=dt.UTC)
    second = rows["ATUid_2"]
    assert (second.phone, second.hops, second.outcome, second.journey) == (
        OTHER_PHONE,
        0,
        "dropped",
        None,
    )
