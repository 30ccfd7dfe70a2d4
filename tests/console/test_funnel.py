"""The dashboard's funnel: per journey, how many callers reach each step and where they hang
up, over 14 days, from one GROUP BY over the session log; the session log keeps each session's
last screen, and the phone simulator's sessions count, marked as the simulator's."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from common.local_time import LOCAL_TZ, local_today
from flows.flow import load_flow
from flows.journey_steps import journey_steps
from gateway.runtime import runtime
from storage.db import Database
from storage.models import UssdSessionLog, utcnow
from tests.console.helpers import GRANNY, Browser
from tests.helpers import Phone

TEST_SIM = "+6281200000003"
STEP = re.compile(r"<text [^>]*>(Step \d+|Langkah \d+)</text><rect .*?<text [^>]*>([^<]+)</text>")


def test_a_journeys_steps_follow_the_screens() -> None:
    flow = load_flow()
    status = journey_steps(flow, "status")
    assert status["status_list"] == 1 and status["status_detail"] == 2
    home = journey_steps(flow, "home_visit")
    assert home["hv_who"] == 1 and home["hv_done"] == 6  # the six presses of the issue
    assert "main" not in home


def _seed(db: Database) -> None:
    recent = utcnow() - dt.timedelta(days=1)
    rows: list[tuple[str | None, str, bool, int, dt.datetime]] = [
        ("status_list", "dropped", False, 2, recent),  # hung up at step 1
        ("main", "dropped", False, 1, recent),  # went back to the menu: step 1
        ("status_detail", "dropped", False, 1, recent),  # hung up at step 2
        ("status_detail", "completed", False, 3, recent),
        ("status_list", "dropped", True, 1, recent),  # the simulator's
        (None, "dropped", False, 5, recent),  # logged before last screens were kept
        ("status_list", "dropped", False, 4, recent - dt.timedelta(days=20)),  # too old
    ]
    with db.begin() as session:
        i = 0
        for screen, outcome, simulator, n, started in rows:
            for _ in range(n):
                i += 1
                session.add(
                    UssdSessionLog(
                        session_id=f"f{i}",
                        phone=GRANNY,
                        journey="status",
                        last_screen=screen,
                        outcome=outcome,
                        simulator=simulator,
                        started_at=started,
                    )
                )


def _funnel(page: str) -> list[tuple[str, str]]:
    return STEP.findall(html.unescape(page.split('class="chart funnel"')[1].split("</svg>")[0]))


def test_the_funnel_from_a_seeded_session_log(staff: Browser, db: Database) -> None:
    _seed(db)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = staff.get("/staff/?lang=en").text
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert _funnel(page) == [
        ("Step 1", "8 reached, 4 hung up"),
        ("Step 2", "4 reached, 1 hung up"),
        ("Step 3", "0 reached, 0 hung up"),  # a booking's cancel (issue 11)
        ("Step 4", "0 reached, 0 hung up"),
    ]
    # one statement for the funnel, aggregated in the database
    funnel = [s for s in statements if "last_screen" in s]
    assert len(funnel) == 1 and "GROUP BY" in funnel[0]
    # the simulator's calls can be left out
    assert _funnel(staff.get("/staff/?simulator=0&lang=id").text) == [
        ("Langkah 1", "7 sampai, 3 berhenti"),
        ("Langkah 2", "4 sampai, 1 berhenti"),
        ("Langkah 3", "0 sampai, 0 berhenti"),
        ("Langkah 4", "0 sampai, 0 berhenti"),
    ]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The office's test SIM: outside the embedded default the simulator plays only these."""
    return {**app_config, "SIMULATOR_NUMBERS": [TEST_SIM]}


def test_the_session_log_keeps_the_last_screen(
    app: Flask, client: FlaskClient, staff: Browser, db: Database
) -> None:
    phone = Phone(client, GRANNY)
    phone.dial()
    phone.press("1")  # her requests: the list; then the signal drops
    first = phone.session_id
    phone.dial()  # she calls again: the first session is logged as dropped
    [token] = re.findall(r'data-csrf="([^"]+)"', staff.get("/simulator").text)

    def sim(text: str, session: str | None = None) -> str:
        response = staff.client.post(
            "/simulator/dial",
            json={"phone": TEST_SIM, "text": text, **({"session": session} if session else {})},
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(response.get_json()["session"])

    played = sim("")
    sim("4", played)  # priority service, then the trainee dials again
    sim("")
    runtime(app).session_log.flush(force=True)
    with db.begin() as s:
        logged = {
            row.session_id: (row.journey, row.last_screen, row.outcome, row.simulator)
            for row in s.scalars(select(UssdSessionLog))
        }
    assert logged[first] == ("status", "status_list", "dropped", False)
    assert logged[played] == ("priority", "pr_info", "dropped", True)


def test_sessions_are_counted_by_their_wita_day(staff: Browser, db: Database) -> None:
    """The per-day charts group in the database by the local (WITA) day: 01:00 WITA today is
    17:00 UTC yesterday, and counts today."""
    today = local_today()
    early = dt.datetime.combine(today, dt.time(1), LOCAL_TZ).astimezone(dt.UTC)
    late_yesterday = early - dt.timedelta(hours=2)  # 23:00 WITA yesterday
    with db.begin() as session:
        for i, started in enumerate([early, early, late_yesterday]):
            session.add(
                UssdSessionLog(
                    session_id=f"d{i}",
                    phone=GRANNY,
                    journey="status",
                    outcome="completed",
                    started_at=started,
                )
            )
    page = staff.get("/staff/?lang=en").text
    assert re.search(r"<b>2</b>\s*USSD sessions today", page), page.split("cards")[1][:600]
