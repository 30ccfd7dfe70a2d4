"""Home-visit bookings (Sidakep): a resident asks, staff schedule and close them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import bindparam, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.local_time import LOCAL_TZ, as_utc, local_date
from common.segments import count_segments
from common.views import BookingResult, BookingView
from storage import numbers, outbox, statements
from storage.db import wrote_one
from storage.models import OPEN_BOOKING_STATUSES, HomeVisitBooking, utcnow

_OPEN_BOOKING = select(  # params: phone, service
    HomeVisitBooking.number, HomeVisitBooking.status, HomeVisitBooking.scheduled_for
).where(
    HomeVisitBooking.phone == bindparam("phone"),
    HomeVisitBooking.service == bindparam("service"),
    HomeVisitBooking.status.in_(OPEN_BOOKING_STATUSES),
)

# A phone's open bookings, the soonest first (unscheduled last). params: phone, limit
OPEN_BOOKINGS_OF_PHONE = (
    select(
        HomeVisitBooking.number,
        HomeVisitBooking.service,
        HomeVisitBooking.status,
        HomeVisitBooking.scheduled_for,
        HomeVisitBooking.team,
    )
    .where(
        HomeVisitBooking.phone == bindparam("phone"),
        # (literal values: the hop's reader runs it through psycopg, with no expanding IN)
        or_(*(HomeVisitBooking.status == literal(s) for s in OPEN_BOOKING_STATUSES)),
    )
    .order_by(HomeVisitBooking.scheduled_for.is_(None), HomeVisitBooking.scheduled_for)
    .order_by(HomeVisitBooking.id)
    .limit(bindparam("limit"))
)


def booking_view(
    number: str, service: str, status: str, scheduled_for: dt.datetime | None, team: str | None
) -> BookingView:
    """A row of OPEN_BOOKINGS_OF_PHONE as its resident is told about it (times in WITA)."""
    return BookingView(
        number=number,
        service=service,
        status=status,
        scheduled_for=None if scheduled_for is None else as_utc(scheduled_for).astimezone(LOCAL_TZ),
        team=team,
    )


def book_home_visit(
    connection: Connection,
    *,
    phone: str,
    for_whom: str,
    reason: str,
    service: str,
    village_code: str,
    hamlet: str | None,
    confirmation_sms: Callable[[str], str] | None = None,
) -> BookingResult:
    """Create a booking, or find the open one for this phone and service: one INSERT that the
    database refuses if an open booking exists (also one a racing hop has just made), then one
    look-up only if it did -- no check-then-insert window. With ``confirmation_sms`` (its body
    from the booking number) a new booking's SMS too, both or neither: on PostgreSQL in one
    statement, which may run alone in autocommit; elsewhere the caller's transaction makes the
    statements one."""
    one_statement = confirmation_sms is not None and connection.dialect.name == "postgresql"
    for _ in range(5):
        number = numbers.new_number()
        values = {
            "number": number,
            "phone": phone,
            "for_whom": for_whom,
            "reason": reason,
            "service": service,
            "village_code": village_code,
            "hamlet": hamlet,
            "now": utcnow(),
        }
        if one_statement:
            assert confirmation_sms is not None
            body = confirmation_sms(number)
            row = connection.execute(
                statements.BOOK_WITH_SMS,
                {
                    **values,
                    "body": body,
                    "segments": count_segments(body).segments,
                    "dedupe_key": f"booking-confirmed:{number}",
                },
            ).first()
            if row is not None:
                return _result(row.number, row.status, row.scheduled_for, row.created)
            # Refused, and no open booking in this statement's snapshot: the number was
            # taken, or a racing hop's booking committed after the snapshot. Draw again.
            continue
        if wrote_one(connection.execute(statements.ADD_BOOKING, values)):
            if confirmation_sms is not None:
                outbox.add(
                    connection,
                    recipient=phone,
                    kind="notification",
                    urgent=True,
                    body=confirmation_sms(number),
                    dedupe_key=f"booking-confirmed:{number}",
                )
            return _result(number, "requested", None, True)
        row = connection.execute(_OPEN_BOOKING, {"phone": phone, "service": service}).first()
        if row is not None:
            return _result(row.number, row.status, row.scheduled_for, False)
        # not refused for an open booking: the number was taken (one in ten million), redraw
    raise RuntimeError("no free booking number after 5 draws")


def _result(
    number: str, status: str, scheduled_for: dt.datetime | None, created: bool
) -> BookingResult:
    return BookingResult(
        number=number,
        created=bool(created),
        status=status,
        scheduled_for=None if scheduled_for is None else local_date(scheduled_for),
    )


def create_booking(
    session: Session,
    *,
    phone: str,
    for_whom: str,
    reason: str,
    service: str,
    village_code: str,
    hamlet: str | None,
    on_created: Callable[[HomeVisitBooking], None] | None = None,
) -> tuple[HomeVisitBooking, bool]:
    """``book_home_visit`` in an ORM session: (the booking, created). ``on_created`` runs in
    the same transaction (e.g. to write the confirmation SMS), so a booking never exists
    without its SMS."""
    booked = book_home_visit(
        session.connection(),
        phone=phone,
        for_whom=for_whom,
        reason=reason,
        service=service,
        village_code=village_code,
        hamlet=hamlet,
    )
    booking = session.scalars(
        select(HomeVisitBooking).where(HomeVisitBooking.number == booked.number)
    ).one()
    if booked.created and on_created is not None:
        on_created(booking)
    return booking, booked.created


def count_open_bookings(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(HomeVisitBooking)
            .where(HomeVisitBooking.status.in_(OPEN_BOOKING_STATUSES))
        )
        or 0
    )
