"""The operator CLI (``flask --app gateway …``), through Flask's CLI runner, on both
configurations. Every failure must be one clear ``Error:`` line and a non-zero exit code,
never a traceback."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from common.local_time import local_today
from gateway import create_app
from gateway.runtime import runtime
from storage import numbers, queries
from storage.db import Database
from storage.models import (
    Base,
    DocumentRequest,
    HomeVisitBooking,
    OutboxMessage,
    Region,
    ReminderSubscription,
    RequestStatusChange,
    Resident,
    VillageVisit,
)
from storage.regions import import_regions
from tests.conftest import Phone, ok, run

TEMBOK = "51.08.09.2010"
KAYUPUTIH_SUKASADA = "51.08.05.2015"
REGIONS_OK = "regions: 0 added, 0 updated; 9 districts, 148 villages"


@pytest.fixture
def db(app: Flask) -> Database:
    return runtime(app).db


def fails(result: Result, message: str) -> str:
    """The command failed cleanly: exit code, one ``Error:`` line holding ``message``."""
    assert result.exit_code != 0
    # click exits via SystemExit for its own errors; anything else escaped as a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0], errors[0]
    assert result.stdout == ""
    return errors[0]


def count(db: Database, model: type[Base]) -> int:
    with db.begin() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- db upgrade, on an empty database --------------------------------------------------------


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database that has never been migrated."""
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}", "REDIS_URL": ""}
    )
    yield app
    runtime(app).db.dispose()


def test_fresh_install_walks_the_operator_through_the_steps(fresh_app: Flask) -> None:
    runner = fresh_app.test_cli_runner()
    add = (
        "requests",
        "add",
        "--type",
        "ktp",
        "--phone",
        "081234567890",
        "--birth-year",
        "1956",
        "--village",
        "Tembok",
    )
    fails(
        run(runner, "regions", "import"),
        "the database has no tables yet: run 'flask --app gateway db upgrade' first",
    )
    fails(run(runner, *add), "run 'flask --app gateway db upgrade' first")
    fails(run(runner, "demo"), "run 'flask --app gateway db upgrade' first")

    assert ok(run(runner, "db", "upgrade")).endswith("is at revision head\n")
    fails(
        run(runner, *add),
        "the region list is empty: run 'flask --app gateway regions import' first",
    )
    assert ok(run(runner, "regions", "import")) == (
        "regions: 158 added, 0 updated; 9 districts, 148 villages\n"
    )
    assert ok(run(runner, "regions", "import")) == REGIONS_OK + "\n"
    assert numbers.is_well_formed(ok(run(runner, *add)).strip())


def test_db_upgrade_is_idempotent(runner: Any, db: Database) -> None:
    for _ in range(2):
        out = ok(run(runner, "db", "upgrade"))
        assert out.startswith("database at ") and out.endswith(" is at revision head\n")
    assert count(db, Region) == 158


@pytest.mark.parametrize("backend", ["production"], indirect=True)  # SQLite has no password
def test_db_upgrade_hides_the_password(app_config: dict[str, Any]) -> None:
    # trust authentication ignores the password; "%" also checks Alembic's config escaping
    url = app_config["DATABASE_URL"].replace("postgres@", "postgres:s3cr%25t@", 1)
    app = create_app({"TESTING": True, **app_config, "DATABASE_URL": url})
    try:
        out = ok(run(app.test_cli_runner(), "db", "upgrade"))
    finally:
        runtime(app).db.dispose()
    assert "postgres:***@127.0.0.1" in out
    assert "s3cr" not in out


# --- regions import --------------------------------------------------------------------------


def test_regions_import_twice_adds_nothing(runner: Any, db: Database) -> None:
    assert ok(run(runner, "regions", "import")) == REGIONS_OK + "\n"
    assert ok(run(runner, "regions", "import")) == REGIONS_OK + "\n"
    assert count(db, Region) == 158


