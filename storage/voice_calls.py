"""The voice call-backs owed (issue 13): the rows and their moves, like the outbox's.

queued → calling → answered → completed; a call not answered goes back to queued once (after
VOICE_RETRY_MINUTES), then no_answer; failed when the provider refused it. Each function takes
a Session and never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import VoiceCall, utcnow

MAX_ATTEMPTS = 2  # the call-back, and once more if it was not answered
OPEN = ("queued", "calling", "answered")


def calls_today(session: Session, phone: str, day_start: dt.datetime) -> int:
    """Call-backs queued for ``phone`` since ``day_start`` (the local day's start, in UTC)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(VoiceCall)
            .where(VoiceCall.phone == phone, VoiceCall.created_at >= day_start)
        )
        or 0
    )


def queue_callback(
    session: Session, *, phone: str, inbound_session_id: str, due_at: dt.datetime | None = None
) -> VoiceCall | None:
    """A call-back for the missed call ``inbound_session_id``; None if that call already has
    one (the provider repeated its callback), or ``phone`` has one still open."""
    existing = session.scalar(
        select(VoiceCall).where(
            (VoiceCall.inbound_session_id == inbound_session_id)
            | ((VoiceCall.phone == phone) & VoiceCall.status.in_(OPEN))
        )
    )
    if existing is not None:
        return None
    call = VoiceCall(phone=phone, inbound_session_id=inbound_session_id, due_at=due_at or utcnow())
    session.add(call)
    session.flush()
    return call


def due(session: Session, now: dt.datetime, limit: int = 50) -> list[int]:
    return list(
        session.scalars(
            select(VoiceCall.id)
            .where(VoiceCall.status == "queued", VoiceCall.due_at <= now)
            .order_by(VoiceCall.due_at)
            .limit(limit)
        )
    )


def claim(session: Session, call_id: int, now: dt.datetime) -> VoiceCall | None:
    """Take a queued, due call for placing (one worker wins); None if another took it."""
    taken = session.execute(
        update(VoiceCall)
        .where(VoiceCall.id == call_id, VoiceCall.status == "queued", VoiceCall.due_at <= now)
        .values(status="calling", placed_at=now, attempts=VoiceCall.attempts + 1)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(VoiceCall, call_id, populate_existing=True)


def placed(session: Session, call_id: int, session_id: str | None) -> None:
    call = session.get(VoiceCall, call_id)
    if call is not None and session_id and call.session_id is None:
        call.session_id = session_id


def not_answered(
    session: Session, call: VoiceCall, now: dt.datetime, retry_after: dt.timedelta, why: str
) -> None:
    """The call rang out, was refused, or the provider would not place it: once more after
    ``retry_after``, else given up."""
    call.last_error = why[:500]
    call.session_id = None if call.attempts < MAX_ATTEMPTS else call.session_id
    if call.attempts < MAX_ATTEMPTS:
        call.status, call.due_at = "queued", now + retry_after
    else:
        call.status, call.ended_at = "no_answer", now


def failed(session: Session, call: VoiceCall, now: dt.datetime, why: str) -> None:
    call.status, call.ended_at, call.last_error = "failed", now, why[:500]


def for_session(session: Session, session_id: str, phones: Sequence[str]) -> VoiceCall | None:
    """The call a provider callback is about: by its session, else (the callback came before
    the provider's answer to our request did) the newest call being placed to one of
    ``phones``, which then takes the session."""
    call = session.scalar(select(VoiceCall).where(VoiceCall.session_id == session_id))
    if call is not None:
        return call
    if not phones:
        return None
    call = session.scalar(
        select(VoiceCall)
        .where(
            VoiceCall.phone.in_(phones),
            VoiceCall.status == "calling",
            VoiceCall.session_id.is_(None),
        )
        .order_by(VoiceCall.placed_at.desc())
        .limit(1)
    )
    if call is not None:
        call.session_id = session_id
    return call


def stuck(session: Session, before: dt.datetime) -> list[VoiceCall]:
    """Calls placed before ``before`` that no callback ever answered for."""
    return list(
        session.scalars(
            select(VoiceCall).where(
                VoiceCall.status == "calling",
                VoiceCall.answered_at.is_(None),
                VoiceCall.placed_at < before,
            )
        )
    )


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(VoiceCall.status, func.count()).group_by(VoiceCall.status))
    return {status: int(n) for status, n in rows}


def totals(
    session: Session, since: dt.datetime | None = None, phones: Any = None
) -> dict[str, Any]:
    """Calls, answered calls by journey, seconds and cost by currency — since ``since`` and
    for the numbers ``phones`` selects (a village's residents), if given."""
    where = []
    if since is not None:
        where.append(VoiceCall.created_at >= since)
    if phones is not None:
        where.append(VoiceCall.phone.in_(phones))
    calls = int(session.scalar(select(func.count()).select_from(VoiceCall).where(*where)) or 0)
    seconds = int(
        session.scalar(select(func.coalesce(func.sum(VoiceCall.duration_seconds), 0)).where(*where))
        or 0
    )
    by_journey = {
        str(journey or "none"): int(n)
        for journey, n in session.execute(
            select(VoiceCall.journey, func.count())
            .where(VoiceCall.answered_at.is_not(None), *where)
            .group_by(VoiceCall.journey)
        )
    }
    cost: dict[str, Decimal] = {}
    for currency, amount in session.execute(
        select(VoiceCall.currency, VoiceCall.amount).where(VoiceCall.amount.is_not(None), *where)
    ):
        try:
            cost[str(currency or "")] = cost.get(str(currency or ""), Decimal(0)) + Decimal(amount)
        except ArithmeticError:
            continue
    return {"calls": calls, "seconds": seconds, "by_journey": by_journey, "cost": cost}
