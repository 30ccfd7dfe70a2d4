"""Call-back requests ("Minta ditelepon petugas"): a resident asks, staff call and mark it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.local_time import local_date
from common.views import CallbackResult
from storage import outbox
from storage.models import CallbackRequest, utcnow

_OPEN = select(CallbackRequest.id, CallbackRequest.created_at).where(
    CallbackRequest.status == "open"
)


def request_callback(
    connection: Connection,
    *,
    phone: str,
    reason: str,
    language: str,
    channel: str,
    confirmation_sms: Callable[[], str] | None = None,
) -> CallbackResult:
    """A new call-back request and its SMS (both or neither, in the caller's transaction), or
    the phone's open one. Rare (a few a day), so a look-up first; the partial unique index
    settles two racing requests (the loser finds the winner's)."""
    for _ in range(2):
        row = connection.execute(_OPEN.where(CallbackRequest.phone == phone)).first()
        if row is not None:
            return CallbackResult(created=False, asked=local_date(row.created_at))
        now = utcnow()
        try:
            with connection.begin_nested():
                new_id = connection.execute(
                    insert(CallbackRequest)
                    .values(
                        phone=phone,
                        reason=reason,
                        language=language,
                        channel=channel,
                        status="open",
                        created_at=now,
                    )
                    .returning(CallbackRequest.id)
                ).scalar_one()
        except IntegrityError:
            continue  # a racing request made it first: read it
        if confirmation_sms is not None:
            outbox.add(
                connection,
                recipient=phone,
                kind="notification",
                urgent=True,  # the answer to the resident's own action
                body=confirmation_sms(),
                dedupe_key=f"callback:{new_id}:asked",
            )
        return CallbackResult(created=True, asked=local_date(now))
    raise RuntimeError("a call-back request neither found nor made")


def queue(session: Session, status: str = "waiting", limit: int = 200) -> list[CallbackRequest]:
    """The queue staff work through: ``waiting`` (open and not reached, oldest first), one
    status, or ``""`` for all (newest first)."""
    query = select(CallbackRequest)
    if status == "waiting":
        query = query.where(CallbackRequest.status.in_(("open", "not_reached"))).order_by(
            CallbackRequest.created_at
        )
    elif status:
        query = query.where(CallbackRequest.status == status).order_by(CallbackRequest.created_at)
    else:
        query = query.order_by(CallbackRequest.created_at.desc())
    return list(session.scalars(query.limit(limit)))


def count_waiting(session: Session) -> int:
    return len(
        session.scalars(
            select(CallbackRequest.id).where(CallbackRequest.status.in_(("open", "not_reached")))
        ).all()
    )


def get(session: Session, request_id: int) -> CallbackRequest | None:
    return session.get(CallbackRequest, request_id)


def asked_on(request: CallbackRequest) -> dt.date:
    return local_date(request.created_at)
