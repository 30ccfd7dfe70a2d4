"""Small query functions, by subject. Each takes a Session (or a Connection) and never commits:
the caller owns the transaction (``with db.begin() as session:``), so a change and the SMS it
causes commit together.

The look-ups a resident's call makes are Core statements here (``REQUEST_BY_NUMBER``,
``NEXT_VISIT``…), run by the console's and CLI's functions and, through ``Database.read``, by
the USSD hop (storage/hop.py). Inserts go through storage/statements.py.
"""

from __future__ import annotations

from storage.queries.bookings import count_open_bookings, create_booking
from storage.queries.requests import (
    REQUEST_BY_NUMBER,
    REQUESTS_OF_PHONE,
    add_request,
    find_request,
    last_status_change_id,
    set_request_status,
)
from storage.queries.residents import (
    RESIDENT_PROFILE,
    get_resident,
    update_resident,
    upsert_resident,
)
from storage.queries.sessions import record_sessions
from storage.queries.visits import NEXT_VISIT, add_visit, next_visit, subscribe

__all__ = [
    "NEXT_VISIT",
    "REQUESTS_OF_PHONE",
    "REQUEST_BY_NUMBER",
    "RESIDENT_PROFILE",
    "add_request",
    "add_visit",
    "count_open_bookings",
    "create_booking",
    "find_request",
    "get_resident",
    "last_status_change_id",
    "next_visit",
    "record_sessions",
    "set_request_status",
    "subscribe",
    "update_resident",
    "upsert_resident",
]