HEADER = "code,name,level,parent_code\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code,name\n51.08,Buleleng\n", "missing column(s) level, parent_code"),
        ("", "missing column(s) code, level, name, parent_code"),
        (
            HEADER + "51.08,Kabupaten Buleleng,kabupaten,\n51.08.01,Gerokgak,province,51.08\n",
            "bad.csv:3: bad row",
        ),
        (HEADER + "51.08.01,,kecamatan,51.08\n", "bad.csv:2: bad row"),
        (
            HEADER + "51.08.01,Gerokgak,kecamatan,51.08\n51.08.01,Gerokgak Baru,kecamatan,51.08\n",
            "bad.csv:3: code 51.08.01 appears twice",
        ),
        (HEADER + "51.08.01.20010000,Sumberklampok,desa,51.08.01\n", "bad.csv:2: bad row"),
        (HEADER + "51.08.01," + "G" * 81 + ",kecamatan,51.08\n", "bad.csv:2: bad row"),
        (b"\xff\xfe\x00garbage", "bad.csv: not a UTF-8 text file"),
    ],
)
def test_regions_import_rejects_a_bad_file(
    runner: Any, db: Database, tmp_path: Path, content: str | bytes, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    fails(run(runner, "regions", "import", str(bad)), message)
    assert count(db, Region) == 158  # nothing half-imported
    with db.begin() as session:
        assert session.get(Region, "51.08.01").name == "Gerokgak"  # type: ignore[union-attr]


def test_regions_import_missing_file(runner: Any, tmp_path: Path) -> None:
    fails(run(runner, "regions", "import", str(tmp_path / "nope.csv")), "does not exist")


@pytest.fixture
def restore_regions(db: Database) -> Iterator[None]:
    """PostgreSQL's region table outlives the test (only the other tables are truncated)."""
    yield
    with db.begin() as session:
        import_regions(session)


@pytest.mark.usefixtures("restore_regions")
def test_regions_import_from_a_file_updates_names(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    changed = tmp_path / "regions.csv"
    changed.write_text(HEADER + f"{TEMBOK},Tembok Baru,desa,51.08.09\n", encoding="utf-8")
    assert ok(run(runner, "regions", "import", str(changed))) == (
        "regions: 0 added, 1 updated; 9 districts, 148 villages\n"
    )
    with db.begin() as session:
        assert session.get(Region, TEMBOK).name == "Tembok Baru"  # type: ignore[union-attr]
    # the new name is what the next command sees
    out = ok(
        run(
            runner,
            "visits",
            "add",
            "--village",
            "Tembok Baru",
            "--date",
            (local_today() + dt.timedelta(days=3)).isoformat(),
            "--start",
            "09:00",
            "--end",
            "12:00",
            "--place",
            "Balai Desa",
        )
    )
    assert " Tembok Baru " in out


# --- demo ------------------------------------------------------------------------------------

DEMO_COUNTS = {
    Resident: 2,
    DocumentRequest: 6,
    RequestStatusChange: 6,
    HomeVisitBooking: 1,
    VillageVisit: 3,
    OutboxMessage: 0,
    ReminderSubscription: 0,
    Region: 158,
}


def test_demo_twice_duplicates_nothing(runner: Any, db: Database) -> None:
    first = ok(run(runner, "demo"))
    assert first.startswith("Demo data loaded.")
    assert "Another phone's request: 10000068 (applicant born 1961)" in first
    assert {m: count(db, m) for m in DEMO_COUNTS} == DEMO_COUNTS
    assert ok(run(runner, "demo")) == first
    assert {m: count(db, m) for m in DEMO_COUNTS} == DEMO_COUNTS


def test_demo_residents_live_where_the_demo_says(runner: Any, db: Database) -> None:
    out = ok(run(runner, "demo"))
    assert "+6281200000001  Tembok, Indonesian" in out
    assert "+6281200000002  Kayuputih, English" in out
    with db.begin() as session:
        granny = queries.get_resident(session, "+6281200000001")
        english = queries.get_resident(session, "+6281200000002")
        assert granny is not None and english is not None
        assert (granny.village_code, granny.language) == (TEMBOK, "id")
        assert (english.village_code, english.language) == (KAYUPUTIH_SUKASADA, "en")
        assert session.get(Region, english.village_code).name == "Kayuputih"  # type: ignore[union-attr]
        booking = session.scalar(select(HomeVisitBooking))
        assert booking is not None
        assert (booking.phone, booking.village_code, booking.status) == (
            "+6281200000002",
            KAYUPUTIH_SUKASADA,
            "requested",
        )
        # every demo request number is well formed and easy to spot
        for number in session.scalars(select(DocumentRequest.number)):
            assert numbers.is_well_formed(number) and number.startswith("1000")


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
        ("notification", f"Adminduk Buleleng: KTP-el no. {request_number}: Sedang diproses."),
        (
            "notification",
            f"Adminduk Buleleng: KTP-el no. {request_number}: Siap diambil. "
            "Ambil di Kantor Desa Tembok.",
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


# --- visits add ------------------------------------------------------------------------------


def _day(days: int) -> str:
    return (local_today() + dt.timedelta(days=days)).isoformat()


def _visits(db: Database) -> list[tuple[str, str, str, str, str, str | None, bool]]:
    with db.begin() as session:
        return [
            (
                v.village_code,
                v.visit_date.isoformat(),
                v.start_time.strftime("%H:%M"),
                v.end_time.strftime("%H:%M"),
                v.place,
                v.bring,
                v.published,
            )
            for v in session.scalars(select(VillageVisit).order_by(VillageVisit.id))
        ]


def test_visits_add_publishes_by_default(runner: Any, db: Database) -> None:
    out = ok(
        run(
            runner,
            "visits",
            "add",
            "--village",
            "Tembok",
            "--date",
            _day(7),
            "--start",
            "09:00",
            "--end",
            "14:00",
            "--place",
            " Balai Desa ",
            "--bring",
            "KK asli",
        )
    )
    assert out == (
        f"visit 1: Tembok {_day(7)} 09:00-14:00 published; 0 resident(s) will be told by SMS\n"
    )
    assert _visits(db) == [(TEMBOK, _day(7), "09:00", "14:00", "Balai Desa", "KK asli", True)]
    with db.begin() as session:
        visit = queries.next_visit(session, TEMBOK, local_today())
        assert visit is not None and visit.place == "Balai Desa"


def test_visits_add_draft(runner: Any, db: Database) -> None:
    out = ok(
        run(
            runner,
            "visits",
            "add",
            "--village",
            TEMBOK,
            "--date",
            _day(7),
            "--start",
            "08:30",
            "--end",
            "13:00",
            "--place",
            "Balai Desa",
            "--draft",
        )
    )
    assert out == f"visit 1: Tembok {_day(7)} 08:30-13:00 draft\n"
    assert _visits(db) == [(TEMBOK, _day(7), "08:30", "13:00", "Balai Desa", None, False)]
    with db.begin() as session:
        assert queries.next_visit(session, TEMBOK, local_today()) is None


def test_visits_add_today_is_allowed(runner: Any, db: Database) -> None:
    ok(
        run(
            runner,
            "visits",
            "add",
            "--village",
            "Tembok",
            "--date",
            _day(0),
            "--start",
            "09:00",
            "--end",
            "10:00",
            "--place",
            "Balai Desa",
        )
    )
    assert len(_visits(db)) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--date", "2030-02-30"), "'2030-02-30' is not a date like 2026-12-03"),
        (("--date", "besok"), "'besok' is not a date like"),
        (("--date", "03/12/2030"), "'03/12/2030' is not a date like"),
        (("--date", _day(-1)), f"{_day(-1)} is in the past"),
        (("--start", "9"), "'9' is not a time like 09:00"),
        (("--start", "25:00"), "'25:00' is not a time like 09:00"),
        (("--end", "noon"), "'noon' is not a time like 09:00"),
        (("--start", "14:00", "--end", "09:00"), "end time 09:00 is not after start time 14:00"),
        (("--start", "09:00", "--end", "09:00"), "end time 09:00 is not after start time 09:00"),
        (("--village", "Kayuputih"), "'Kayuputih' names 2 villages"),
        (("--village", "Nowhere"), "no village with code or name 'Nowhere'"),
        (("--place", "   "), "the place is empty"),
        (("--place", "p" * 121), "the place is longer than 120 characters"),
        (("--bring", "b" * 241), "what to bring is longer than 240 characters"),
    ],
)
def test_visits_add_rejects_bad_input(
    runner: Any, db: Database, options: tuple[str, ...], message: str
) -> None:
    values = {
        "--village": "Tembok",
        "--date": _day(7),
        "--start": "09:00",
        "--end": "14:00",
        "--place": "Balai Desa",
    }
    values.update(dict(zip(options[::2], options[1::2], strict=True)))
    args = [item for pair in values.items() for item in pair]
    fails(run(runner, "visits", "add", *args), message)
    assert _visits(db) == []


# --- sessions flush --------------------------------------------------------------------------


def test_sessions_flush(runner: Any, phone: Phone) -> None:
    assert ok(run(runner, "sessions", "flush")) == "0 session record(s) written\n"
    phone.dial()
    phone.dial()  # a new session: the first one is logged as dropped
    assert ok(run(runner, "sessions", "flush")) == "1 session record(s) written\n"
    assert ok(run(runner, "sessions", "flush")) == "0 session record(s) written\n"


# --- dial ------------------------------------------------------------------------------------


def _boxed(screen: str) -> str:
    return "\n".join("│ " + line for line in screen.split("\n"))


def test_dial_scripted_prints_the_screens(runner: Any, client: Any) -> None:
    # the screens a phone gets for the same keys, from another (equally new) number
    other = Phone(client, "+6281299990009")
    expected = [other.dial(), other.press("1")]
    assert expected[0].startswith("CON Adminduk Buleleng\n1 ")
    out = ok(run(runner, "dial", "081299990008", "--session", "dial-test", "-k", "1"))
    assert out.startswith("Dialling *123# from +6281299990008 (session dial-test)\n")
    assert _boxed(expected[0]) + f"\n└ {len(expected[0])} chars, HTTP 200\n> 1\n" in out
    assert out.endswith(_boxed(expected[1]) + f"\n└ {len(expected[1])} chars, HTTP 200\n")
    assert out.count("┌") == 2  # the script ended: no prompt, no third screen


def test_dial_stops_at_an_end_screen(runner: Any, db: Database) -> None:
    # priority service → documents → KTP → send the checklist by SMS: the session ends there
    out = ok(
        run(
            runner,
            "dial",
            "+6281299990008",
            *("-k", "4", "-k", "1", "-k", "1", "-k", "1"),
            "-k",
            "5",
        )
    )
    boxes = out.split("┌")[1:]
    assert len(boxes) == 5
    assert boxes[-1].split("\n")[1].startswith("│ END ")
    assert all(box.split("\n")[1].startswith("│ CON ") for box in boxes[:-1])
    assert "> 5" not in out  # the key after the end was never sent
    assert count(db, OutboxMessage) == 1  # the checklist SMS


def test_dial_with_a_webhook_token(app_config: dict[str, Any]) -> None:
    app = create_app({"TESTING": True, **app_config, "WEBHOOK_TOKEN": "s3cret"})
    try:
        out = ok(run(app.test_cli_runner(), "dial", "+6281299990008", "-k", "1"))
    finally:
        runtime(app).db.dispose()
    assert "HTTP 403" not in out
    assert out.count("HTTP 200") == 2


def test_dial_rejects_a_bad_phone(runner: Any) -> None:
    fails(run(runner, "dial", "abc"), "Invalid value for PHONE: 'abc' is not a valid phone number")


# --- help ------------------------------------------------------------------------------------


def _all_commands(app: Flask) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [()]
    for name, command in app.cli.commands.items():
        paths.append((name,))
        if isinstance(command, click.Group):
            paths.extend((name, sub) for sub in command.commands)
    return paths


def test_every_command_has_help(app: Flask, runner: Any) -> None:
    paths = _all_commands(app)
    expected = {
        ("db", "upgrade"),
        ("db", "revision"),
        ("regions", "import"),
        ("requests", "add"),
        ("requests", "set-status"),
        ("visits", "add"),
        ("sessions", "flush"),
        ("demo",),
        ("dial",),
    }
    assert expected <= set(paths)
    for path in paths:
        out = ok(run(runner, *path, "--help"))
        assert out.startswith("Usage: "), path
        assert "Traceback" not in out
        if path:
            help_text = app.cli.commands[path[0]]
            if len(path) == 2:
                help_text = help_text.commands[path[1]]  # type: ignore[attr-defined]
            assert help_text.help or help_text.short_help, f"{path} has no help text"
