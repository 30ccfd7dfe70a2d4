"""What is owed: messages written to the outbox, withdrawn while still queued, or queued again."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.segments import count_segments
from storage import statements
from storage.db import wrote_one
from storage.models import OutboxMessage, utcnow


def add(
    session: Session | Connection,
    *,
    recipient: str,
    kind: str,
    body: str,
    dedupe_key: str,
    due_at: dt.datetime | None = None,
    urgent: bool = False,
    broadcast_id: int | None = None,
    visit_id: int | None = None,
) -> bool:
    """Write one SMS the product owes; False if one with this key was already written.

    ``session`` may be an ORM Session or a Core Connection (the USSD hop's): one statement
    either way."""
    now = utcnow()
    return wrote_one(
        session.execute(
            statements.ADD_MESSAGE,
            {
                "recipient": recipient,
                "kind": kind,
                "urgent": urgent,
                "body": body,
                "segments": count_segments(body).segments,
                "dedupe_key": dedupe_key,
                "due_at": due_at or now,
                "broadcast_id": broadcast_id,
                "visit_id": visit_id,
                "created_at": now,
            },
        )
    )


def add_many(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert many messages at once (broadcasts), skipping dedupe keys already written.

    Each row has recipient, kind, body, dedupe_key and optionally due_at, urgent, broadcast_id,
    visit_id. Returns how many were new. ``rows`` is consumed 10,000 at a time: a generator
    keeps the memory of a district-wide broadcast flat.
    """
    segments_of: dict[str, int] = {}
    now = utcnow()
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    inserted = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, 10000)):
        values = []
        for row in chunk:
            body = row["body"]
            if body not in segments_of:
                segments_of[body] = count_segments(body).segments
            values.append(
                {
                    "recipient": row["recipient"],
                    "kind": row["kind"],
                    "urgent": row.get("urgent", False),
                    "body": body,
                    "segments": segments_of[body],
                    "dedupe_key": row["dedupe_key"],
                    "due_at": row.get("due_at") or now,
                    "broadcast_id": row.get("broadcast_id"),
                    "visit_id": row.get("visit_id"),
                    "created_at": now,
                }
            )
        if on_postgresql:  # one statement, one array per column
            arrays = {c: [v[c] for v in values] for c in statements.MESSAGE_ARRAYS}
            result = session.execute(statements.ADD_MESSAGES, {**arrays, "created_at": now})
        else:  # the one-message statement, run for each (executemany)
            result = session.execute(statements.ADD_MESSAGE, values)
        inserted += result.rowcount or 0  # type: ignore[attr-defined]
    return inserted


def cancel_queued(
    session: Session,
    *,
    broadcast_id: int | None = None,
    visit_id: int | None = None,
    booking_reminder_of: str | None = None,
    reason: str,
    now: dt.datetime,
) -> int:
    """Cancel what is still queued for a broadcast, a visit, or a booking's reminder (sent
    messages stay sent)."""
    condition = OutboxMessage.status == "queued"
    if broadcast_id is not None:
        condition = and_(condition, OutboxMessage.broadcast_id == broadcast_id)
    if visit_id is not None:
        condition = and_(condition, OutboxMessage.visit_id == visit_id)
    if booking_reminder_of is not None:
        condition = and_(
            condition,
            OutboxMessage.dedupe_key.startswith(
                f"booking:{booking_reminder_of}:reminder:", autoescape=True
            ),
        )
    if broadcast_id is None and visit_id is None and booking_reminder_of is None:
        raise ValueError("cancel_queued needs a broadcast, a visit or a booking")
    result = session.execute(
        update(OutboxMessage)
        .where(condition)
        .values(status="cancelled", last_error=reason, cancelled_at=now)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def retry_failed(session: Session, ids: Sequence[int] | None, now: dt.datetime) -> int:
    """Failed messages back to the queue with a fresh count of attempts (an operator's)."""
    condition = OutboxMessage.status == "failed"
    if ids is not None:
        condition = and_(condition, OutboxMessage.id.in_(ids))
    result = session.execute(
        update(OutboxMessage)
        .where(condition)
        .values(status="queued", attempts=0, due_at=now, enqueued_at=None, failed_at=None)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def counts_by_status(session: Session, broadcast_id: int | None = None) -> dict[str, int]:
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if broadcast_id is not None:
        query = query.where(OutboxMessage.broadcast_id == broadcast_id)
    return {status: int(n) for status, n in session.execute(query).all()}


def counts_by_provider(session: Session) -> dict[tuple[str, str], int]:
    """Messages a provider took, by provider and status (those no provider took yet are not
    counted here)."""
    query = (
        select(OutboxMessage.provider, OutboxMessage.status, func.count())
        .where(OutboxMessage.provider.is_not(None))
        .group_by(OutboxMessage.provider, OutboxMessage.status)
    )
    return {(str(p), status): int(n) for p, status, n in session.execute(query).all()}
