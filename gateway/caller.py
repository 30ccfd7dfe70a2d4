"""The flows' window on the world for one caller: storage, the profile cache, the look-up guard.

A hop calls at most one of the methods that touch the database, and most hops none (regions
and the caller's profile are served from memory and the session store). Each of those is one
function of storage/hop.py, which keeps it to one round trip where it can. The next visit of a
village, which every caller of that village asks for, is cached in the session store and
dropped when a visit of the village changes (``Runtime``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem
from limits.strategies import RateLimiter
from sqlalchemy import select

from common.local_time import local_today
from common.office import Office
from flows.services import (
    BookingResult,
    BookingView,
    CallbackResult,
    RemoteLookupsClosed,
    RequestView,
    VisitView,
)
from gateway import staff_actions
from gateway.lookup_guard import NumberGuard
from gateway.resident_sms import ResidentSms
from gateway.session_store import CallStore
from storage import hop, numbers
from storage.db import Database
from storage.models import OPEN_BOOKING_STATUSES, HomeVisitBooking
from storage.regions import RegionDirectory

log = logging.getLogger(__name__)

NEXT_VISIT_CACHE_SECONDS = 600  # bounds a stale entry if a change raced a look-up
MY_REQUESTS_LISTED = 8  # the newest; the status menu pages through them
MY_BOOKINGS_LISTED = 3  # open home-visit bookings, listed after them
# The audit log's actor when a resident cancels their own booking: staff read "cancelled by
# the resident" (the booking's phone is in the row it names).
RESIDENT_ACTOR = "resident"


def caller_profile(
    db: Database, store: CallStore, phone: str, cached: dict[str, Any] | None
) -> dict[str, Any]:
    """The caller's remembered language and village: from the session store's cache, else the
    database (and then cached)."""
    if cached is not None:
        return cached
    found = hop.resident_profile(db, phone)
    profile = {
        "lang": found.language if found else None,
        "village": found.village_code if found else None,
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
        number_guard: NumberGuard,
        resident_sms: ResidentSms,
        dispatch: Callable[[], None],
        channel: str = "ussd",
    ) -> None:
        self.phone = phone
        self.profile = profile
        self.db = db
        self.store = store
        self.regions = regions
        self.limiter = limiter
        self.lookup_limit = lookup_limit
        self.number_guard = number_guard
        self.resident_sms = resident_sms
        self.dispatch = dispatch
        self.channel = channel  # ussd | sms: where a call-back request came from

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
        hop.update_resident(self.db, self.phone, village_code=village_code)
        self._update_profile(village=village_code)

    def set_language(self, language: str) -> None:
        if self.profile.get("lang") == language:
            return  # already so: no database round trip
        hop.update_resident(self.db, self.phone, language=language)
        self._update_profile(lang=language)

    def _update_profile(self, **changes: Any) -> None:
        self.profile.update(changes)
        self.store.save_profile(self.phone, self.profile)

    # Document status

    def is_valid_request_number(self, number: str) -> bool:
        return numbers.is_well_formed(number)

    def my_requests(self) -> list[RequestView]:
        return hop.requests_of(self.db, self.phone, MY_REQUESTS_LISTED)

    def find_request(self, number: str) -> RequestView | None:
        return hop.find_request(self.db, number, self.phone)

    def verified_request(self, number: str, birth_year: int) -> RequestView | None:
        """The guess takes its slot first (gateway/lookup_guard.py), so guesses arriving
        together from many phones cannot pass the number's daily limit together; a right
        year gives the slot back. The wrong year that closes the number tells its applicant."""
        slot = self.number_guard.reserve(number)
        if not slot:
            raise RemoteLookupsClosed(number)
        try:
            request = hop.find_request(self.db, number, self.phone, birth_year)
        except BaseException:
            self.number_guard.release(number)  # not answered: not a guess
            raise
        if request is not None:
            self.number_guard.release(number)
            return request
        if slot >= self.number_guard.limit:
            log.warning(
                "request ..%s: %d wrong birth years today from other phones; closed to them "
                "until tomorrow",
                number[-4:],
                slot,
            )
            self._warn_applicant(number)
        return None

    def _warn_applicant(self, number: str) -> None:
        """One SMS a day to the applicant: someone tried their request from another phone.
        (A number nobody has: nobody to tell -- and the caller cannot tell the difference.)"""
        applicant = hop.request_applicant(self.db, number)
        if applicant is None:
            return
        phone, language = applicant
        body = self.resident_sms.catalog(language).text("sms.lookup_warning", last4=number[-4:])
        written = hop.add_message(
            self.db,
            recipient=phone,
            kind="notification",  # not urgent: quiet hours hold it till morning
            body=body,
            dedupe_key=f"lookup-warning:{number}:{local_today().isoformat()}",
        )
        if written:
            self.dispatch()

    def remote_lookups_closed(self, number: str) -> bool:
        return self.number_guard.closed(number)

    def lookups_blocked(self) -> bool:
        return not self.limiter.test(self.lookup_limit, self.phone)

    def has_failed_lookups(self) -> bool:
        stats = self.limiter.get_window_stats(self.lookup_limit, self.phone)
        return stats.remaining < self.lookup_limit.amount

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
        booked = hop.book_home_visit(
            self.db,
            phone=self.phone,
            for_whom=for_whom,
            reason=reason,
            service=service,
            village_code=village_code,
            hamlet=hamlet,
            confirmation_sms=confirmation_sms,
        )
        if booked.created:
            self.dispatch()
        return booked

    def my_bookings(self) -> list[BookingView]:
        return hop.bookings_of(self.db, self.phone, MY_BOOKINGS_LISTED)

    def cancel_booking(self, number: str) -> str | None:
        """The resident's own cancel: the same change as staff's (status, audit, the closing
        SMS, a waiting reminder dropped), the audit's actor naming the resident's channel."""
        with self.db.begin() as session:
            booking = session.scalars(
                select(HomeVisitBooking).where(
                    HomeVisitBooking.number == number, HomeVisitBooking.phone == self.phone
                )
            ).first()
            if booking is None:
                return None
            if booking.status not in OPEN_BOOKING_STATUSES:
                return booking.status
            staff_actions.close_booking(
                session, self.resident_sms, RESIDENT_ACTOR, number, "cancelled"
            )
        self.dispatch()
        return "cancelled"

    # The office, and call-back requests

    def office(self) -> Office:
        return self.resident_sms.office

    def request_callback(
        self, *, reason: str, language: str, confirmation_sms: Callable[[], str]
    ) -> CallbackResult:
        result = hop.request_callback(
            self.db,
            phone=self.phone,
            reason=reason,
            language=language,
            channel=self.channel,
            confirmation_sms=confirmation_sms,
        )
        if result.created:
            self.dispatch()
        return result

    # Village visits

    def next_visit(self, village_code: str) -> VisitView | None:
        today = local_today()
        key = next_visit_cache_key(village_code)
        cached = self.store.cached(key)
        if cached is not None and cached["day"] == today.isoformat():  # still the next one
            return None if cached["visit"] is None else VisitView.from_dict(cached["visit"])
        visit = hop.next_visit(self.db, village_code, today)
        self.store.cache(
            key,
            {"day": today.isoformat(), "visit": None if visit is None else visit.as_dict()},
            NEXT_VISIT_CACHE_SECONDS,
        )
        return visit

    def subscribe_visit_reminder(self, visit_id: int, language: str) -> None:
        hop.subscribe_visit_reminder(
            self.db,
            phone=self.phone,
            visit_id=visit_id,
            language=language,
            reminders=lambda visit: self.resident_sms.reminder_messages(
                self.phone, language, visit
            ),
        )

    def subscribe_visit_published(self, village_code: str, language: str) -> None:
        hop.subscribe_visit_published(
            self.db, phone=self.phone, village_code=village_code, language=language
        )

    # Any SMS

    def send_sms(self, body: str, dedupe_key: str) -> None:
        written = hop.add_message(
            self.db,
            recipient=self.phone,
            kind="reply",
            body=body,
            dedupe_key=dedupe_key,
            urgent=True,
        )
        if written:
            self.dispatch()
