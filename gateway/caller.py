"""The flows' window on the world for one caller: storage, the profile cache, the look-up guard.

A hop calls at most one of the methods that touch the database, and most hops none (regions
and the caller's profile are served from memory and the session store). Look-ups are single
Core statements on the thread's kept connection (``Database.read``); the next visit of a
village, which every caller of that village asks for, is cached in the session store and
dropped when a visit of the village changes (``Runtime``). Writes open one short transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from limits import RateLimitItem
from limits.strategies import RateLimiter
from sqlalchemy import Connection

from common.local_time import LOCAL_TZ, local_today
from flows.services import BookingResult, RequestView, VisitView
from gateway.resident_sms import ResidentSms
from gateway.session_store import CallStore
from storage import numbers, outbox, queries
from storage.db import Database
from storage.regions import RegionDirectory

NEXT_VISIT_CACHE_SECONDS = 600  # bounds a stale entry if a change raced a look-up
MY_REQUESTS_LISTED = 8  # the newest; the status menu pages through them


def caller_profile(
    db: Database, store: CallStore, phone: str, cached: dict[str, Any] | None
) -> dict[str, Any]:
    """The caller's remembered language and village: from the session store's cache, else the
    database (and then cached)."""
    if cached is not None:
        return cached
    rows = db.read(queries.RESIDENT_PROFILE, {"phone": phone})
    profile = {
        "lang": rows[0].language if rows else None,
        "village": rows[0].village_code if rows else None,
    }
    store.save_profile(phone, profile)
    return profile


def next_visit_cache_key(village_code: str) -> str:
    return f"next-visit:{village_code}"


class CallerServices:
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
        resident_sms: ResidentSms,
        dispatch: Callable[[], None],
    ) -> None:
        self.phone = phone
        self.profile = profile
        self.db = db
        self.store = store
        self.regions = regions
        self.limiter = limiter
        self.lookup_limit = lookup_limit
        self.resident_sms = resident_sms
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
        self.db.write_alone(
            lambda connection: queries.set_resident_field(
                connection, self.phone, "village_code", village_code
            )
        )
        self._update_profile(village=village_code)

    def set_language(self, language: str) -> None:
        if self.profile.get("lang") == language:
            return  # already so: no database round trip
        self.db.write_alone(
            lambda connection: queries.set_resident_field(
                connection, self.phone, "language", language
            )
        )
        self._update_profile(lang=language)

    def _update_profile(self, **changes: Any) -> None:
        self.profile.update(changes)
        self.store.save_profile(self.phone, self.profile)

    # Document status

    def is_valid_request_number(self, number: str) -> bool:
        return numbers.is_well_formed(number)

    def _view(self, row: Any) -> RequestView:  # a row of queries.REQUEST_BY_NUMBER & co.
        return RequestView(
            number=row.number,
            doc_type=row.doc_type,
            status=row.status,
            updated=_local_date(row.updated_at),
            pickup_place=row.pickup_place,
            owned_by_caller=row.applicant_phone == self.phone,
        )

    def my_requests(self) -> list[RequestView]:
        return [
            self._view(r)
            for r in self.db.read(
                queries.REQUESTS_OF_PHONE, {"phone": self.phone, "limit": MY_REQUESTS_LISTED}
            )
        ]

    def find_request(self, number: str) -> RequestView | None:
        rows = self.db.read(queries.REQUEST_BY_NUMBER, {"number": number})
        return self._view(rows[0]) if rows else None

    def verified_request(self, number: str, birth_year: int) -> RequestView | None:
        rows = self.db.read(queries.REQUEST_BY_NUMBER, {"number": number})
        if not rows or rows[0].applicant_birth_year != birth_year:
            return None
        return self._view(rows[0])

    def lookups_blocked(self) -> bool:
        return not self.limiter.test(self.lookup_limit, self.phone)

    def record_failed_lookup(self) -> None:
        self.limiter.hit(self.lookup_limit, self.phone)

    # Home visit

    def create_booking(
        self,
        *,
        for_whom: str,
        reason: str,
        service: str,
        village_code: str,
        hamlet: str | None,
        confirmation_sms: Callable[[str], str],
    ) -> BookingResult:
        def book(connection: Connection) -> queries.Booked:
            return queries.book_home_visit(
                connection,
                phone=self.phone,
                for_whom=for_whom,
                reason=reason,
                service=service,
                village_code=village_code,
                hamlet=hamlet,
                confirmation_sms=confirmation_sms,
            )

        booked = self.db.write_as_one(book)  # PostgreSQL: one round trip
        if booked.created:
            self.dispatch()
        return BookingResult(
            number=booked.number,
            created=booked.created,
            status=booked.status,
            scheduled_for=_local_date(booked.scheduled_for) if booked.scheduled_for else None,
        )

    # Village visits

    def next_visit(self, village_code: str) -> VisitView | None:
        today = local_today()
        key = next_visit_cache_key(village_code)
        cached = self.store.cached(key)
        if cached is not None and cached["day"] == today.isoformat():  # still the next one
            return _visit_from_cache(cached["visit"])
        rows = self.db.read(queries.NEXT_VISIT, {"village": village_code, "today": today})
        visit = None
        if rows:
            row = rows[0]
            visit = VisitView(
                id=row.id,
                village_code=row.village_code,
                day=row.visit_date,
                start=row.start_time.strftime("%H:%M"),
                end=row.end_time.strftime("%H:%M"),
                place=row.place,
                bring=row.bring,
            )
        self.store.cache(
            key,
            {"day": today.isoformat(), "visit": _visit_to_cache(visit)},
            NEXT_VISIT_CACHE_SECONDS,
        )
        return visit

    def subscribe_visit_reminder(self, visit: VisitView, language: str) -> None:
        """Remind me: one look-up (the visit as stored now, and whether this phone already
        asked; nothing more if it had). On PostgreSQL a new subscription and its reminders
        are then one statement alone (no BEGIN, COMMIT round trips), which plans them only if
        the visit is still as read; elsewhere, or if the visit changed meanwhile, the
        reminders are planned in a transaction from the visit as stored then."""
        rows = self.db.read(queries.VISIT_TO_REMIND_OF, {"id": visit.id, "phone": self.phone})
        if rows and rows[0].subscribed:
            return  # asked before: its reminders were planned then (and re-planned on edits)
        if rows and self.db.engine.dialect.name == "postgresql":
            reminders = self.resident_sms.reminder_messages(self.phone, language, rows[0])
            new, unchanged = self.db.write_alone(
                lambda connection: queries.subscribe_to_unchanged_visit(
                    connection,
                    phone=self.phone,
                    visit=rows[0],
                    language=language,
                    reminders=reminders,
                )
            )
            if not new or unchanged:
                return

        def subscribe(connection: Connection) -> None:
            queries.subscribe(
                connection,
                phone=self.phone,
                kind="visit_reminder",
                village_code=visit.village_code,
                visit_id=visit.id,
                language=language,
            )
            # (new, or new a moment ago): its reminders from the visit as stored now; written
            # once however often this runs (their keys)
            for stored in connection.execute(queries.VISIT_BY_ID, {"id": visit.id}):
                if not stored.cancelled:
                    self.resident_sms.visit_reminders(connection, self.phone, language, stored)

        self.db.write(subscribe)

    def subscribe_visit_published(self, village_code: str, language: str) -> None:
        self.db.write_alone(
            lambda connection: queries.subscribe(
                connection,
                phone=self.phone,
                kind="visit_published",
                village_code=village_code,
                visit_id=None,
                language=language,
            )
        )

    # Any SMS

    def send_sms(self, body: str, dedupe_key: str) -> None:
        written = self.db.write_alone(
            lambda connection: outbox.add(
                connection,
                recipient=self.phone,
                kind="reply",
                body=body,
                dedupe_key=dedupe_key,
                urgent=True,
            )
        )
        if written:
            self.dispatch()


def _visit_to_cache(visit: VisitView | None) -> dict[str, Any] | None:
    return None if visit is None else {**asdict(visit), "day": visit.day.isoformat()}


def _visit_from_cache(data: dict[str, Any] | None) -> VisitView | None:
    return (
        None if data is None else VisitView(**{**data, "day": dt.date.fromisoformat(data["day"])})
    )


def _local_date(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:  # SQLite returns naive datetimes; we store UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(LOCAL_TZ).date()
