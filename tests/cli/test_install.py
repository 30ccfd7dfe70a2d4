"""A fresh install's first steps: ``db upgrade``, ``regions import``, ``demo``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from common.local_time import local_today
from gateway import create_app
from gateway.runtime import runtime
from storage import numbers, queries
from storage.db import Database
from storage.models import (
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
from tests.helpers import KAYUPUTIH_SUKASADA, TEMBOK, count, fails, ok, run

REGIONS_OK = "regions: 0 added, 0 updated; 9 districts, 148 villages"


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


# "production" is PostgreSQL with Redis: the demo needs --force there (tests/cli/test_audit.py)
DEMO = ("demo", "--force")


def test_demo_twice_duplicates_nothing(runner: Any, db: Database) -> None:
    first = ok(run(runner, *DEMO))
    assert first.startswith("Demo data loaded.")
    assert "Another phone's request: 10000068 (applicant born 1961)" in first
    assert {m: count(db, m) for m in DEMO_COUNTS} == DEMO_COUNTS
    assert ok(run(runner, *DEMO)) == first
    assert {m: count(db, m) for m in DEMO_COUNTS} == DEMO_COUNTS


def test_demo_residents_live_where_the_demo_says(runner: Any, db: Database) -> None:
    out = ok(run(runner, *DEMO))
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
