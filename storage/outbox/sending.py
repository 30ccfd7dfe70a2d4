"""Sending: the sweep finds what is due, a job claims it, the provider's answer moves it on.

- ``claim`` moves rows queued → sending atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
  so two jobs holding the same ids send each message once;
- ``take_back_stuck`` returns rows a dead worker left in 'sending' to the queue: only the chunk
  that was in flight can be sent a second time;
- ``due_for_dispatch`` finds what is due and not already waiting in the job queue (or whose
  job was lost, e.g. Redis flushed), for the sweep to enqueue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from common.local_time import as_utc
from storage import statements
from storage.models import OutboxMessage, Resident

OPT_OUT_KINDS = ("broadcast", "reminder")  # opt-outs are honoured for these


# --- dispatch (the sweep) -----------------------------------------------------------------------


def due_for_dispatch(
    session: Session, now: dt.datetime, *, quiet: bool, requeue_before: dt.datetime, limit: int
) -> list[int]:
    """Queued messages that are due and not waiting in the job queue (or whose job was lost)."""
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == "queued",
            OutboxMessage.due_at <= now,
            or_(OutboxMessage.enqueued_at.is_(None), OutboxMessage.enqueued_at < requeue_before),
        )
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if quiet:
        query = query.where(OutboxMessage.urgent.is_(True))
    return list(session.scalars(query))


def mark_enqueued(session: Session, ids: Sequence[int], now: dt.datetime) -> None:
    for chunk in chunks(ids, 1000):
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(chunk)).values(enqueued_at=now)
        )


def take_back_stuck(session: Session, stuck_before: dt.datetime) -> int:
    """Messages left 'sending' by a worker that died go back to the queue."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < stuck_before)
        .values(status="queued", enqueued_at=None, last_error="worker stopped while sending")
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    id: int
    recipient: str
    kind: str
    body: str
    urgent: bool
    attempts: int


def claim(session: Session, ids: Sequence[int], now: dt.datetime) -> list[Claimed]:
    """Take the due, queued messages among ``ids`` for sending (queued → sending).

    Two statements whatever the number of ids: lock by primary key only (a status condition
    here lets PostgreSQL pick the (status, due_at) index and read every queued row of a big
    broadcast), then one UPDATE for the rows that are ours."""
    table = OutboxMessage.__table__
    rows = session.execute(
        select(
            table.c.id,
            table.c.recipient,
            table.c.kind,
            table.c.body,
            table.c.urgent,
            table.c.attempts,
            table.c.status,
            table.c.due_at,
        )
        .where(table.c.id.in_(ids))
        .order_by(table.c.id)
        .with_for_update(skip_locked=True)
    ).all()
    mine = [r for r in rows if r.status == "queued" and as_utc(r.due_at) <= now]
    if not mine:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([r.id for r in mine]))
        .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return [Claimed(r.id, r.recipient, r.kind, r.body, r.urgent, r.attempts + 1) for r in mine]


def opted_out(session: Session, phones: Iterable[str]) -> set[str]:
    wanted = list(set(phones))
    found: set[str] = set()
    for chunk in chunks(wanted, 1000):
        found.update(
            session.scalars(
                select(Resident.phone).where(
                    Resident.phone.in_(chunk), Resident.opted_out.is_(True)
                )
            )
        )
    return found


def postpone(session: Session, message_ids: Sequence[int], until: dt.datetime) -> None:
    """Back to the queue until ``until`` (quiet hours); the sweep enqueues them then."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(status="queued", due_at=until, enqueued_at=None)
    )


def mark_sent(
    session: Session,
    message_id: int,
    provider_id: str | None,
    now: dt.datetime,
    provider: str | None = None,
) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            status="sent",
            provider_message_id=provider_id,
            sent_at=now,
            last_error=None,
            provider=provider,
        )
    )


def mark_sent_many(
    session: Session,
    sent: Sequence[tuple[int, str | None]],
    now: dt.datetime,
    provider: str | None = None,
) -> None:
    """Many sent messages in one statement, with the provider that accepted them."""
    if not sent:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(
            update(OutboxMessage),
            [
                {
                    "id": message_id,
                    "status": "sent",
                    "provider_message_id": provider_id,
                    "sent_at": now,
                    "last_error": None,
                    "provider": provider,
                }
                for message_id, provider_id in sent
            ],
        )
        return
    session.execute(
        statements.MARK_SENT_MANY,
        {
            "ids": [i for i, _ in sent],
            "pids": [p for _, p in sent],
            "now": now,
            "provider": provider,
        },
    )


def mark_failed(session: Session, message_id: int, reason: str, now: dt.datetime) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status="failed", last_error=reason[:500], failed_at=now)
    )


def mark_cancelled(
    session: Session, message_ids: Sequence[int], reason: str, now: dt.datetime
) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(status="cancelled", last_error=reason, cancelled_at=now)
    )


def requeue(session: Session, message_id: int, reason: str, now: dt.datetime) -> None:
    """A transient failure: back to the queue, marked as enqueued (its job will be retried)."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status="queued", last_error=reason[:500], enqueued_at=now)
    )


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
