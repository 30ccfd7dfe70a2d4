"""Delivery reports: the provider tells what became of a message. They may come twice, late, or
before the send call that returned their id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage import counters
from storage.models import DeliveryReport, OutboxMessage
from storage.outbox.sending import chunks

FINAL_FAILURE_REPORTS = {"Rejected", "Failed", "AbsentSubscriber", "Expired"}
INTERIM_REPORTS = {"Sent", "Submitted", "Buffered"}


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
    for chunk in chunks(list(provider_ids), 1000):
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


def apply_matched_reports(session: Session, batch: int = 1000) -> int:
    """Apply the waiting reports whose message is known by now. A report recorded while the
    transaction that gives its message the provider's id was still open found no message, and
    that transaction did not see the report: neither applied it. The sender applies reports
    again after its commit; this, run by every sweep, closes what is left of that window (a
    report whose own transaction outlived the sender's second look). Returns how many."""
    applied = 0
    while True:
        pairs = session.execute(
            select(DeliveryReport, OutboxMessage)
            .join(
                OutboxMessage,
                OutboxMessage.provider_message_id == DeliveryReport.provider_message_id,
            )
            .where(DeliveryReport.applied.is_(False))
            .order_by(DeliveryReport.id)
            .limit(batch)
        ).all()
        for report, message in pairs:
            _apply(message, report)
        session.flush()
        applied += len(pairs)
        if len(pairs) < batch:
            return applied


def drop_unmatched_reports(session: Session, before: dt.datetime, batch: int = 10_000) -> int:
    """Drop the reports received before ``before`` that no message of ours has claimed (the
    send call that would return their id is long over: forged, or for a message whose send we
    never recorded), and count them (``counters.DELIVERY_REPORTS_DROPPED``). Returns how many."""
    dropped = 0
    while True:
        ids = list(
            session.scalars(
                select(DeliveryReport.id)
                .where(DeliveryReport.applied.is_(False), DeliveryReport.received_at < before)
                .limit(batch)
            )
        )
        if ids:
            session.execute(delete(DeliveryReport).where(DeliveryReport.id.in_(ids)))
            dropped += len(ids)
        if len(ids) < batch:
            break
    counters.add(session, counters.DELIVERY_REPORTS_DROPPED, dropped)
    return dropped


def unmatched_reports(session: Session) -> int:
    """Reports waiting for their message now (each is dropped after the settable time)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(DeliveryReport)
            .where(DeliveryReport.applied.is_(False))
        )
        or 0
    )


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
