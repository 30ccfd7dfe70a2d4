"""Document requests: staff add them and change their status; residents ask where theirs is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from common.local_time import local_date
from common.refusals import Refusal
from common.views import RequestView
from storage import numbers
from storage.models import DocumentRequest, RequestStatusChange, check_length, utcnow
from storage.vocab import DOC_TYPES, REQUEST_STATUSES

# --- the look-ups a resident's question makes (the hop runs them through Database.read) ------

_COLUMNS = (  # what a resident is told, and who asked: see ``view``
    DocumentRequest.number,
    DocumentRequest.doc_type,
    DocumentRequest.status,
    DocumentRequest.updated_at,
    DocumentRequest.pickup_place,
    DocumentRequest.applicant_phone,
    DocumentRequest.status_reason,
)
_BY_NUMBER = DocumentRequest.number == bindparam("number")

REQUESTS_OF_PHONE = (  # params: phone, limit
    select(*_COLUMNS)
    .where(DocumentRequest.applicant_phone == bindparam("phone"))
    .order_by(DocumentRequest.updated_at.desc(), DocumentRequest.id.desc())
    .limit(bindparam("limit"))
)

REQUEST_BY_NUMBER = select(*_COLUMNS, DocumentRequest.applicant_birth_year).where(_BY_NUMBER)


def view(row: Sequence[Any], caller: str) -> RequestView:
    """A request from a row of REQUESTS_OF_PHONE or REQUEST_BY_NUMBER, as ``caller`` sees it."""
    number, doc_type, status, updated_at, pickup_place, applicant_phone, reason = row[:7]
    return RequestView(
        number=number,
        doc_type=doc_type,
        status=status,
        updated=local_date(updated_at),
        pickup_place=pickup_place,
        owned_by_caller=applicant_phone == caller,
        reason=reason,
    )


def view_of(request: DocumentRequest) -> RequestView:
    """A request as its applicant is told about it."""
    return view(
        (
            request.number,
            request.doc_type,
            request.status,
            request.updated_at,
            request.pickup_place,
            request.applicant_phone,
            request.status_reason,
        ),
        request.applicant_phone,
    )


def find_request(session: Session, number: str) -> DocumentRequest | None:
    """The request, to change it (REQUEST_BY_NUMBER's look-up, the whole row)."""
    return session.scalar(select(DocumentRequest).where(_BY_NUMBER), {"number": number})


# --- what staff do -------------------------------------------------------------------------------


def add_request(
    session: Session,
    *,
    doc_type: str,
    phone: str,
    birth_year: int,
    village_code: str,
    status: str = "submitted",
    number: str | None = None,
    pickup_place: str | None = None,
    status_reason: str | None = None,
) -> DocumentRequest:
    if doc_type not in DOC_TYPES:
        raise Refusal(
            "unknown document type '{type}' (one of: {options})",
            type=doc_type,
            options=", ".join(DOC_TYPES),
        )
    if status not in REQUEST_STATUSES:
        raise Refusal(
            "unknown status '{status}' (one of: {options})",
            status=status,
            options=", ".join(REQUEST_STATUSES),
        )
    this_year = dt.date.today().year
    if not 1900 <= birth_year <= this_year:
        raise Refusal(
            "birth year {year} is not between 1900 and {this_year}",
            year=birth_year,
            this_year=this_year,
        )
    check_length(pickup_place, DocumentRequest.pickup_place, "the pickup place")
    if number is not None:
        if not numbers.is_well_formed(number):
            raise Refusal(
                "'{number}' is not a valid request number ({digits} digits with a check digit)",
                number=number,
                digits=numbers.NUMBER_LENGTH,
            )
        if find_request(session, number) is not None:
            raise Refusal("request number {number} already exists", number=number)
    request = DocumentRequest(
        number=number or _unique_number(session),
        doc_type=doc_type,
        applicant_phone=phone,
        applicant_birth_year=birth_year,
        village_code=village_code,
        status=status,
        pickup_place=pickup_place,
        status_reason=status_reason,
    )
    session.add(request)
    session.flush()
    session.add(
        RequestStatusChange(
            request_id=request.id,
            status=status,
            pickup_place=pickup_place,
            status_reason=status_reason,
        )
    )
    return request


def _unique_number(session: Session) -> str:
    while True:
        number = numbers.new_number()
        if (
            session.scalar(select(DocumentRequest.id).where(DocumentRequest.number == number))
            is None
        ):
            return number


def set_request_status(
    session: Session,
    number: str,
    status: str,
    pickup_place: str | None = None,
    status_reason: str | None = None,
) -> DocumentRequest:
    """Write the new status (its lifecycle is checked by the caller: common/request_lifecycle.py)
    and a history row; ``status_reason`` replaces the old one, None included."""
    if status not in REQUEST_STATUSES:
        raise Refusal(
            "unknown status '{status}' (one of: {options})",
            status=status,
            options=", ".join(REQUEST_STATUSES),
        )
    check_length(pickup_place, DocumentRequest.pickup_place, "the pickup place")
    request = find_request(session, number)
    if request is None:
        raise Refusal("no request with number {number}", number=number)
    request.status = status
    if pickup_place is not None:
        request.pickup_place = pickup_place
    request.status_reason = status_reason
    request.updated_at = utcnow()
    session.add(
        RequestStatusChange(
            request_id=request.id,
            status=status,
            pickup_place=request.pickup_place,
            status_reason=status_reason,
        )
    )
    session.flush()
    return request


def last_status_change_id(session: Session, request: DocumentRequest) -> int:
    return int(
        session.scalar(
            select(func.max(RequestStatusChange.id)).where(
                RequestStatusChange.request_id == request.id
            )
        )
        or 0
    )
