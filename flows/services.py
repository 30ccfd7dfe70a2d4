"""What the flows need from the rest of the product, as a small protocol.

The gateway hands an implementation in (backed by storage and caches); tests can hand in
anything that fits. Views are plain data (common/views.py): nothing here touches SQL or Flask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# The shapes storage builds and the flows show: plain data, in a module every part may import.
from common.office import Office
from common.views import BookingResult, BookingView, CallbackResult, RequestView, VisitView

__all__ = [
    "BookingResult",
    "BookingView",
    "CallbackResult",
    "Office",
    "RemoteLookupsClosed",
    "RequestView",
    "Services",
    "VisitView",
]


class RemoteLookupsClosed(Exception):
    """This request number has had its wrong birth years for today: it answers no look-up
    from a phone other than its applicant's until tomorrow."""


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
        """The request, if ``birth_year`` is its applicant's; else None (one look-up), and
        the wrong year is counted against the number. Raises RemoteLookupsClosed when the
        number has had its wrong years today (checked and counted atomically)."""
        ...

    def remote_lookups_closed(self, number: str) -> bool:
        """Whether ``number`` answers no more look-ups from other phones today."""
        ...

    def lookups_blocked(self) -> bool: ...
    def has_failed_lookups(self) -> bool:
        """Whether this phone has failed a look-up within the guard's window."""
        ...

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

    def my_bookings(self) -> list[BookingView]:
        """This phone's open home-visit bookings (listed under "Cek status")."""
        ...

    def cancel_booking(self, number: str) -> str | None:
        """Cancel this phone's open booking (staff see it cancelled by the resident; the
        resident gets the closing SMS). The booking's status after, or None if this phone has
        no booking with that number."""
        ...

    # The office ("Hubungi kantor") and call-back requests
    def office(self) -> Office: ...
    def request_callback(
        self, *, reason: str, language: str, confirmation_sms: Callable[[], str]
    ) -> CallbackResult:
        """Ask staff to call this phone back (and its SMS, in one transaction), or the
        phone's open request."""
        ...

    # Village visits (Si Melik)
    def next_visit(self, village_code: str) -> VisitView | None: ...
    def subscribe_visit_reminder(self, visit_id: int, language: str) -> None:
        """Remind this phone of the visit, with the details stored when its reminders are
        written (staff may have edited it since it was shown)."""
        ...

    def subscribe_visit_published(self, village_code: str, language: str) -> None: ...

    # Priority service
    def send_sms(self, body: str, dedupe_key: str) -> None: ...
