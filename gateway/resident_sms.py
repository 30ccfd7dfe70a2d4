"""What the product tells residents by SMS, and when (docs/product.md, "SMS").

Every function writes outbox rows inside the caller's transaction, next to the change that
causes them, in the recipient's language, with a de-duplication key that makes writing the same
promise twice harmless. Nothing is sent from here: the workers do that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.local_time import LOCAL_TZ, local_today
from common.office import Office
from common.segments import count_segments
from common.views import VisitView
from flows import request_status
from flows.catalog import DEFAULT_LANGUAGE, Catalog
from gateway import broadcasts
from gateway.broadcasts import Audience
from storage import outbox
from storage.models import (
    Broadcast,
    CallbackRequest,
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


class ResidentSms:
    def __init__(
        self, catalogs: Mapping[str, Catalog], regions: RegionDirectory, settings: Mapping[str, Any]
    ) -> None:
        self.catalogs = catalogs
        self.regions = regions
        self.reminder_days = [int(d) for d in settings["REMINDER_DAYS_BEFORE"]]
        self.reminder_hour = int(settings["REMINDER_HOUR"])
        self.service_code = str(settings["USSD_SERVICE_CODE"])
        self.office = Office.from_settings(settings)

    def catalog(self, language: str | None) -> Catalog:
        return self.catalogs.get(language or "", self.catalogs[DEFAULT_LANGUAGE])

    def language_of(self, session: Session, phone: str) -> str:
        language = session.scalar(select(Resident.language).where(Resident.phone == phone))
        return language or DEFAULT_LANGUAGE

    # --- document requests --------------------------------------------------------------------

    def request_status_changed(
        self,
        session: Session,
        request: DocumentRequest,
        change_id: int,
        key: str = "sms.status_changed",
    ) -> None:
        """The SMS a status move sends (``key``: common/request_lifecycle.py ``SMS_OF``)."""
        c = self.catalog(self.language_of(session, request.applicant_phone))
        body = request_status.changed_sms(c, requests.view_of(request), key, office=self.office)
        outbox.add(
            session,
            recipient=request.applicant_phone,
            kind="notification",
            body=body,
            dedupe_key=f"request:{request.id}:change:{change_id}",
        )

    def request_status_text(self, language: str, request: DocumentRequest, key: str) -> str:
        """The text ``request_status_changed`` would write, for staff to read before they do."""
        return request_status.changed_sms(self.catalog(language), requests.view_of(request), key)

    def request_registered(self, session: Session, request: DocumentRequest) -> None:
        """A request registered for its applicant (village office, console, CLI, CSV import):
        its number, and where to check it."""
        c = self.catalog(self.language_of(session, request.applicant_phone))
        outbox.add(
            session,
            recipient=request.applicant_phone,
            kind="notification",
            body=request_status.registered_sms(c, requests.view_of(request), self.service_code),
            dedupe_key=f"request:{request.id}:registered",
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

    # --- call-back requests -------------------------------------------------------------------

    def callback_not_reached(self, session: Session, request: CallbackRequest) -> None:
        """Staff called and did not get through: the resident learns it was the office (and
        its number), at most once a day per request, however often staff try."""
        c = self.catalog(request.language)
        outbox.add(
            session,
            recipient=request.phone,
            kind="notification",
            body=c.text("sms.callback_missed", office_phone=self.office.phone),
            dedupe_key=f"callback:{request.id}:missed:{local_today().isoformat()}",
        )

    # --- village visits ------------------------------------------------------------------------

    def _visit_values(
        self, c: Catalog, visit: VisitView, on: dt.date | None = None
    ) -> dict[str, str]:
        """A visit's placeholders in SMS texts; ``on``: the day the SMS is read (default
        today): the forms' deadline is said only while it is still ahead."""
        deadline = self.office.forms_deadline(visit.day)
        return {
            "village_name": self.regions.name(visit.village_code),
            "date": c.date(visit.day),
            "start": visit.start,
            "end": visit.end,
            "place": visit.place,
            "bring": c.text("sms.visit_bring", bring=visit.bring) if visit.bring else "",
            "forms": c.text("sms.visit_forms", deadline=c.short_date(deadline))
            if deadline >= (on or local_today())
            else "",
        }

    def visit_text(
        self, key: str, language: str, visit: VisitView, on: dt.date | None = None, **extra: str
    ) -> str:
        c = self.catalog(language)
        return _one_segment(c, key, {**self._visit_values(c, visit, on), **extra})

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
                for phone, lang in broadcasts.by_language(recipients.items())
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
        recipients = dict(broadcasts.residents(session, (village_code,)))
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
                    "body": self.visit_text(
                        "sms.visit_reminder",
                        language,
                        visit,
                        on=visit.day - dt.timedelta(days=days),
                        when=when,
                    ),
                    "dedupe_key": f"visit:{visit.id}:{version}:reminder:{days}:{phone}",
                }
            )
        return messages

    def visit_changed(self, session: Session, visit: VillageVisit, *, cancelled: bool) -> int:
        """A published visit was edited or cancelled: cancel what is still queued for it; tell
        who already heard of it; re-plan the rest with the new details."""
        view = visits.view_of(visit)
        now = utcnow()
        already_told: set[str] = set(session.scalars(_told_of(visit.id)))
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

    def visit_cancel_counts(self, session: Session, visit: VillageVisit) -> tuple[int, int]:
        """Before a visit is cancelled (the console's confirmation): how many residents already
        told of it will get the cancellation SMS, and how many messages still waiting for it
        (announcements, reminders) will be withdrawn instead."""
        told = session.scalar(
            select(func.count()).select_from(_told_of(visit.id).distinct().subquery())
        )
        waiting = session.scalar(
            select(func.count()).where(
                OutboxMessage.visit_id == visit.id, OutboxMessage.status == "queued"
            )
        )
        return int(told or 0), int(waiting or 0)

    # --- broadcasts staff write (gateway/broadcasts.py) ---------------------------------------

    def audience(
        self,
        *,
        village: str | None = None,
        district: str | None = None,
        everyone: bool = False,
        request_status: str | None = None,
        within: str | None = None,
    ) -> Audience:
        return broadcasts.resolve_audience(
            self.regions,
            village=village,
            district=district,
            everyone=everyone,
            request_status=request_status,
            within=within,
        )

    def recipients(self, session: Session, audience: Audience) -> list[tuple[str, str]]:
        return list(broadcasts.recipients(session, audience))

    def broadcast(
        self,
        session: Session,
        audience: Audience,
        text: str,
        send_at: dt.datetime | None = None,
        created_by: str | None = None,
        translations: Mapping[str, str] | None = None,
    ) -> Broadcast:
        return broadcasts.write(session, audience, text, send_at, created_by, translations)

    def _at_reminder_hour(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(self.reminder_hour), LOCAL_TZ).astimezone(dt.UTC)


def _told_of(visit_id: int) -> Select[tuple[str]]:
    """The phones a visit's announcement has reached (or is reaching)."""
    return select(OutboxMessage.recipient).where(
        OutboxMessage.visit_id == visit_id,
        OutboxMessage.kind == "broadcast",
        OutboxMessage.status.in_(("sending", "sent", "delivered")),
    )


def _one_segment(c: Catalog, key: str, values: Mapping[str, str]) -> str:
    """A visit's text with the forms' deadline ("Formulir ke kantor desa s.d. ...") if the
    text still fits one SMS segment with it; else without it: a broadcast to a village costs
    one segment per resident, and the visit's screen and its 3-day reminder say it too."""
    text = c.text(key, **values)
    if values.get("forms") and count_segments(text).segments > 1:
        return c.text(key, **{**values, "forms": ""})
    return text


def _version(visit: VisitView) -> str:
    """Part of a visit's message keys: an edit makes new keys, so corrected texts are written."""
    return str(int(visit.stamp.timestamp() * 1000)) if visit.stamp else "0"
