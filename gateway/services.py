"""The flows' window on the world for one caller: storage, the profile cache, the look-up guard.

Each method that touches the database opens its own short transaction; a hop calls at most one
or two of them, and most hops none (regions and the caller's profile are served from memory and
the session store).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem
from limits.strategies import RateLimiter
from sqlalchemy import select

from flows.services import BookingResult, RequestView, VisitView
from gateway.notify import Notifier
from gateway.session_store import CallStore
from storage import numbers, outbox, queries
from storage.db import Database
from storage.models import DocumentRequest, ReminderSubscription, VillageVisit
from storage.regions import RegionDirectory
from storage.vocab import LOCAL_TZ, local_today


class StorageServices:
    def __init__(
        self,
        *,
        phone: str,
        profile: dict[str, Any],
        db: Database,
        store: CallStore,
        regions: RegionDirectory,
        limiter: RateLimiter,
        lookup_limit: RateLimitItem,
        notifier: Notifier,
        dispatch: Callable[[], None],
    ) -> None:
        self.phone = phone
        self.profile = profile
        self.db = db
        self.store = store
        self.regions = regions
        self.limiter = limiter
        self.lookup_limit = lookup_limit
        self.notifier = notifier
        self.dispatch = dispatch

    # Regions

    def districts(self) -> list[tuple[str, str]]:
        return [(d.code, d.name) for d in self.regions.districts]

    def villages(self, district_code: str) -> list[tuple[str, str]]:
        return [(v.code, v.name) for v in self.regions.villages_of(district_code)]

    def village_name(self, code: str) -> str:
        return self.regions.name(code)

    # Remembered caller

    def remembered_village(self) -> str | None:
        code = self.profile.get("village")
        return code if code in self.regions.by_code else None

    def remember_village(self, village_code: str) -> None:
        if self.profile.get("village") == village_code:
            return
        with self.db.begin() as session:
            queries.upsert_resident(session, self.phone, village_code=village_code)
        self._update_profile(village=village_code)

    def set_language(self, language: str) -> None:
        if self.profile.get("lang") == language:
            return  # already so: no database round trip
        with self.db.begin() as session:
            queries.upsert_resident(session, self.phone, language=language)
        self._update_profile(lang=language)

    def _update_profile(self, **changes: Any) -> None:
        self.profile.update(changes)
        self.store.save_profile(self.phone, self.profile)

    # Document status

    def is_valid_request_number(self, number: str) -> bool:
        return numbers.is_well_formed(number)

    def _view(self, request: DocumentRequest) -> RequestView:
        return RequestView(
            number=request.number, doc_type=request.doc_type, status=request.status,
            updated=_local_date(request.updated_at), pickup_place=request.pickup_place,
            owned_by_caller=request.applicant_phone == self.phone,
        )

    def my_requests(self) -> list[RequestView]:
        with self.db.begin() as session:
            return [self._view(r) for r in queries.requests_for_phone(session, self.phone)]

    def find_request(self, number: str) -> RequestView | None:
        with self.db.begin() as session:
            request = queries.find_request(session, number)
            return self._view(request) if request else None

    def birth_year_matches(self, number: str, year: int) -> bool:
        with self.db.begin() as session:
            request = queries.find_request(session, number)
            return request is not None and request.applicant_birth_year == year

    def lookups_blocked(self) -> bool:
        return not self.limiter.test(self.lookup_limit, self.phone)

    def record_failed_lookup(self) -> None:
        self.limiter.hit(self.lookup_limit, self.phone)

    # Home visit

    def create_booking(
        self, *, for_whom: str, reason: str, service: str, village_code: str,
        hamlet: str | None, confirmation_sms: Callable[[str], str],
    ) -> BookingResult:
        with self.db.begin() as session:
            def write_confirmation(booking: Any) -> None:
                outbox.add(
                    session, recipient=self.phone, kind="notification", urgent=True,
                    body=confirmation_sms(booking.number),
                    dedupe_key=f"booking-confirmed:{booking.number}",
                )

            booking, created = queries.create_booking(
                session, phone=self.phone, for_whom=for_whom, reason=reason, service=service,
                village_code=village_code, hamlet=hamlet, on_created=write_confirmation,
            )
            result = BookingResult(
                number=booking.number, created=created, status=booking.status,
                scheduled_for=_local_date(booking.scheduled_for) if booking.scheduled_for else None,
            )
        if created:
            self.dispatch()
        return result

    # Village visits

    def next_visit(self, village_code: str) -> VisitView | None:
        with self.db.begin() as session:
            visit = queries.next_visit(session, village_code, local_today())
            if visit is None:
                return None
            return VisitView(
                id=visit.id, village_code=visit.village_code, day=visit.visit_date,
                start=visit.start_time.strftime("%H:%M"), end=visit.end_time.strftime("%H:%M"),
                place=visit.place, bring=visit.bring,
            )

    def subscribe_visit_reminder(self, visit: VisitView, language: str) -> None:
        with self.db.begin() as session:
            if queries.subscribe(session, phone=self.phone, kind="visit_reminder",
                                 village_code=visit.village_code, visit_id=visit.id,
                                 language=language):
                stored = session.get(VillageVisit, visit.id)
                sub = session.scalars(select(ReminderSubscription).where(
                    ReminderSubscription.phone == self.phone,
                    ReminderSubscription.visit_id == visit.id,
                    ReminderSubscription.kind == "visit_reminder")).one()
                if stored is not None:
                    self.notifier.visit_reminders(session, sub, stored)

    def subscribe_visit_published(self, village_code: str, language: str) -> None:
        with self.db.begin() as session:
            queries.subscribe(session, phone=self.phone, kind="visit_published",
                              village_code=village_code, visit_id=None, language=language)

    # Any SMS

    def send_sms(self, body: str, dedupe_key: str) -> None:
        with self.db.begin() as session:
            written = outbox.add(session, recipient=self.phone, kind="reply", body=body,
                                 dedupe_key=dedupe_key, urgent=True)
        if written:
            self.dispatch()


def _local_date(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:  # SQLite returns naive datetimes; we store UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(LOCAL_TZ).date()
