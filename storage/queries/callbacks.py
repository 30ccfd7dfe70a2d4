"""Call-back requests ("Minta ditelepon petugas"): a resident asks, staff call and mark it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.local_time import local_date
from common.views import CallbackResult
from storage import outbox
from storage.models import CallbackRequest, utcnow

_OPEN_WHERE = text("status = 'open'")  # the partial unique index uq_callback_requests_open
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
    settles two racing requests (the loser's INSERT does nothing, and it reads the winner's)."""
    for _ in range(2):
        row = connection.execute(_OPEN.where(CallbackRequest.phone == phone)).first()
        if row is not None:
            return CallbackResult(created=False, asked=local_date(row.created_at))
        now = utcnow()
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(
            CallbackRequest
        )
        new_id = connection.execute(
            insert.values(
                phone=phone,
                reason=reason,
                language=language,
                channel=channel,
                status="open",
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["phone"], index_where=_OPEN_WHERE)
            .returning(CallbackRequest.id)
        ).scalar()
        if new_id is None:
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
