"""What a USSD hop (or an SMS conversation) asks of the database: one function per job.

Each is one round trip where it can be: a look-up in autocommit (``Database.read``), a single
write alone in autocommit (``write_alone``), several writes in one short transaction
(``write``) -- or, on PostgreSQL, as one statement of data-modifying CTEs
(statements.``*_WITH_*``). Which database it is on is decided here, not by the caller. Every
function answers with the views of common/views.py, the same on PostgreSQL and SQLite.

The console, the CLI and the jobs make the same look-ups and inserts in their ORM sessions
through storage/queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from common.views import BookingResult, BookingView, CallbackResult, RequestView, VisitView
from storage import outbox
from storage.db import Database
from storage.queries import bookings, callbacks, requests, residents, visits

Message = dict[str, Any]  # the keyword arguments of ``outbox.add``


# --- the caller ----------------------------------------------------------------------------------


def resident_profile(db: Database, phone: str) -> residents.Profile | None:
    found = db.read(residents.RESIDENT_PROFILE, {"phone": phone}, residents.Profile)
    return found[0] if found else None


def update_resident(
    db: Database, phone: str, *, village_code: str | None = None, language: str | None = None
) -> None:
    """Remember the caller's village or language (a new caller becomes a resident)."""
    db.write_alone(
        lambda connection: residents.update_resident(
            connection, phone, village_code=village_code, language=language
        )
    )


# --- document requests ---------------------------------------------------------------------------


def requests_of(db: Database, phone: str, limit: int) -> list[RequestView]:
    """The phone's requests, the most recently changed first."""
    rows = db.read(requests.REQUESTS_OF_PHONE, {"phone": phone, "limit": limit})
    return [requests.view(row, phone) for row in rows]


def find_request(
    db: Database, number: str, caller: str, birth_year: int | None = None
) -> RequestView | None:
    """The request with this number, as ``caller`` sees it; with ``birth_year``, only if it is
    its applicant's."""
    rows = db.read(requests.REQUEST_BY_NUMBER, {"number": number})
    if not rows:
        return None
    *row, applicant_birth_year = rows[0]
    if birth_year is not None and applicant_birth_year != birth_year:
        return None
    return requests.view(row, caller)


def request_applicant(db: Database, number: str) -> tuple[str, str | None] | None:
    """The phone of the request's applicant and their language (None: not known), or None
    when no request has this number."""
    rows = db.read(requests.REQUEST_BY_NUMBER, {"number": number})
    if not rows:
        return None
    phone = rows[0][5]  # applicant_phone (requests._COLUMNS)
    profile = resident_profile(db, phone)
    return phone, profile.language if profile else None


# --- home visits ---------------------------------------------------------------------------------


def book_home_visit(
    db: Database,
    *,
    phone: str,
    for_whom: str,
    reason: str,
    service: str,
    village_code: str,
    hamlet: str | None,
    confirmation_sms: Callable[[str], str],
) -> BookingResult:
    """A new booking and its confirmation SMS, or the open booking of this phone and service:
    one statement on PostgreSQL, one transaction elsewhere."""
    return db.write_as_one(
        lambda connection: bookings.book_home_visit(
            connection,
            phone=phone,
            for_whom=for_whom,
            reason=reason,
            service=service,
            village_code=village_code,
            hamlet=hamlet,
            confirmation_sms=confirmation_sms,
        )
    )


def bookings_of(db: Database, phone: str, limit: int) -> list[BookingView]:
    """The phone's open home-visit bookings (requested, scheduled), the soonest first."""
    return db.read(
        bookings.OPEN_BOOKINGS_OF_PHONE, {"phone": phone, "limit": limit}, bookings.booking_view
    )


# --- call-back requests --------------------------------------------------------------------------


def request_callback(
    db: Database,
    *,
    phone: str,
    reason: str,
    language: str,
    channel: str,
    confirmation_sms: Callable[[], str],
) -> CallbackResult:
    """A new call-back request and its SMS in one transaction, or the phone's open one."""
    return db.write(
        lambda connection: callbacks.request_callback(
            connection,
            phone=phone,
            reason=reason,
            language=language,
            channel=channel,
            confirmation_sms=confirmation_sms,
        )
    )


# --- village visits ------------------------------------------------------------------------------


def next_visit(db: Database, village_code: str, today: dt.date) -> VisitView | None:
    found = db.read(visits.NEXT_VISIT, {"village": village_code, "today": today}, visits.view)
    return found[0] if found else None


def subscribe_visit_reminder(
    db: Database,
    *,
    phone: str,
    visit_id: int,
    language: str,
    reminders: Callable[[VisitView], list[Message]],
) -> None:
    """A "remind me": the subscription and the visit's ``reminders`` (written from the visit as
    stored). One look-up -- the visit, and whether this phone asked before (then nothing more).
    On PostgreSQL a new subscription and its reminders are then one statement, which writes
    the reminders only if the visit is still as read; elsewhere, or if staff changed the visit
    meanwhile, they are written in a transaction from the visit as stored then -- so no
    reminder carries times already corrected, and a cancelled visit gets none."""
    params = {"id": visit_id, "phone": phone}
    found = db.read(visits.VISIT_TO_REMIND_OF, params, visits.stored_visit)
    if not found or found[0].subscribed:
        return  # no such visit; or asked before: reminders were planned then (and on edits)
    read = found[0].visit
    if db.one_statement_writes:
        new, unchanged = db.write_alone(
            lambda connection: visits.subscribe_with_reminders(
                connection, phone=phone, visit=read, language=language, reminders=reminders(read)
            )
        )
        if not new or unchanged:
            return

    def in_transaction(connection: Connection) -> None:
        visits.subscribe(
            connection,
            phone=phone,
            kind="visit_reminder",
            village_code=read.village_code,
            visit_id=visit_id,
            language=language,
        )
        # (new, or new a moment ago): its reminders from the visit as stored now, written once
        # however often this runs (their dedupe keys)
        for row in connection.execute(visits.VISIT_TO_REMIND_OF, params):
            stored = visits.stored_visit(*row)
            if not stored.cancelled:
                for message in reminders(stored.visit):
                    outbox.add(connection, **message)

    db.write(in_transaction)


def subscribe_visit_published(
    db: Database, *, phone: str, village_code: str, language: str
) -> None:
    """Tell this phone when a visit to the village is published."""
    db.write_alone(
        lambda connection: visits.subscribe(
            connection,
            phone=phone,
            kind="visit_published",
            village_code=village_code,
            visit_id=None,
            language=language,
        )
    )


# --- any SMS -------------------------------------------------------------------------------------


def add_message(db: Database, **message: Any) -> bool:
    """Write one SMS to the outbox (``outbox.add``'s arguments); False if its key was written."""
    return db.write_alone(lambda connection: outbox.add(connection, **message))
