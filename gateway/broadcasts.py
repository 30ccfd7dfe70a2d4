"""Broadcasts: who hears one (an audience chosen by village, district, request status or
everyone) and its outbox rows, one per resident, in the resident's language where staff wrote
a translation. Nothing is sent from here: the workers do that, checking opt-outs again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.refusals import Refusal
from flows.catalog import DEFAULT_LANGUAGE
from storage import outbox
from storage.models import Broadcast, DocumentRequest, Resident, utcnow
from storage.regions import RegionDirectory


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to: residents of some villages, or everyone."""

    label: str  # stored: "village:51.08.09.2010", "district:51.08.09", "all", "status:ready"
    village_codes: tuple[str, ...] | None  # None: every resident
    request_status: str | None = None  # only applicants with a request in this status


def resolve_audience(
    regions: RegionDirectory,
    *,
    village: str | None = None,
    district: str | None = None,
    everyone: bool = False,
    request_status: str | None = None,
    within: str | None = None,
) -> Audience:
    """``within``: a village officer's village; the audience cannot reach beyond it."""
    if within is not None:
        place = regions.find_village(within)
        if request_status:
            return Audience(
                f"status:{request_status}:village:{place.code}", (place.code,), request_status
            )
        return Audience(f"village:{place.code}", (place.code,))
    if request_status:
        return Audience(f"status:{request_status}", None, request_status)
    if everyone:
        return Audience("all", None)
    if village:
        place = regions.find_village(village)
        return Audience(f"village:{place.code}", (place.code,))
    if district:
        d = regions.find_district(district)
        return Audience(f"district:{d.code}", tuple(v.code for v in regions.villages_of(d.code)))
    raise Refusal("choose a village, a district or everyone")


def recipients(session: Session, audience: Audience) -> Iterable[tuple[str, str]]:
    """(phone, language) of everyone the audience reaches, grouped by language."""
    if audience.request_status is None:
        return residents(session, audience.village_codes)
    language = func.coalesce(Resident.language, DEFAULT_LANGUAGE).label("language")
    query = (
        select(DocumentRequest.applicant_phone, language)
        .outerjoin(Resident, Resident.phone == DocumentRequest.applicant_phone)
        .where(
            DocumentRequest.status == audience.request_status,
            func.coalesce(Resident.opted_out, False).is_(False),
        )
        .distinct()
    )
    if audience.village_codes is not None:
        query = query.where(DocumentRequest.village_code.in_(list(audience.village_codes)))
    return by_language(session.execute(query.order_by(DocumentRequest.applicant_phone)).tuples())


def write(
    session: Session,
    audience: Audience,
    text: str,
    send_at: dt.datetime | None = None,
    created_by: str | None = None,
    translations: Mapping[str, str] | None = None,
) -> Broadcast:
    """``text`` goes to everyone, except residents whose language has a translation."""
    broadcast = Broadcast(
        kind="custom",
        audience=audience.label,
        body=text,
        status="planned",
        recipients=0,
        send_at=send_at or utcnow(),
        created_by=created_by,
    )
    session.add(broadcast)
    session.flush()
    versions = {lang: body for lang, body in (translations or {}).items() if body.strip()}
    broadcast.recipients = outbox.add_many(
        session,
        (  # streamed: flat memory at 100,000
            {
                "recipient": phone,
                "kind": "broadcast",
                "body": versions.get(language, text),
                "due_at": broadcast.send_at,
                "dedupe_key": f"broadcast:{broadcast.id}:{phone}",
                "broadcast_id": broadcast.id,
            }
            for phone, language in recipients(session, audience)
        ),
    )
    return broadcast


def residents(session: Session, village_codes: Sequence[str] | None) -> Iterable[tuple[str, str]]:
    """(phone, language) of residents who have not opted out (checked again at send time),
    grouped by language (see ``by_language``)."""
    query = select(Resident.phone, Resident.language).where(Resident.opted_out.is_(False))
    if village_codes is not None:
        query = query.where(Resident.village_code.in_(list(village_codes)))
    yield from session.execute(
        query.order_by(  # as _language_order
            Resident.language != DEFAULT_LANGUAGE, Resident.language, Resident.id
        )
    ).tuples()


def by_language(recipients: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Recipients grouped by language, in their order otherwise. The outbox rows of a broadcast
    then have consecutive ids per text, and the sender, which hands the provider one text for
    many numbers per call, makes full calls: mixed order halves the batches when a tenth of the
    recipients read English (docs/benchmarks-broadcast.md)."""
    return sorted(recipients, key=lambda recipient: _language_order(recipient[1]))


def _language_order(language: str) -> tuple[bool, str]:
    return (language != DEFAULT_LANGUAGE, language)  # Indonesian (most) first, then the rest
