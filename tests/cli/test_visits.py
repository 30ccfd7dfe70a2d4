"""``visits add`` (publishing, editing and cancelling are in test_visit_changes.py, with the
messages they send)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from common.local_time import local_today
from storage import queries
from storage.db import Database
from storage.models import VillageVisit
from tests.helpers import TEMBOK, fails, ok, run


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
