"""What staff do, once, for every door: the operator CLI and the staff console call these.

Each action takes the session (the caller owns the transaction), the actor (a username, or
``cli:NAME`` for the operator's shell: the OS user, or ``--actor``) and plain values; it changes
the data, writes the SMS the change owes to the outbox (via the ResidentSms) and an audit entry
with the before and after — all in the same transaction. Bad input raises ``ActionError`` with a
sentence for a person to read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common import request_lifecycle
from common.local_time import LOCAL_TZ, local_today
from common.refusals import Refusal, Word
from gateway.broadcasts import Audience
from gateway.resident_sms import ResidentSms
from storage import queries
from storage.models import (
    AuditEntry,
    Broadcast,
    CallbackRequest,
    DocumentRequest,
    HomeVisitBooking,
    VillageVisit,
    utcnow,
)


class ActionError(Refusal):
    """The action cannot be done as asked; the message says why, for a person: an English
    template (its message key) and its values, so the console says it in the reader's language
    and the CLI in English."""

    @classmethod
    def of(cls, error: ValueError) -> ActionError:
        """A refusal from storage (or any ValueError) as the action's."""
        if isinstance(error, Refusal):
            return cls(error.key, **error.params)
        return cls(str(error))


def audit(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            before=json.dumps(before, default=str, ensure_ascii=False)
            if before is not None
            else None,
            after=json.dumps(after, default=str, ensure_ascii=False) if after is not None else None,
            at=utcnow(),
        )
    )


def _visit_fields(visit: VillageVisit) -> dict[str, Any]:
    return {
        "village_code": visit.village_code,
        "date": visit.visit_date,
        "start": f"{visit.start_time:%H:%M}",
        "end": f"{visit.end_time:%H:%M}",
        "place": visit.place,
        "bring": visit.bring,
        "published": visit.published,
        "cancelled": visit.cancelled,
    }


# --- document requests -------------------------------------------------------------------------


def add_request(
    session: Session, resident_sms: ResidentSms | None, actor: str, **values: Any
) -> DocumentRequest:
    """Register a request; its applicant is told its number and how to check it by SMS (unless
    ``resident_sms`` is None: the demo's data)."""
    try:
        reason = request_lifecycle.clean_reason(values.pop("status_reason", None))
        if values.get("status") == request_lifecycle.NEEDS_COMPLETION and reason is None:
            raise request_lifecycle.MoveRefused("Say what is missing (the resident is told).")
        request = queries.add_request(session, status_reason=reason, **values)
    except ValueError as error:
        raise ActionError.of(error) from error
    if resident_sms is not None:
        resident_sms.request_registered(session, request)
    audit(
        session,
        actor,
        "request.add",
        "document_request",
        request.number,
        after={
            "type": request.doc_type,
            "status": request.status,
            "village_code": request.village_code,
        },
    )
    return request


def request_move(
    session: Session,
    number: str,
    status: str,
    pickup: str | None = None,
    reason: str | None = None,
) -> request_lifecycle.Move:
    """What setting ``status`` on request ``number`` would be (common/request_lifecycle.py), or
    ActionError; changes nothing."""
    found = queries.find_request(session, number)
    if found is None:
        raise ActionError("no request with number {number}", number=number)
    try:
        return request_lifecycle.move(
            found.status,
            status,
            reason=reason,
            details_changed=pickup is not None and pickup != found.pickup_place,
            old_reason=found.status_reason,
        )
    except request_lifecycle.MoveRefused as error:
        raise ActionError.of(error) from error


def _request_fields(request: DocumentRequest) -> dict[str, Any]:
    """What the audit log records of a status change (the reason only when there is one)."""
    fields: dict[str, Any] = {"status": request.status, "pickup": request.pickup_place}
    if request.status_reason:
        fields["reason"] = request.status_reason
    return fields


def set_request_status(
    session: Session,
    resident_sms: ResidentSms,
    actor: str,
    number: str,
    status: str,
    pickup: str | None = None,
    reason: str | None = None,
) -> DocumentRequest:
    """Move the request along its lifecycle: the same status again changes and sends nothing;
    going back needs ``reason``, as does "perlu dilengkapi" (what is missing)."""
    move = request_move(session, number, status, pickup, reason)
    found = queries.find_request(session, number)
    assert found is not None  # (request_move found it)
    if move.kind == request_lifecycle.UNCHANGED:
        return found
    before = _request_fields(found)
    try:
        request = queries.set_request_status(session, number, status, pickup, move.reason)
    except ValueError as error:
        raise ActionError.of(error) from error
    if move.sms is not None:
        resident_sms.request_status_changed(
            session, request, queries.last_status_change_id(session, request), move.sms
        )
    after = _request_fields(request)
    if "reason" in before or "reason" in after:  # both sides name it, None included
        before.setdefault("reason", None)
        after.setdefault("reason", None)
    audit(session, actor, "request.status", "document_request", number, before, after)
    return request


