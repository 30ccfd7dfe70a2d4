"""Village visits (Si Melik): staff plan them; residents ask for the next one, to be reminded of
it, or to be told when one is planned."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.local_time import as_utc
from common.refusals import Refusal
from common.segments import count_segments
from common.views import VisitView
from storage import statements
from storage.db import wrote_one
from storage.models import ReminderSubscription, VillageVisit, check_length, utcnow

# --- a visit as residents hear of it -----------------------------------------------------------

_COLUMNS = (  # the arguments of ``view``, in order
    VillageVisit.id,
    VillageVisit.village_code,
    VillageVisit.visit_date,
    VillageVisit.start_time,
    VillageVisit.end_time,
    VillageVisit.place,
    VillageVisit.bring,
    VillageVisit.created_at,
    VillageVisit.updated_at,
)


def view(
    visit_id: int,
    village_code: str,
    visit_date: dt.date,
    start_time: dt.time,
    end_time: dt.time,
    place: str,
    bring: str | None,
    created_at: dt.datetime | None,
    updated_at: dt.datetime | None,
) -> VisitView:
    """A visit from its columns (a row of NEXT_VISIT, the ORM object's attributes)."""
    stamp = updated_at or created_at
    return VisitView(
        id=visit_id,
        village_code=village_code,
        day=visit_date,
        start=f"{start_time:%H:%M}",
        end=f"{end_time:%H:%M}",
        place=place,
        bring=bring,
        stamp=None if stamp is None else as_utc(stamp),
    )


def view_of(visit: VillageVisit) -> VisitView:
    return view(*(getattr(visit, column.key) for column in _COLUMNS))


# --- the look-ups (the hop runs them through Database.read) -------------------------------------

NEXT_VISIT = (  # params: village, today
    select(*_COLUMNS)
    .where(
        VillageVisit.village_code == bindparam("village"),
        VillageVisit.published.is_(True),
        VillageVisit.cancelled.is_(False),
        VillageVisit.visit_date >= bindparam("today"),
    )
    .order_by(VillageVisit.visit_date, VillageVisit.start_time)
    .limit(1)
)


class StoredVisit(NamedTuple):
    visit: VisitView
    cancelled: bool
    subscribed: bool  # the phone asked to be reminded of it before


def stored_visit(*row: Any) -> StoredVisit:
    """A row of VISIT_TO_REMIND_OF."""
    *columns, cancelled, subscribed = row
    return StoredVisit(view(*columns), bool(cancelled), bool(subscribed))


# A visit as stored now, and whether this phone already asked to be reminded of it.
VISIT_TO_REMIND_OF = select(  # params: id, phone
    *_COLUMNS,
    VillageVisit.cancelled,
    exists()
    .where(
        ReminderSubscription.phone == bindparam("phone"),
        ReminderSubscription.kind == "visit_reminder",
        ReminderSubscription.village_code == VillageVisit.village_code,
        ReminderSubscription.visit_id == VillageVisit.id,
    )
    .label("subscribed"),
).where(VillageVisit.id == bindparam("id"))


def next_visit(
    session: Session | Connection, village_code: str, today: dt.date
) -> VisitView | None:
    """The next published, not cancelled visit to a village, today included."""
    row = session.execute(NEXT_VISIT, {"village": village_code, "today": today}).first()
    return None if row is None else view(*row)


# --- what staff do -------------------------------------------------------------------------------


def add_visit(
    session: Session,
    *,
    village_code: str,
    visit_date: dt.date,
    start_time: dt.time,
    end_time: dt.time,
    place: str,
    bring: str | None = None,
    published: bool = True,
) -> VillageVisit:
    if end_time <= start_time:
        raise Refusal(
            "end time {end} is not after start time {start}", end=end_time, start=start_time
        )
    if not place.strip():
        raise Refusal("the place is empty")
    check_length(place, VillageVisit.place, "the place")
    check_length(bring, VillageVisit.bring, "what to bring")
    visit = VillageVisit(
        village_code=village_code,
        visit_date=visit_date,
        start_time=start_time,
        end_time=end_time,
        place=place,
        bring=bring,
        published=published,
        cancelled=False,
    )
    session.add(visit)
    session.flush()
    return visit


# --- subscriptions -------------------------------------------------------------------------------


def subscribe(
    session: Session | Connection,
    *,
    phone: str,
    kind: str,
    village_code: str,
    visit_id: int | None,
    language: str,
) -> bool:
    """Record a reminder/notify-me subscription; False if it already existed. One statement,
    so it runs in an ORM session, in a transaction or alone in autocommit."""
    statement = (
        statements.SUBSCRIBE_TO_VISIT if visit_id is not None else statements.SUBSCRIBE_TO_VILLAGE
    )
    return wrote_one(
        session.execute(
            statement,
            {
                "phone": phone,
                "kind": kind,
                "village_code": village_code,
                "visit_id": visit_id,
                "language": language,
                "now": utcnow(),
            },
        )
    )


def subscribe_with_reminders(
    connection: Connection,
    *,
    phone: str,
    visit: VisitView,
    language: str,
    reminders: list[dict[str, Any]],
) -> tuple[bool, bool]:
    """PostgreSQL, one statement: a "remind me" subscription to ``visit`` (as read) and, if the
    subscription is new and the visit is still as read (not edited, not cancelled since), its
    ``reminders`` (the keyword arguments of ``outbox.add``). Returns (the subscription is new,
    the visit was unchanged): new but changed means its reminders are still to be planned,
    from the visit as stored now."""
    row = connection.execute(
        statements.SUBSCRIBE_WITH_REMINDERS,
        {
            "phone": phone,
            "kind": "visit_reminder",
            "village_code": visit.village_code,
            "visit_id": visit.id,
            "language": language,
            "now": utcnow(),
            "stamp": visit.stamp,
            "bodies": [m["body"] for m in reminders],
            "segments": [count_segments(m["body"]).segments for m in reminders],
            "keys": [m["dedupe_key"] for m in reminders],
            "dues": [m["due_at"] for m in reminders],
        },
    ).one()
    return bool(row.new), bool(row.unchanged)
