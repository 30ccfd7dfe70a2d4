"""Home-visit bookings: at most one open per phone and service, held by the database; made in an
ORM session (console, CLI) or as the USSD hop makes them, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage import hop, numbers, outbox, queries
from storage.db import Database
from storage.models import HomeVisitBooking, OutboxMessage
from tests.helpers import TEMBOK, count
from tests.storage.helpers import OTHER_PHONE, PHONE


def _booking(
    phone: str = PHONE, service: str = "ktp", status: str = "requested", number: str | None = None
) -> HomeVisitBooking:
    return HomeVisitBooking(
        number=number or numbers.new_number(),
        phone=phone,
        for_whom="self",
        reason="elderly",
        service=service,
        village_code=TEMBOK,
        hamlet=None,
        status=status,
    )


def test_database_refuses_two_open_bookings_for_the_same_phone_and_service(db: Database) -> None:
    with db.begin() as session:
        session.add(_booking())
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(_booking())
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(_booking(status="scheduled"))
    with db.begin() as session:  # another service, another phone, or a closed one: fine
        session.add(_booking(service="kk"))
        session.add(_booking(phone=OTHER_PHONE))
        session.add(_booking(status="done"))
        session.add(_booking(status="cancelled"))
    assert count(db, HomeVisitBooking) == 5
    assert (
        count(
            db, HomeVisitBooking, HomeVisitBooking.phone == PHONE, HomeVisitBooking.service == "ktp"
        )
        == 3
    )


@pytest.mark.parametrize("closed", ["done", "cancelled"])
def test_a_new_open_booking_is_allowed_once_the_first_is_closed(db: Database, closed: str) -> None:
    with db.begin() as session:
        first = _booking()
        session.add(first)
    with db.begin() as session:
        session.get(HomeVisitBooking, first.id).status = closed  # type: ignore[union-attr]
    with db.begin() as session:
        session.add(_booking())
    assert count(db, HomeVisitBooking, HomeVisitBooking.status == "requested") == 1
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(_booking())


@pytest.fixture(params=["console", "hop"])
def booking_path(request: pytest.FixtureRequest) -> str:
    """How a booking is made: in an ORM session (console, CLI), or as the USSD hop makes it
    (on PostgreSQL one statement alone on the kept autocommit connection)."""
    return str(request.param)


def _create(
    db: Database, calls: list[str], phone: str = PHONE, service: str = "ktp", path: str = "console"
) -> tuple[str, bool]:
    if path == "hop":
        booked = hop.book_home_visit(
            db,
            phone=phone,
            for_whom="family",
            reason="sick",
            service=service,
            village_code=TEMBOK,
            hamlet="Banjar Kaja",
            confirmation_sms=lambda number: f"Booking {number}",
        )
        if booked.created:
            calls.append(booked.number)
        return booked.number, booked.created
    with db.begin() as session:

        def confirm(booking: HomeVisitBooking) -> None:
            calls.append(booking.number)
            outbox.add(
                session,
                recipient=phone,
                kind="notification",
                body=f"Booking {booking.number}",
                dedupe_key=f"booking-confirmed:{booking.number}",
            )

        booking, created = queries.create_booking(
            session,
            phone=phone,
            for_whom="family",
            reason="sick",
            service=service,
            village_code=TEMBOK,
            hamlet="Banjar Kaja",
            on_created=confirm,
        )
        return booking.number, created


def test_create_booking_returns_the_open_one_and_confirms_once(
    db: Database, booking_path: str
) -> None:
    calls: list[str] = []
    number, created = _create(db, calls, path=booking_path)
    assert created is True
    assert numbers.is_well_formed(number)
    again, created_again = _create(db, calls, path=booking_path)
    assert (again, created_again) == (number, False)
    assert calls == [number]
    assert count(db, HomeVisitBooking) == 1
    with db.begin() as session:
        rows = list(session.scalars(select(OutboxMessage)))
        assert [(r.recipient, r.kind, r.body, r.dedupe_key, r.status) for r in rows] == [
            (PHONE, "notification", f"Booking {number}", f"booking-confirmed:{number}", "queued")
        ]
        booking = session.scalar(select(HomeVisitBooking))
        assert booking is not None
        assert (
            booking.for_whom,
            booking.reason,
            booking.service,
            booking.village_code,
            booking.hamlet,
            booking.status,
        ) == ("family", "sick", "ktp", TEMBOK, "Banjar Kaja", "requested")
    with db.begin() as session:
        assert queries.count_open_bookings(session) == 1


def test_create_booking_again_after_the_first_is_done(db: Database, booking_path: str) -> None:
    calls: list[str] = []
    first, _ = _create(db, calls, path=booking_path)
    with db.begin() as session:
        booking = session.scalar(select(HomeVisitBooking).where(HomeVisitBooking.number == first))
        booking.status = "done"  # type: ignore[union-attr]
    second, created = _create(db, calls, path=booking_path)
    assert created is True and second != first
    other_service, created = _create(db, calls, service="kk", path=booking_path)
    assert created is True
    assert calls == [first, second, other_service]
    assert count(db, OutboxMessage) == 3
    with db.begin() as session:
        assert queries.count_open_bookings(session) == 2


def test_create_booking_yields_to_the_racing_winner(db: Database, booking_path: str) -> None:
    """Two hops race: the one whose INSERT the database refuses returns the winner's booking
    (no check-then-insert window: the partial unique index decides)."""
    with db.begin() as session:
        session.add(_booking(number=numbers.with_check_digit("3000001")))  # the winner
    calls: list[str] = []
    number, created = _create(db, calls, path=booking_path)
    assert (number, created) == (numbers.with_check_digit("3000001"), False)
    assert calls == []
    assert count(db, HomeVisitBooking) == 1


def test_create_booking_draws_again_when_the_number_is_taken(
    db: Database, monkeypatch: pytest.MonkeyPatch, booking_path: str
) -> None:
    taken = numbers.with_check_digit("3000002")
    with db.begin() as session:
        session.add(_booking(number=taken, phone=OTHER_PHONE))
    draws = iter([taken, numbers.with_check_digit("3000003")])
    monkeypatch.setattr(numbers, "new_number", lambda: next(draws))
    calls: list[str] = []
    number, created = _create(db, calls, path=booking_path)
    assert (number, created) == (numbers.with_check_digit("3000003"), True)
    assert calls == [number]