# --- village visits -----------------------------------------------------------------------------


def add_visit(
    session: Session,
    resident_sms: ResidentSms,
    actor: str,
    *,
    village_code: str,
    visit_date: dt.date,
    start: dt.time,
    end: dt.time,
    place: str,
    bring: str | None,
    publish: bool,
) -> tuple[VillageVisit, int]:
    """Returns the visit and how many residents will be told (0 for a draft)."""
    if visit_date < local_today():
        raise ActionError("{date} is in the past", date=visit_date)
    try:
        visit = queries.add_visit(
            session,
            village_code=village_code,
            visit_date=visit_date,
            start_time=start,
            end_time=end,
            place=place.strip(),
            bring=(bring or "").strip() or None,
            published=publish,
        )
    except ValueError as error:
        raise ActionError.of(error) from error
    told = (
        resident_sms.visit_published(session, visit, created_by=actor).recipients if publish else 0
    )
    audit(session, actor, "visit.add", "village_visit", visit.id, after=_visit_fields(visit))
    return visit, told


def get_visit(session: Session, visit_id: int) -> VillageVisit:
    visit = session.get(VillageVisit, visit_id)
    if visit is None:
        raise ActionError("no visit with id {id}", id=visit_id)
    return visit


def publish_visit(session: Session, resident_sms: ResidentSms, actor: str, visit_id: int) -> int:
    """Returns how many residents will be told."""
    return publish_visit_broadcast(session, resident_sms, actor, visit_id).recipients


def publish_visit_broadcast(
    session: Session, resident_sms: ResidentSms, actor: str, visit_id: int
) -> Broadcast:
    """``publish_visit``, returning the broadcast that announces the visit (the console shows
    its progress next)."""
    visit = get_visit(session, visit_id)
    if visit.cancelled:
        raise ActionError("visit {id} is cancelled", id=visit_id)
    if visit.published:
        raise ActionError("visit {id} is already published", id=visit_id)
    before = _visit_fields(visit)
    visit.published = True
    session.flush()
    broadcast = resident_sms.visit_published(session, visit, created_by=actor)
    audit(session, actor, "visit.publish", "village_visit", visit_id, before, _visit_fields(visit))
    return broadcast


def edit_visit(
    session: Session,
    resident_sms: ResidentSms,
    actor: str,
    visit_id: int,
    *,
    visit_date: dt.date | None = None,
    start: dt.time | None = None,
    end: dt.time | None = None,
    place: str | None = None,
    bring: str | None = None,
) -> int:
    """Returns how many residents already told get the change."""
    visit = get_visit(session, visit_id)
    if visit.cancelled:
        raise ActionError("visit {id} is cancelled", id=visit_id)
    before = _visit_fields(visit)
    if visit_date is not None:
        if visit_date < local_today():
            raise ActionError("{date} is in the past", date=visit_date)
        visit.visit_date = visit_date
    if start is not None:
        visit.start_time = start
    if end is not None:
        visit.end_time = end
    if visit.end_time <= visit.start_time:
        raise ActionError(
            "end time {end} is not after start time {start}",
            end=visit.end_time,
            start=visit.start_time,
        )
    if place is not None:
        if not place.strip():
            raise ActionError("the place cannot be empty")
        visit.place = place.strip()
    if bring is not None:
        visit.bring = bring.strip() or None
    visit.updated_at = utcnow()
    session.flush()
    told = resident_sms.visit_changed(session, visit, cancelled=False) if visit.published else 0
    audit(session, actor, "visit.edit", "village_visit", visit_id, before, _visit_fields(visit))
    return told


def cancel_visit(session: Session, resident_sms: ResidentSms, actor: str, visit_id: int) -> int:
    visit = get_visit(session, visit_id)
    if visit.cancelled:
        raise ActionError("visit {id} is already cancelled", id=visit_id)
    before = _visit_fields(visit)
    visit.cancelled = True
    visit.updated_at = utcnow()
    session.flush()
    told = resident_sms.visit_changed(session, visit, cancelled=True)
    audit(session, actor, "visit.cancel", "village_visit", visit_id, before, _visit_fields(visit))
    return told


# --- home-visit bookings ------------------------------------------------------------------------


