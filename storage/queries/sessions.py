"""The USSD session log: one row per call, for the dashboard and the operators."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from storage.models import UssdSessionLog, utcnow

_SESSION_FIELDS = (
    "service_code",
    "network_code",
    "journey",
    "hops",
    "outcome",
    "provider_status",
    "started_at",
    "ended_at",
    "last_screen",
    "simulator",
)


def record_sessions(session: Session, records: list[dict[str, object]]) -> int:
    """Insert or complete USSD session log rows (records come from the session store).

    A web process does this between two requests, for up to a thousand records: one query
    finds the rows that exist, then one bulk INSERT and one bulk UPDATE (Core-speed
    executemany, no ORM objects). Returns how many records were applied."""
    changes: dict[str, dict[str, object]] = {}  # session id -> fields the records set
    phones: dict[str, str] = {}
    for rec in records:
        # From the wire: PostgreSQL refuses NUL in text, and one bad record would lose the batch.
        clean = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in rec.items()}
        session_id = str(clean["session_id"])
        phones.setdefault(session_id, str(clean["phone"]))
        fields = changes.setdefault(session_id, {})
        for key in _SESSION_FIELDS:
            value = clean.get(key)
            if isinstance(value, str) and key.endswith("_at"):
                value = dt.datetime.fromisoformat(value)
            if value is not None:
                fields[key] = value
    table = UssdSessionLog.__table__
    ids = list(changes)
    existing: dict[str, dict[str, object]] = {}
    for start in range(0, len(ids), 1000):
        for row in session.execute(
            select(table).where(table.c.session_id.in_(ids[start : start + 1000]))
        ):
            existing[row.session_id] = dict(row._mapping)
    inserts, updates = [], []
    for session_id, fields in changes.items():
        if session_id in existing:
            updates.append({**existing[session_id], **fields})
        else:
            inserts.append(
                {
                    "session_id": session_id,
                    "phone": phones[session_id],
                    "service_code": None,
                    "network_code": None,
                    "journey": None,
                    "hops": 0,
                    "outcome": "dropped",
                    "provider_status": None,
                    "started_at": utcnow(),
                    "ended_at": None,
                    "last_screen": None,
                    "simulator": False,
                    **fields,
                }
            )
    if inserts:
        session.execute(insert(UssdSessionLog), inserts)
    if updates:
        session.execute(update(UssdSessionLog), updates)  # by primary key ("id")
    return len(records)
