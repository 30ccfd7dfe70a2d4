"""What the product tells residents by SMS, and when (SPEC §4; issue 3 "What gets sent").

Every function writes outbox rows inside the caller's transaction, next to the change that
causes them, in the recipient's language, with a de-duplication key that makes writing the same
promise twice harmless. Nothing is sent from here: the workers do that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.local_time import LOCAL_TZ
from common.views import VisitView
from flows import request_status
from flows.catalog import DEFAULT_LANGUAGE, Catalog
from storage import outbox
from storage.models import (
    Broadcast,
    DocumentRequest,
    HomeVisitBooking,
    OutboxMessage,
    ReminderSubscription,
    Resident,
    VillageVisit,
    utcnow,
)
from storage.queries import requests, visits
from storage.regions import RegionDirectory


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to: residents of some villages, or everyone."""

    label: str  # stored: "village:51.08.09.2010", "district:51.08.09", "all", "status:ready"
    village_codes: tuple[str, ...] | None  # None: every resident
    request_status: str | None = None  # only applicants with a request in this status


class ResidentSms:
    def __init__(
        self, catalogs: Mapping[str, Catalog], regions: RegionDirectory, settings: Mapping[str, Any]
    ) -> None:
        self.catalogs = catalogs
        self.regions = regions
        self.reminder_days = [int(d) for d in settings["REMINDER_DAYS_BEFORE"]]
        self.reminder_hour = int(settings["REMINDER_HOUR"])
        self.service_code = str(settings["USSD_SERVICE_CODE"])

    def catalog(self, language: str | None) -> Catalog:
        return self.catalogs.get(language or "", self.catalogs[DEFAULT_LANGUAGE])

    def language_of(self, session: Session, phone: str) -> str:
        language = session.scalar(select(Resident.language).where(Resident.phone == phone))
        return language or DEFAULT_LANGUAGE

    # --- document requests --------------------------------------------------------------------

    def request_status_changed(
        self, session: Session, request: DocumentRequest, change_id: int
    ) -> None:
        c = self.catalog(self.language_of(session, request.applicant_phone))
        body = request_status.changed_sms(c, requests.view_of(request))
        outbox.add(
            session,
            recipient=request.applicant_phone,
            kind="notification",
            body=body,
            dedupe_key=f"request:{request.id}:change:{change_id}",
        )

    # --- home visits -------------------------------------------------------------------------

    def booking_scheduled(self, session: Session, booking: HomeVisitBooking) -> None:
        assert booking.scheduled_for is not None
        c = self.catalog(self.language_of(session, booking.phone))
        local = booking.scheduled_for.astimezone(LOCAL_TZ)
        values = {"date": c.date(local.date()), "time": f"{local:%H:%M}", "number": booking.number}
        stamp = int(booking.scheduled_for.timestamp())
        told = list(
            session.scalars(
                select(OutboxMessage.dedupe_key)
                .where(
                    OutboxMessage.dedupe_key.startswith(
                        f"booking:{booking.number}:scheduled:", autoescape=True
                    )
                )
                .order_by(OutboxMessage.id)
            )
        )
        if told and told[-1].split(":")[3] == str(stamp):
            return  # the resident was last told this very time; its reminder stands
        # A new date replaces the reminder of the old one. The keys count the changes, so a
        # booking moved back to a date told before is told (and reminded) again.
        change = len(told)
        outbox.cancel_queued(
            session, booking_reminder_of=booking.number, reason="rescheduled", now=utcnow()
        )
        outbox.add(
            session,
            recipient=booking.phone,
            kind="notification",
            body=c.text("sms.booking_scheduled", **values),
            dedupe_key=f"booking:{booking.number}:scheduled:{stamp}:{change}",
        )
        remind_at = self._at_reminder_hour(local.date() - dt.timedelta(days=1))
        if remind_at > utcnow():
            outbox.add(
                session,
                recipient=booking.phone,
                kind="reminder",
                body=c.text("sms.booking_reminder", **values),
                due_at=remind_at,
                dedupe_key=f"booking:{booking.number}:reminder:{stamp}:{change}",
            )

    def booking_closed(self, session: Session, booking: HomeVisitBooking) -> None:
        """Done or cancelled: say so, and drop a reminder still waiting."""
        c = self.catalog(self.language_of(session, booking.phone))
        outbox.cancel_queued(
            session,
            booking_reminder_of=booking.number,
            reason=f"booking {booking.status}",
            now=utcnow(),
        )
        outbox.add(
            session,
            recipient=booking.phone,
            kind="notification",
            body=c.text(f"sms.booking_{booking.status}", number=booking.number),
            dedupe_key=f"booking:{booking.number}:{booking.status}",
        )

    # --- village visits ------------------------------------------------------------------------

    def _visit_values(self, c: Catalog, visit: VisitView) -> dict[str, str]:
        return {
            "village_name": self.regions.name(visit.village_code),
            "date": c.date(visit.day),
            "start": visit.start,
            "end": visit.end,
            "place": visit.place,
            "bring": c.text("sms.visit_bring", bring=visit.bring) if visit.bring else "",
        }

    def visit_text(self, key: str, language: str, visit: VisitView, **extra: str) -> str:
        c = self.catalog(language)
        return c.text(key, **self._visit_values(c, visit), **extra)

    def visit_published(
        self,
        session: Session,
        visit: VillageVisit,
        created_by: str | None = None,
        skip: Iterable[str] = (),
    ) -> Broadcast:
        """Announce a visit to the village's residents and to those who asked to be told
        (except the phones in ``skip``)."""
        view = visits.view_of(visit)
        broadcast = Broadcast(
            kind="visit_published",
            audience=f"village:{visit.village_code}",
            visit_id=visit.id,
            status="planned",
            recipients=0,
            send_at=utcnow(),
            created_by=created_by,
        )
        session.add(broadcast)
        session.flush()
        recipients = self.visit_audience(session, visit.village_code)
        for phone in skip:
            recipients.pop(phone, None)
        version = _version(view)
        texts = {
            lang: self.visit_text("sms.visit_published", lang, view)
            for lang in set(recipients.values())
        }
        broadcast.recipients = outbox.add_many(
            session,
            (
                {
                    "recipient": phone,
                    "kind": "broadcast",
                    "body": texts[lang],
                    "dedupe_key": f"visit:{visit.id}:{version}:published:{phone}",
                    "broadcast_id": broadcast.id,
                    "visit_id": visit.id,
                }
                for phone, lang in _by_language(recipients.items())
            ),
        )
        for sub in session.scalars(
            select(ReminderSubscription).where(
                ReminderSubscription.kind == "visit_reminder",
                ReminderSubscription.visit_id == visit.id,
            )
        ):
            self.visit_reminders(session, sub.phone, sub.language, view)
        return broadcast

    def visit_audience(self, session: Session, village_code: str) -> dict[str, str]:
        """Who hears of a visit published in this village, and in which language (phone ->
        language): its residents who have not opted out, and those who asked to be told."""
        recipients = dict(self._residents(session, (village_code,)))
        for phone, language in session.execute(
            select(ReminderSubscription.phone, ReminderSubscription.language).where(
                ReminderSubscription.kind == "visit_published",
                ReminderSubscription.village_code == village_code,
            )
        ):
            recipients.setdefault(phone, language)
        return recipients

    def visit_reminders(
        self, session: Session | Connection, phone: str, language: str, visit: VisitView
    ) -> int:
        """Write the visit's reminders for this phone (``reminder_messages``); how many were new."""
        return sum(
            outbox.add(session, **message)
            for message in self.reminder_messages(phone, language, visit)
        )

    def reminder_messages(
        self, phone: str, language: str, visit: VisitView
    ) -> list[dict[str, Any]]:
        """Reminders N days before, at the reminder hour (WITA), those still in the future: the
        keyword arguments of ``outbox.add``."""
        messages: list[dict[str, Any]] = []
        c = self.catalog(language)
        version = _version(visit)
        for days in self.reminder_days:
            due = self._at_reminder_hour(visit.day - dt.timedelta(days=days))
            if due <= utcnow():
                continue
            when = (
                c.text("sms.when_tomorrow")
                if days == 1
                else c.text("sms.when_days", days=str(days))
            )
            messages.append(
                {
                    "recipient": phone,
                    "kind": "reminder",
                    "due_at": due,
                    "visit_id": visit.id,
                    "body": c.text("sms.visit_reminder", **self._visit_values(c, visit), when=when),
                    "dedupe_key": f"visit:{visit.id}:{version}:reminder:{days}:{phone}",
                }
            )
        return messages

    def visit_changed(self, session: Session, visit: VillageVisit, *, cancelled: bool) -> int:
        """A published visit was edited or cancelled: cancel what is still queued for it; tell
        who already heard of it; re-plan the rest with the new details."""
        view = visits.view_of(visit)
        now = utcnow()
        already_told: set[str] = set(
            session.scalars(
                select(OutboxMessage.recipient).where(
                    OutboxMessage.visit_id == visit.id,
                    OutboxMessage.kind == "broadcast",
                    OutboxMessage.status.in_(("sending", "sent", "delivered")),
                )
            )
        )
        outbox.cancel_queued(
            session,
            visit_id=visit.id,
            reason="visit cancelled" if cancelled else "visit changed",
            now=now,
        )
        key = "sms.visit_cancelled" if cancelled else "sms.visit_changed"
        version = _version(view)
        languages: dict[str, str] = {
            phone: language
            for phone, language in session.execute(
                select(Resident.phone, Resident.language).where(
                    Resident.phone.in_(list(already_told))
                )
            )
        }
        written = outbox.add_many(
            session,
            [
                {
                    "recipient": phone,
                    "kind": "broadcast",
                    "visit_id": visit.id,
                    "body": self.visit_text(key, languages.get(phone, DEFAULT_LANGUAGE), view),
                    "dedupe_key": f"visit:{visit.id}:{version}:"
                    f"{'cancelled' if cancelled else 'changed'}:{phone}",
                }
                for phone in already_told
            ],
        )
        if not cancelled and visit.published:
            # Those not told yet get the announcement with the new details.
            self.visit_published(session, visit, skip=already_told)
        return written

    # --- broadcasts staff write ---------------------------------------------------------------

    def audience(
        self,
        *,
        village: str | None = None,
        district: str | None = None,
        everyone: bool = False,
        request_status: str | None = None,
        within: str | None = None,
    ) -> Audience:
        """``within``: a village officer's village; the audience cannot reach beyond it."""
        if within is not None:
            place = self.regions.find_village(within)
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
            place = self.regions.find_village(village)
            return Audience(f"village:{place.code}", (place.code,))
        if district:
            d = self.regions.find_district(district)
            return Audience(
                f"district:{d.code}", tuple(v.code for v in self.regions.villages_of(d.code))
            )
        raise ValueError("choose a village, a district or everyone")

    def recipients(self, session: Session, audience: Audience) -> list[tuple[str, str]]:
        return list(self._audience(session, audience))

    def _audience(self, session: Session, audience: Audience) -> Iterable[tuple[str, str]]:
        if audience.request_status is None:
            return self._residents(session, audience.village_codes)
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
        return _by_language(
            session.execute(query.order_by(DocumentRequest.applicant_phone)).tuples()
        )

    def broadcast(
        self,
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
                for phone, language in self._audience(session, audience)
            ),
        )
        return broadcast

    def _residents(
        self, session: Session, village_codes: Sequence[str] | None
    ) -> Iterable[tuple[str, str]]:
        """(phone, language) of residents who have not opted out (checked again at send time),
        grouped by language (see ``_by_language``)."""
        query = select(Resident.phone, Resident.language).where(Resident.opted_out.is_(False))
        if village_codes is not None:
            query = query.where(Resident.village_code.in_(list(village_codes)))
        yield from session.execute(
            query.order_by(  # as _language_order
                Resident.language != DEFAULT_LANGUAGE, Resident.language, Resident.id
            )
        ).tuples()

    def _at_reminder_hour(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(self.reminder_hour), LOCAL_TZ).astimezone(dt.UTC)


def _by_language(recipients: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Recipients grouped by language, in their order otherwise. The outbox rows of a broadcast
    then have consecutive ids per text, and the sender, which hands the provider one text for
    many numbers per call, makes full calls: mixed order halves the batches when a tenth of the
    recipients read English (docs/benchmarks-broadcast.md)."""
    return sorted(recipients, key=lambda recipient: _language_order(recipient[1]))


def _language_order(language: str) -> tuple[bool, str]:
    return (language != DEFAULT_LANGUAGE, language)  # Indonesian (most) first, then the rest


def _version(visit: VisitView) -> str:
    """Part of a visit's message keys: an edit makes new keys, so corrected texts are written."""
    return str(int(visit.stamp.timestamp() * 1000)) if visit.stamp else "0"
