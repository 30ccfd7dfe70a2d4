"""The audit log (admins): who changed what, field by field, before → after, with names rather
than codes; filtered by person and by day (WITA)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from flask import render_template, request
from sqlalchemy import select

from common.local_time import LOCAL_TZ
from gateway.console import bp, translate
from gateway.console.auth import roles
from gateway.console.formatting import audience, day, language_name, village, when
from gateway.runtime import runtime
from storage.models import AuditEntry

SHOWN = 200  # the newest entries

# What each recorded action means, in words (translated when shown); an action not listed here
# (a new one) shows as recorded.
ACTIONS = {
    "request.add": "registered a request",
    "request.status": "changed a request's status",
    "visit.add": "added a village visit",
    "visit.publish": "published a village visit",
    "visit.edit": "changed a village visit",
    "visit.cancel": "cancelled a village visit",
    "booking.schedule": "scheduled a home visit",
    "booking.done": "marked a home visit done",
    "booking.cancelled": "cancelled a home visit",
    "broadcast.send": "sent a broadcast",
    "broadcast.cancel": "cancelled a broadcast",
    "user.create": "created a log-in",
    "user.active": "switched a log-in off or on",
    "user.password": "set a password",
    "resident.update": "changed a resident",
    "residents.import": "imported residents",
    "regions.import": "imported the region list",
    "outbox.retry": "queued failed messages again",
    "demo.load": "loaded the demo data",
}
RECORDS = {
    "document_request": "request",
    "village_visit": "visit",
    "home_visit_booking": "home visit",
    "broadcast": "broadcast",
    "user": "user",
    "resident": "resident",
    "outbox": "messages",
}
# Field names as staff say them.
FIELDS = {
    "status": "Status",
    "pickup": "Collect at",
    "village_code": "Village",
    "date": "Date",
    "start": "Start",
    "end": "End",
    "place": "Place",
    "bring": "Bring",
    "published": "Published",
    "cancelled": "Cancelled",
    "scheduled_for": "When",
    "team": "Team",
    "type": "Document",
    "audience": "Audience",
    "text": "Message",
    "translations": "English version",
    "recipients": "Number of recipients",
    "send_at": "Send at",
    "messages_cancelled": "Messages cancelled",
    "role": "Role",
    "active": "Active",
    "opted_out": "Opted out",
    "language": "Language",
    "requeued": "Queued again",
}


@dataclass
class Change:
    field: str
    before: str
    after: str


def _decoded(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"": text}
    return value if isinstance(value, dict) else {"": value}


def _shown(field: str, value: Any) -> str:
    """A recorded value as a person reads it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return translate("yes") if value else translate("no")
    if field == "village_code":
        return village(str(value))
    if field == "language":
        return language_name(str(value))
    if field == "audience":
        return audience(str(value))
    if field in ("status", "type", "role"):
        return translate(str(value))
    if field == "translations" and isinstance(value, dict):
        return " / ".join(f"{language_name(k)}: {v}" for k, v in value.items() if v) or "—"
    if field in ("scheduled_for", "send_at"):
        try:
            return when(dt.datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if field == "date":
        try:
            return day(dt.date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    return str(value)


def changes(entry: AuditEntry) -> list[Change]:
    """The fields an entry records, before → after; a field that did not change is left out
    when there is a before to compare with."""
    before, after = _decoded(entry.before), _decoded(entry.after)
    rows = []
    for field in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(field), after.get(field)
        if entry.before is not None and old == new:
            continue
        rows.append(
            Change(
                translate(FIELDS[field]) if field in FIELDS else field,
                _shown(field, old) if field in before else "",
                _shown(field, new) if field in after else "",
            )
        )
    return rows


def record(entry: AuditEntry) -> str:
    name = translate(RECORDS[entry.entity]) if entry.entity in RECORDS else entry.entity
    if entry.entity == "resident" or not entry.entity_id:
        return f"{name} {entry.entity_id or ''}".strip()
    return f"{name} {entry.entity_id}"


@bp.get("/audit")
@roles("admin")
def audit_log() -> str:
    who = request.args.get("who", "").strip()
    on = request.args.get("day", "").strip()
    try:
        chosen_day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        chosen_day = None
    with runtime().db.begin() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(SHOWN)
        if who:
            query = query.where(AuditEntry.actor == who)
        if chosen_day:
            start = dt.datetime.combine(chosen_day, dt.time(), LOCAL_TZ).astimezone(dt.UTC)
            query = query.where(
                AuditEntry.at >= start, AuditEntry.at < start + dt.timedelta(days=1)
            )
        rows = session.scalars(query).all()
        people = session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor))
        entries = [
            {
                "at": e.at,
                "actor": e.actor,
                "action": translate(ACTIONS[e.action]) if e.action in ACTIONS else e.action,
                "record": record(e),
                "changes": changes(e),
            }
            for e in rows
        ]
        people_list = list(people)
    return render_template(
        "console/audit.html",
        entries=entries,
        people=people_list,
        who=who,
        day=chosen_day.isoformat() if chosen_day else "",
    )
