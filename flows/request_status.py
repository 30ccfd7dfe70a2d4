"""A document request's status in words: the one place that says it, in the reader's language.

The USSD status screens, the SMS answer to ``STATUS <number>`` and the SMS sent when staff change
a status all come from here, so a resident reads the same words for the same status whichever
way they asked. The words themselves are the catalog's (``request_status.*``, ``doc.*``).
"""

from __future__ import annotations

from common.office import Office
from common.request_lifecycle import INCOMPLETE_REASONS
from flows.catalog import Catalog
from flows.services import RequestView


def status_label(c: Catalog, status: str) -> str:
    return c.text(f"request_status.{status}")


def collect_line(c: Catalog, request: RequestView, office: Office | None) -> str:
    """For a ready document: the office hours and what to bring (PICKUP_BRING, by document
    type), e.g. "Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama." ("" if none is set)."""
    if office is None or request.status != "ready":
        return ""
    hours = office.text("hours", c.code)
    bring = office.bring(request.doc_type, c.code)
    return " ".join(
        part
        for part in (
            c.text("status.hours", hours=hours) if hours else "",
            c.text("status.bring", bring=bring) if bring else "",
        )
        if part
    )


def screen_vars(
    c: Catalog, request: RequestView, *, office: Office | None = None
) -> dict[str, str]:
    """The placeholders of the status screens (``status.item``, ``status.detail``). A ready
    document says where to collect it, or that an SMS will say, the office hours and what to
    bring; a collected one, where it was."""
    if request.status == "ready":
        pickup = (
            c.text("status.pickup", place=request.pickup_place)
            if request.pickup_place
            else c.text("status.pickup_unknown")
        )
    elif request.status == "collected" and request.pickup_place:
        pickup = c.text("status.pickup", place=request.pickup_place)
    else:
        pickup = ""
    if not pickup and request.reason:  # "perlu dilengkapi", or gone back: why, on that line
        pickup = c.text("status.reason", reason=reason_text(c, request.reason))
    return {
        "doc_label": c.text(f"doc.{request.doc_type}"),
        "status_label": status_label(c, request.status),
        "last4": request.number[-4:],
        "date": c.date(request.updated),
        "pickup_line": pickup,
        "collect_line": collect_line(c, request, office),
    }


def reply_sms(c: Catalog, request: RequestView, *, office: Office | None = None) -> str:
    """The answer to ``STATUS <number>``."""
    return c.text(
        "sms.status_reply",
        doc_label=c.text(f"doc.{request.doc_type}"),
        last4=request.number[-4:],
        status_label=status_label(c, request.status),
        date=c.date(request.updated),
        pickup=_sms_pickup(c, request, office=office),
        reason=_sms_reason(c, request),
    )


def reason_text(c: Catalog, reason: str) -> str:
    """A reason as the reader reads it: a listed one in their language, else the staff's words."""
    return c.text(f"incomplete.{reason}") if reason in INCOMPLETE_REASONS else reason


def changed_sms(
    c: Catalog,
    request: RequestView,
    key: str = "sms.status_changed",
    *,
    office: Office | None = None,
) -> str:
    """What the applicant is told when staff change the status; ``key``: the SMS the move sends
    (common/request_lifecycle.py: ``sms.status_changed``, or ``sms.status_corrected``)."""
    return c.text(
        key,
        doc_label=c.text(f"doc.{request.doc_type}"),
        number=request.number,
        status_label=status_label(c, request.status),
        pickup=_sms_pickup(c, request, office=office),
        reason=_sms_reason(c, request),
    )


def registered_sms(c: Catalog, request: RequestView, code: str) -> str:
    """What the applicant is told when a request is registered for them (at the village office,
    Melali Kecapil, or imported): its number and where to check it."""
    return c.text(
        "sms.request_registered",
        doc_label=c.text(f"doc.{request.doc_type}"),
        number=request.number,
        code=code,
    )


def _sms_pickup(c: Catalog, request: RequestView, office: Office | None = None) -> str:
    """Where (if known), the hours and what to bring, for a ready document."""
    place = (
        c.text("sms.status_pickup", place=request.pickup_place)
        if request.status == "ready" and request.pickup_place
        else ""
    )
    collect = collect_line(c, request, office)
    return place + (" " + collect if collect else "")


def _sms_reason(c: Catalog, request: RequestView) -> str:
    """Why: for "perlu dilengkapi" what is missing, for a correction why. A text that says
    where to collect does not say why too (one SMS segment, as on the USSD screen)."""
    if request.reason and not _sms_pickup(c, request):
        return c.text("sms.status_reason", reason=reason_text(c, request.reason))
    return ""
