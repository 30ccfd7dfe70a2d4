"""The dashboard: today's numbers, the last two weeks in charts, the visits ahead."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from flask import render_template, request
from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from common.local_time import LOCAL_TZ, local_today
from flows import journeys as menu_journeys
from flows.flow import Flow
from flows.journey_steps import journey_steps
from gateway.console import bp, translate
from gateway.console.auth import ALL, roles
from gateway.console.charts import (
    STATUS_COLOURS,
    FunnelStep,
    bar_chart,
    colours_by_position,
    funnel_chart,
    hbar_chart,
    pivot,
)
from gateway.console.shared import scoped, village_scope
from gateway.runtime import runtime
from storage import voice_calls
from storage.models import (
    DocumentRequest,
    HomeVisitBooking,
    OutboxMessage,
    Resident,
    UssdSessionLog,
    VillageVisit,
)

DAYS = 14


@bp.get("/")
@roles(*ALL)
def dashboard() -> str:
    rt = runtime()
    with_simulator = request.args.get("simulator") != "0"  # ?simulator=0: callers only
    today = local_today()
    since = dt.datetime.combine(today - dt.timedelta(days=DAYS - 1), dt.time(), LOCAL_TZ)
    scope = village_scope()
    residents_here = select(Resident.phone).where(Resident.village_code == scope)
    with rt.db.begin() as session:
        messages = _by_day(
            session,
            OutboxMessage.created_at,
            OutboxMessage.status,
            since,
            OutboxMessage.recipient.in_(residents_here) if scope else None,
        )
        journeys = _by_day(
            session,
            UssdSessionLog.started_at,
            UssdSessionLog.journey,
            since,
            UssdSessionLog.phone.in_(residents_here) if scope else None,
        )
        open_by_district: dict[str, int] = defaultdict(int)
        query = scoped(
            select(HomeVisitBooking.village_code, func.count())
            .where(HomeVisitBooking.status.in_(("requested", "scheduled")))
            .group_by(HomeVisitBooking.village_code),
            HomeVisitBooking.village_code,
        )
        for code, n in session.execute(query):
            district = rt.regions.by_code.get(code)
            open_by_district[rt.regions.name(district.parent_code if district else None)] += n
        visits = session.scalars(
            scoped(
                select(VillageVisit)
                .where(VillageVisit.visit_date >= today, VillageVisit.cancelled.is_(False))
                .order_by(VillageVisit.visit_date)
                .limit(10),
                VillageVisit.village_code,
            )
        ).all()
        requests_open = (
            session.scalar(
                scoped(
                    select(func.count())
                    .select_from(DocumentRequest)
                    .where(DocumentRequest.status.in_(("submitted", "processing", "ready"))),
                    DocumentRequest.village_code,
                )
            )
            or 0
        )
        voice = voice_calls.totals(
            session,
            dt.datetime.combine(today, dt.time(), LOCAL_TZ),
            residents_here if scope else None,
        )
        funnels = _funnels(
            session,
            rt.ussd_engine.flow,
            since,
            UssdSessionLog.phone.in_(residents_here) if scope else None,
            with_simulator,
        )
    days = [today - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    by_journey = pivot(journeys)
    # The main menu's journeys in its order; then any the menu no longer offers, still logged.
    offered = menu_journeys(rt.ussd_engine.flow)
    named = [*offered, *sorted(set(by_journey) - set(offered) - {"None"})]
    today_counts = {k: v.get(today, 0) for k, v in pivot(messages).items()}
    return render_template(
        "console/dashboard.html",
        visits=visits,
        rt=rt,
        requests_open=requests_open,
        sent_today=sum(today_counts.get(s, 0) for s in ("sent", "delivered")),
        failed_today=today_counts.get("failed", 0),
        sessions_today=sum(n for (d, _), n in journeys.items() if d == today),
        open_bookings=sum(open_by_district.values()),
        voice_calls_today=voice["calls"],
        voice_minutes_today=round(voice["seconds"] / 60),
        voice_journeys_chart=hbar_chart({translate(j): n for j, n in voice["by_journey"].items()})
        if voice["by_journey"]
        else None,
        messages_chart=bar_chart(days, pivot(messages), STATUS_COLOURS),
        journeys_chart=bar_chart(days, by_journey, colours_by_position(named)),
        bookings_chart=hbar_chart(dict(open_by_district)),
        funnel_charts=[
            funnel_chart(translate(journey), steps) for journey, steps in funnels.items()
        ],
        with_simulator=with_simulator,
    )


def _funnels(
    session: Session, flow: Flow, since: dt.datetime, where: Any, with_simulator: bool
) -> dict[str, list[FunnelStep]]:
    """Per journey of the main menu, how many callers reached each step and how many hung up
    there, over the sessions since ``since``: one GROUP BY over the session log (journey, last
    screen, outcome), never its rows. A last screen outside the journey (back at the menu)
    counts as its first step; sessions logged before last screens were kept are left out."""
    log = UssdSessionLog
    query = (
        select(log.journey, log.last_screen, log.outcome, func.count())
        .where(
            log.started_at >= since.astimezone(dt.UTC),
            log.journey.is_not(None),
            log.last_screen.is_not(None),
        )
        .group_by(log.journey, log.last_screen, log.outcome)
    )
    if where is not None:
        query = query.where(where)
    if not with_simulator:
        query = query.where(log.simulator.is_(False))
    ended: dict[str, dict[tuple[int, bool], int]] = defaultdict(lambda: defaultdict(int))
    steps_of = {}
    for journey in menu_journeys(flow):
        steps_of[journey] = journey_steps(flow, journey)
    for journey, screen, outcome, n in session.execute(query):
        if journey in steps_of:
            ended[journey][(steps_of[journey].get(screen, 1), outcome == "completed")] += n
    funnels: dict[str, list[FunnelStep]] = {}
    for journey, steps in steps_of.items():
        counts = ended.get(journey)
        if not counts or not steps:
            continue
        deepest = max(steps.values())
        funnels[journey] = [
            FunnelStep(
                step=k,
                screens=tuple(sorted(name for name, s in steps.items() if s == k)),
                reached=sum(n for (s, _), n in counts.items() if s >= k),
                hung_up=counts.get((k, False), 0),
            )
            for k in range(1, deepest + 1)
        ]
    return funnels


def _by_day(
    session: Session, stamp: Any, category: Any, since: dt.datetime, where: Any
) -> dict[tuple[dt.date, str], int]:
    """How many rows per local day and category since ``since``: one GROUP BY in the
    database (the regency makes hundreds of thousands of sessions), never the rows."""
    day = _local_day(session, stamp)
    query = (
        select(day, category, func.count())
        .where(stamp >= since.astimezone(dt.UTC))
        .group_by(day, category)
    )
    if where is not None:
        query = query.where(where)
    counts: dict[tuple[dt.date, str], int] = defaultdict(int)
    for value_day, value, n in session.execute(query):
        counts[(dt.date.fromisoformat(str(value_day)[:10]), str(value))] += n
    return counts


def _local_day(session: Session, stamp: Any) -> Any:
    """The WITA day of a UTC timestamp, in SQL. WITA keeps no daylight saving: a fixed offset."""
    # Literals, not parameters: PostgreSQL matches a GROUP BY expression to the selected one
    # by its text, and two parameters ($1, $3) would not match.
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column(f"'{LOCAL_TZ.key}'"), stamp))
    offset = LOCAL_TZ.utcoffset(dt.datetime.now()) or dt.timedelta()
    return func.date(stamp, literal_column(f"'{int(offset.total_seconds())} seconds'"))
