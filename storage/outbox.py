"""The outbox: every SMS the product owes, and the moves of its state machine.

queued → sending → sent → delivered | failed, or cancelled while still queued.

Each function takes a Session and never commits. The rules that keep "never lost, never sent
twice" true live here:
- ``claim`` moves rows queued → sending atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
  so two jobs holding the same ids send each message once;
- ``take_back_stuck`` returns rows a dead worker left in 'sending' to the queue: only the chunk
  that was in flight can be sent a second time;
- ``due_for_dispatch`` finds what is due and not already waiting in the job queue (or whose
  job was lost, e.g. Redis flushed), for the sweep to enqueue.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, DateTime, and_, bindparam, func, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.segments import count_segments
from storage.db import wrote_one
from storage.models import DeliveryReport, OutboxMessage, Resident, utcnow

OPT_OUT_KINDS = ("broadcast", "reminder")  # SPEC §4: opt-outs are honoured for these
FINAL_FAILURE_REPORTS = {"Rejected", "Failed", "AbsentSubscriber", "Expired"}
INTERIM_REPORTS = {"Sent", "Submitted", "Buffered"}


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

    ``session`` may be an ORM Session or a Core Connection (the USSD hop's ``Database.write``):
    one statement either way."""
    now = utcnow()
    return wrote_one(
        session.execute(
            _INSERT_ONE,
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


# Plain SQL that PostgreSQL and SQLite (3.24+) both understand, because SQLAlchemy cannot cache
# its own on_conflict_do_nothing() constructs: each execution would be compiled again (~0.3 ms
# of CPU, on a USSD hop). Typed parameters keep dates stored as the ORM stores them.
_INSERT_ONE = text(
    "INSERT INTO outbox_messages (recipient, kind, urgent, body, segments, dedupe_key, status,"
    " due_at, attempts, broadcast_id, visit_id, created_at)"
    " VALUES (:recipient, :kind, :urgent, :body, :segments, :dedupe_key, 'queued', :due_at, 0,"
    " :broadcast_id, :visit_id, :created_at)"
    " ON CONFLICT (dedupe_key) DO NOTHING"
).bindparams(
    bindparam("urgent", type_=Boolean()),
    bindparam("due_at", type_=DateTime(timezone=True)),
    bindparam("created_at", type_=DateTime(timezone=True)),
)


def add_many(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert many messages at once (broadcasts), skipping dedupe keys already written.

    Each row has recipient, kind, body, dedupe_key and optionally due_at, urgent, broadcast_id,
    visit_id. Returns how many were new. ``rows`` is consumed 10,000 at a time: a generator
    keeps the memory of a district-wide broadcast flat.
    """
    segments_of: dict[str, int] = {}
    now = utcnow()
    dialect = session.get_bind().dialect.name
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
                    "body": body,
                    "dedupe_key": row["dedupe_key"],
                    "status": "queued",
                    "due_at": row.get("due_at") or now,
                    "urgent": row.get("urgent", False),
                    "attempts": 0,
                    "segments": segments_of[body],
                    "created_at": now,
                    "broadcast_id": row.get("broadcast_id"),
                    "visit_id": row.get("visit_id"),
                }
            )
        inserted += _insert_new(session, dialect, values)
    return inserted


_PG_COLUMNS = {
    "recipient": "varchar[]",
    "kind": "varchar[]",
    "body": "text[]",
    "dedupe_key": "varchar[]",
    "status": "varchar[]",
    "due_at": "timestamptz[]",
    "urgent": "boolean[]",
    "attempts": "integer[]",
    "segments": "integer[]",
    "created_at": "timestamptz[]",
    "broadcast_id": "integer[]",
    "visit_id": "integer[]",
}
_PG_INSERT = text(
    f"INSERT INTO outbox_messages ({', '.join(_PG_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t})" for c, t in _PG_COLUMNS.items())
    + ") ON CONFLICT (dedupe_key) DO NOTHING"
)


def _insert_new(session: Session, dialect: str, values: list[dict[str, Any]]) -> int:
    if dialect == "postgresql":
        # One short statement, one array per column: a multi-row VALUES of 12,000
        # placeholders costs psycopg ~0.15 s per 1,000 rows just to parse.
        result = session.execute(_PG_INSERT, {c: [v[c] for v in values] for c in _PG_COLUMNS})
        return result.rowcount or 0  # type: ignore[attr-defined]
    if dialect != "sqlite":  # pragma: no cover - only the two supported databases
        raise NotImplementedError(dialect)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    table = OutboxMessage.__table__
    statement = sqlite_insert(table).on_conflict_do_nothing(  # type: ignore[arg-type]
        index_elements=["dedupe_key"]
    )
    return len(session.execute(statement.returning(table.c.id), values).all())


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
    for chunk in _chunks(ids, 1000):
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


# --- sending -----------------------------------------------------------------------------------


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
    mine = [r for r in rows if r.status == "queued" and _aware(r.due_at) <= now]
    if not mine:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([r.id for r in mine]))
        .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return [Claimed(r.id, r.recipient, r.kind, r.body, r.urgent, r.attempts + 1) for r in mine]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite: naive UTC


def opted_out(session: Session, phones: Iterable[str]) -> set[str]:
    wanted = list(set(phones))
    found: set[str] = set()
    for chunk in _chunks(wanted, 1000):
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


def mark_sent(session: Session, message_id: int, provider_id: str | None, now: dt.datetime) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status="sent", provider_message_id=provider_id, sent_at=now, last_error=None)
    )


def mark_sent_many(
    session: Session, sent: Sequence[tuple[int, str | None]], now: dt.datetime
) -> None:
    """Many sent messages in one statement."""
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
                }
                for message_id, provider_id in sent
            ],
        )
        return
    session.execute(
        text(
            "UPDATE outbox_messages AS m SET status = 'sent', provider_message_id = v.pid, "
            "sent_at = :now, last_error = NULL "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:pids AS varchar[])) AS v(id, pid) "
            "WHERE m.id = v.id"
        ),
        {"ids": [i for i, _ in sent], "pids": [p for _, p in sent], "now": now},
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


# --- delivery reports --------------------------------------------------------------------------


def record_delivery_report(
    session: Session,
    *,
    provider_id: str,
    status: str,
    failure_reason: str | None,
    phone: str | None,
    now: dt.datetime,
) -> str:
    """Keep the report and apply it if its message is known. Idempotent; order-tolerant.

    Returns "applied", "duplicate" or "pending" (the send call has not returned yet: applied
    when it does, by ``apply_pending_reports``).
    """
    if session.scalar(
        select(DeliveryReport.id).where(
            DeliveryReport.provider_message_id == provider_id, DeliveryReport.status == status
        )
    ):
        return "duplicate"
    report = DeliveryReport(
        provider_message_id=provider_id,
        status=status,
        failure_reason=failure_reason,
        phone=phone,
        applied=False,
        received_at=now,
    )
    session.add(report)
    session.flush()
    message = session.scalar(
        select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_id)
    )
    if message is None:
        return "pending"
    _apply(message, report)
    return "applied"


def apply_pending_reports(session: Session, provider_ids: Sequence[str]) -> int:
    """Apply reports that arrived before the send call returned the ids they refer to."""
    applied = 0
    for chunk in _chunks(list(provider_ids), 1000):
        reports = list(
            session.scalars(
                select(DeliveryReport)
                .where(
                    DeliveryReport.provider_message_id.in_(chunk), DeliveryReport.applied.is_(False)
                )
                .order_by(DeliveryReport.id)
            )
        )
        if not reports:
            continue
        messages = {
            m.provider_message_id: m
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.provider_message_id.in_(chunk))
            )
        }
        for report in reports:
            message = messages.get(report.provider_message_id)
            if message is not None:
                _apply(message, report)
                applied += 1
    session.flush()
    return applied


def _apply(message: OutboxMessage, report: DeliveryReport) -> None:
    """A final state (delivered, failed) is never undone by a late interim report."""
    report.applied = True
    if message.status in ("delivered", "failed", "cancelled"):
        return
    message.provider_status = report.status
    if report.status == "Success":
        message.status = "delivered"
        message.delivered_at = report.received_at
    elif report.status in FINAL_FAILURE_REPORTS:
        message.status = "failed"
        message.failed_at = report.received_at
        message.last_error = f"{report.status}: {report.failure_reason or 'no reason given'}"
    elif message.status in ("queued", "sending"):
        message.status = "sent"  # the provider has it, whatever our send call said so far


# --- operator actions --------------------------------------------------------------------------


def retry_failed(session: Session, ids: Sequence[int] | None, now: dt.datetime) -> int:
    """Failed messages back to the queue with a fresh count of attempts."""
    condition = OutboxMessage.status == "failed"
    if ids is not None:
        condition = and_(condition, OutboxMessage.id.in_(ids))
    result = session.execute(
        update(OutboxMessage)
        .where(condition)
        .values(status="queued", attempts=0, due_at=now, enqueued_at=None, failed_at=None)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


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


def counts_by_status(session: Session, broadcast_id: int | None = None) -> dict[str, int]:
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if broadcast_id is not None:
        query = query.where(OutboxMessage.broadcast_id == broadcast_id)
    return {status: int(n) for status, n in session.execute(query).all()}


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
