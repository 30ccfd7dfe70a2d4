"""The dashboard: today's numbers, the last two weeks in charts, the visits ahead."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.local_time import LOCAL_TZ, local_today
from flows import journeys as menu_journeys
from gateway.console import bp
from gateway.console.auth import ALL, roles
from gateway.console.charts import (
    STATUS_COLOURS,
    bar_chart,
    colours_by_position,
    hbar_chart,
    pivot,
)
from gateway.console.shared import scoped, village_scope
from gateway.runtime import runtime
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
        messages_chart=bar_chart(days, pivot(messages), STATUS_COLOURS),
        journeys_chart=bar_chart(days, by_journey, colours_by_position(named)),
        bookings_chart=hbar_chart(dict(open_by_district)),
    )


def _by_day(
    session: Session, stamp: Any, category: Any, since: dt.datetime, where: Any
) -> dict[tuple[dt.date, str], int]:
    """How many rows per local day and category since ``since``."""
    query = select(stamp, category).where(stamp >= since.astimezone(dt.UTC))
    if where is not None:
        query = query.where(where)
    counts: dict[tuple[dt.date, str], int] = defaultdict(int)
    for moment, value in session.execute(query):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        counts[(moment.astimezone(LOCAL_TZ).date(), str(value))] += 1
    return counts
