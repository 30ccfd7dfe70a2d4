"""What the flows need from the rest of the product, as a small protocol.

The gateway hands an implementation in (backed by storage and caches); tests can hand in
anything that fits. Views are plain data: nothing here touches SQL or Flask.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RequestView:
    number: str
    doc_type: str
    status: str
    updated: dt.date
    pickup_place: str | None
    owned_by_caller: bool


@dataclass(frozen=True)
class VisitView:
    id: int
    village_code: str
    day: dt.date
    start: str  # "09:00"
    end: str
    place: str
    bring: str | None


@dataclass(frozen=True)
class BookingResult:
    number: str
    created: bool  # False: an open booking for this phone and service already existed
    status: str
    scheduled_for: dt.date | None


class Services(Protocol):
    """Everything a journey may ask of the outside world, for one caller."""

    phone: str

    # Regions (static; served from memory)
    def districts(self) -> list[tuple[str, str]]: ...
    def villages(self, district_code: str) -> list[tuple[str, str]]: ...
    def village_name(self, code: str) -> str: ...

    # Remembered caller
    def remembered_village(self) -> str | None: ...
    def set_language(self, language: str) -> None: ...
    def remember_village(self, village_code: str) -> None: ...

    # Document status
    def is_valid_request_number(self, number: str) -> bool: ...
    def my_requests(self) -> list[RequestView]: ...
    def find_request(self, number: str) -> RequestView | None: ...
    def verified_request(self, number: str, birth_year: int) -> RequestView | None:
        """The request, if ``birth_year`` is its applicant's; else None (one look-up)."""
        ...

    def lookups_blocked(self) -> bool: ...
    def record_failed_lookup(self) -> None: ...

    # Home visit (Sidakep)
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
        """Create the booking and its confirmation SMS (body from the booking number) in one
        transaction, or return the open booking for this phone and service."""
        ...

    # Village visits (Si Melik)
    def next_visit(self, village_code: str) -> VisitView | None: ...
    def subscribe_visit_reminder(self, visit: VisitView, language: str) -> None: ...
    def subscribe_visit_published(self, village_code: str, language: str) -> None: ...

    # Priority service
    def send_sms(self, body: str, dedupe_key: str) -> None: ...