def get_booking(session: Session, number: str) -> HomeVisitBooking:
    booking = session.scalar(select(HomeVisitBooking).where(HomeVisitBooking.number == number))
    if booking is None:
        raise ActionError("no booking with number {number}", number=number)
    return booking


def schedule_booking(
    session: Session,
    resident_sms: ResidentSms,
    actor: str,
    number: str,
    when_local: dt.datetime,
    team: str | None,
) -> HomeVisitBooking:
    if when_local < dt.datetime.now(LOCAL_TZ):
        raise ActionError("{moment} is in the past", moment=when_local)
    booking = get_booking(session, number)
    if booking.status not in ("requested", "scheduled"):
        raise ActionError(
            "booking {number} is {status}", number=number, status=Word(booking.status)
        )
    before = {
        "status": booking.status,
        "scheduled_for": booking.scheduled_for,
        "team": booking.team,
    }
    booking.status = "scheduled"
    booking.scheduled_for = when_local.astimezone(dt.UTC)
    booking.team = (team or "").strip() or booking.team
    session.flush()
    resident_sms.booking_scheduled(session, booking)
    audit(
        session,
        actor,
        "booking.schedule",
        "home_visit_booking",
        number,
        before,
        {"status": booking.status, "scheduled_for": booking.scheduled_for, "team": booking.team},
    )
    return booking


def close_booking(
    session: Session, resident_sms: ResidentSms, actor: str, number: str, status: str
) -> HomeVisitBooking:
    if status not in ("done", "cancelled"):
        raise ActionError("a booking is closed as done or cancelled, not {status}", status=status)
    booking = get_booking(session, number)
    if booking.status not in ("requested", "scheduled"):
        raise ActionError(
            "booking {number} is already {status}", number=number, status=Word(booking.status)
        )
    before = {"status": booking.status}
    booking.status = status
    session.flush()
    resident_sms.booking_closed(session, booking)
    audit(
        session,
        actor,
        f"booking.{status}",
        "home_visit_booking",
        number,
        before,
        {"status": status},
    )
    return booking


# --- call-back requests ("Minta ditelepon petugas") ---------------------------------------------

CALLBACK_OUTCOMES = ("called", "not_reached")


def mark_callback(
    session: Session, resident_sms: ResidentSms, actor: str, request_id: int, outcome: str
) -> CallbackRequest:
    """Staff called the resident back (``called``), or tried and did not reach them
    (``not_reached``: it stays in the queue to try again, and the resident is told by SMS that
    the missed call was the office's, once a day). Audited."""
    if outcome not in CALLBACK_OUTCOMES:
        raise ActionError(
            "a call-back is marked called or not_reached, not {outcome}", outcome=outcome
        )
    request = session.get(CallbackRequest, request_id)
    if request is None:
        raise ActionError("no call-back request {id}", id=request_id)
    if request.status == "called":
        raise ActionError("call-back request {id} is already marked called", id=request_id)
    before = {"status": request.status}
    request.status = outcome
    request.handled_at = utcnow()
    request.handled_by = actor
    if outcome == "not_reached":
        resident_sms.callback_not_reached(session, request)
    audit(
        session,
        actor,
        f"callback.{outcome}",
        "callback_request",
        request_id,
        before,
        {"status": outcome},
    )
    return request


# --- broadcasts ----------------------------------------------------------------------------------


def plan_broadcast(
    session: Session,
    resident_sms: ResidentSms,
    actor: str,
    audience: Audience,
    text: str,
    send_at: dt.datetime | None = None,
    translations: Mapping[str, str] | None = None,
) -> Broadcast:
    text = text.strip()
    if not text:
        raise ActionError("the text is empty")
    planned = resident_sms.broadcast(
        session, audience, text, send_at, created_by=actor, translations=translations
    )
    audit(
        session,
        actor,
        "broadcast.send",
        "broadcast",
        planned.id,
        after={
            "audience": audience.label,
            "text": text,
            "translations": translations,
            "recipients": planned.recipients,
            "send_at": planned.send_at,
        },
    )
    return planned


def cancel_broadcast(session: Session, actor: str, broadcast_id: int) -> int:
    from storage import outbox

    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise ActionError("no broadcast with id {id}", id=broadcast_id)
    cancelled = outbox.cancel_queued(
        session, broadcast_id=broadcast_id, reason="broadcast cancelled", now=utcnow()
    )
    before = {"status": broadcast.status}
    broadcast.status = "cancelled"
    audit(
        session,
        actor,
        "broadcast.cancel",
        "broadcast",
        broadcast_id,
        before,
        {"status": "cancelled", "messages_cancelled": cancelled},
    )
    return cancelled
