"""Small query functions. Each takes a Session and never commits: the caller owns the
transaction (``with db.begin() as session:``), so a change and the SMS it causes commit together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DateTime,
    String,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from common.segments import count_segments
from storage import numbers, outbox
from storage.db import wrote_one
from storage.models import (
    OPEN_BOOKING_STATUSES,
    DocumentRequest,
    HomeVisitBooking,
    ReminderSubscription,
    RequestStatusChange,
    Resident,
    UssdSessionLog,
    VillageVisit,
    utcnow,
)
from storage.vocab import DOC_TYPES, REQUEST_STATUSES

# Column sizes (models.py) of the free-text fields staff type.
PICKUP_PLACE_LENGTH = 120
VISIT_PLACE_LENGTH = 120
VISIT_BRING_LENGTH = 240


def _check_length(value: str | None, limit: int, what: str) -> None:
    """Column sizes are enforced by PostgreSQL but not by SQLite: check them the same on both."""
    if value is not None and len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")


# --- what a USSD hop reads: Core statements for Database.read (no ORM, no transaction) ------

_REQUEST_COLUMNS = (
    DocumentRequest.number,
    DocumentRequest.doc_type,
    DocumentRequest.status,
    DocumentRequest.updated_at,
    DocumentRequest.pickup_place,
    DocumentRequest.applicant_phone,
)

RESIDENT_PROFILE = select(Resident.language, Resident.village_code).where(
    Resident.phone == bindparam("phone")
)

REQUESTS_OF_PHONE = (  # params: phone, limit
    select(*_REQUEST_COLUMNS)
    .where(DocumentRequest.applicant_phone == bindparam("phone"))
    .order_by(DocumentRequest.updated_at.desc(), DocumentRequest.id.desc())
    .limit(bindparam("limit"))
)

REQUEST_BY_NUMBER = select(*_REQUEST_COLUMNS, DocumentRequest.applicant_birth_year).where(
    DocumentRequest.number == bindparam("number")
)

VISIT_BY_ID = select(VillageVisit.__table__).where(VillageVisit.id == bindparam("id"))

# A visit as stored now, and whether this phone already asked to be reminded of it.
VISIT_TO_REMIND_OF = select(
    VillageVisit.__table__,
    exists()
    .where(
        ReminderSubscription.phone == bindparam("phone"),
        ReminderSubscription.kind == "visit_reminder",
        ReminderSubscription.village_code == VillageVisit.village_code,
        ReminderSubscription.visit_id == VillageVisit.id,
    )
    .label("subscribed"),
).where(VillageVisit.id == bindparam("id"))

NEXT_VISIT = (
    select(
        VillageVisit.id,
        VillageVisit.village_code,
        VillageVisit.visit_date,
        VillageVisit.start_time,
        VillageVisit.end_time,
        VillageVisit.place,
        VillageVisit.bring,
    )
    .where(
        VillageVisit.village_code == bindparam("village"),
        VillageVisit.published.is_(True),
        VillageVisit.cancelled.is_(False),
        VillageVisit.visit_date >= bindparam("today"),
    )
    .order_by(VillageVisit.visit_date, VillageVisit.start_time)
    .limit(1)
)


# --- residents -------------------------------------------------------------------------------


def get_resident(session: Session, phone: str) -> Resident | None:
    return session.scalar(select(Resident).where(Resident.phone == phone))


def upsert_resident(
    session: Session, phone: str, *, village_code: str | None = None, language: str | None = None
) -> Resident:
    """Create the resident if new; update only the fields given."""
    resident = get_resident(session, phone)
    if resident is None:
        resident = Resident(
            phone=phone, village_code=village_code, language=language or "id", opted_out=False
        )
        session.add(resident)
    else:
        if village_code is not None:
            resident.village_code = village_code
        if language is not None:
            resident.language = language
    session.flush()
    return resident


# --- document requests -----------------------------------------------------------------------


def _unique_number(session: Session) -> str:
    while True:
        number = numbers.new_number()
        if (
            session.scalar(select(DocumentRequest.id).where(DocumentRequest.number == number))
            is None
        ):
            return number


def add_request(
    session: Session,
    *,
    doc_type: str,
    phone: str,
    birth_year: int,
    village_code: str,
    status: str = "submitted",
    number: str | None = None,
    pickup_place: str | None = None,
) -> DocumentRequest:
    if doc_type not in DOC_TYPES:
        raise ValueError(f"unknown document type '{doc_type}' (one of: {', '.join(DOC_TYPES)})")
    if status not in REQUEST_STATUSES:
        raise ValueError(f"unknown status '{status}' (one of: {', '.join(REQUEST_STATUSES)})")
    this_year = dt.date.today().year
    if not 1900 <= birth_year <= this_year:
        raise ValueError(f"birth year {birth_year} is not between 1900 and {this_year}")
    _check_length(pickup_place, PICKUP_PLACE_LENGTH, "the pickup place")
    if number is not None:
        if not numbers.is_well_formed(number):
            raise ValueError(
                f"'{number}' is not a valid request number "
                f"({numbers.NUMBER_LENGTH} digits with a check digit)"
            )
        if find_request(session, number) is not None:
            raise ValueError(f"request number {number} already exists")
    request = DocumentRequest(
        number=number or _unique_number(session),
        doc_type=doc_type,
        applicant_phone=phone,
        applicant_birth_year=birth_year,
        village_code=village_code,
        status=status,
        pickup_place=pickup_place,
    )
    session.add(request)
    session.flush()
    session.add(
        RequestStatusChange(request_id=request.id, status=status, pickup_place=pickup_place)
    )
    return request


def find_request(session: Session, number: str) -> DocumentRequest | None:
    return session.scalar(select(DocumentRequest).where(DocumentRequest.number == number))


def set_request_status(
    session: Session, number: str, status: str, pickup_place: str | None = None
) -> DocumentRequest:
    if status not in REQUEST_STATUSES:
        raise ValueError(f"unknown status '{status}' (one of: {', '.join(REQUEST_STATUSES)})")
    _check_length(pickup_place, PICKUP_PLACE_LENGTH, "the pickup place")
    request = find_request(session, number)
    if request is None:
        raise ValueError(f"no request with number {number}")
    request.status = status
    if pickup_place is not None:
        request.pickup_place = pickup_place
    request.updated_at = utcnow()
    session.add(
        RequestStatusChange(request_id=request.id, status=status, pickup_place=request.pickup_place)
    )
    session.flush()
    return request


def last_status_change_id(session: Session, request: DocumentRequest) -> int:
    return int(
        session.scalar(
            select(func.max(RequestStatusChange.id)).where(
                RequestStatusChange.request_id == request.id
            )
        )
        or 0
    )


# --- home visits (Sidakep) -------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    number: str
    status: str
    scheduled_for: dt.datetime | None
    created: bool  # False: the phone's open booking for this service, made before


# Plain SQL, for SQLAlchemy cannot cache its on_conflict_do_nothing() (see outbox.add). With no
# conflict target it yields to both unique indexes: the open booking of this phone and service
# (partial), and the number.
_INSERT_BOOKING = text(
    "INSERT INTO home_visit_bookings (number, phone, for_whom, reason, service, village_code,"
    " hamlet, status, created_at, updated_at) VALUES (:number, :phone, :for_whom, :reason,"
    " :service, :village_code, :hamlet, 'requested', :now, :now) ON CONFLICT DO NOTHING"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))

_OPEN_BOOKING = select(
    HomeVisitBooking.number, HomeVisitBooking.status, HomeVisitBooking.scheduled_for
).where(
    HomeVisitBooking.phone == bindparam("phone"),
    HomeVisitBooking.service == bindparam("service"),
    HomeVisitBooking.status.in_(OPEN_BOOKING_STATUSES),
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
) -> Booked:
    """Create a booking, or find the open one for this phone and service: one INSERT that the
    database refuses if an open booking exists (also one a racing hop has just made), then
    one look-up only if it did. With ``confirmation_sms`` a new booking's SMS too, both or
    neither: on PostgreSQL one statement, so the USSD hop may run it alone on an autocommit
    connection (one round trip instead of BEGIN, INSERT, INSERT, COMMIT); elsewhere the
    caller's transaction makes the statements one."""
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
                _BOOK_WITH_SMS,
                {
                    **values,
                    "body": body,
                    "segments": count_segments(body).segments,
                    "dedupe_key": f"booking-confirmed:{number}",
                },
            ).first()
            if row is not None:
                return Booked(
                    number=row.number,
                    status=row.status,
                    scheduled_for=row.scheduled_for,
                    created=row.created,
                )
            # Refused, and no open booking in this statement's snapshot: the number was
            # taken, or a racing hop's booking committed after the snapshot. Draw again.
            continue
        if wrote_one(connection.execute(_INSERT_BOOKING, values)):
            if confirmation_sms is not None:
                outbox.add(
                    connection,
                    recipient=phone,
                    kind="notification",
                    urgent=True,
                    body=confirmation_sms(number),
                    dedupe_key=f"booking-confirmed:{number}",
                )
            return Booked(number=number, status="requested", scheduled_for=None, created=True)
        row = connection.execute(_OPEN_BOOKING, {"phone": phone, "service": service}).first()
        if row is not None:
            return Booked(
                number=row.number, status=row.status, scheduled_for=row.scheduled_for, created=False
            )
        # not refused for an open booking: the number was taken (one in ten million), redraw
    raise RuntimeError("no free booking number after 5 draws")


# The new booking and its SMS in data-modifying CTEs; if the INSERT was refused, the open
# booking it collided with (as seen when the statement began; see book_home_visit).
_BOOK_WITH_SMS = text(
    "WITH booked AS (INSERT INTO home_visit_bookings (number, phone, for_whom, reason,"
    " service, village_code, hamlet, status, created_at, updated_at) VALUES (:number, :phone,"
    " :for_whom, :reason, :service, :village_code, :hamlet, 'requested', :now, :now)"
    " ON CONFLICT DO NOTHING RETURNING number),"
    " confirmation AS (INSERT INTO outbox_messages (recipient, kind, urgent, body, segments,"
    " dedupe_key, status, due_at, attempts, created_at) SELECT :phone, 'notification', true,"
    " :body, :segments, :dedupe_key, 'queued', :now, 0, :now FROM booked"
    " ON CONFLICT (dedupe_key) DO NOTHING)"
    " SELECT number, 'requested' AS status, CAST(NULL AS timestamptz) AS scheduled_for,"
    " true AS created FROM booked"
    " UNION ALL SELECT number, status, scheduled_for, false FROM home_visit_bookings"
    " WHERE phone = :phone AND service = :service AND status IN ("
    + ", ".join(f"'{status}'" for status in OPEN_BOOKING_STATUSES)
    + ")"
    " AND NOT EXISTS (SELECT 1 FROM booked)"
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    *(bindparam(name, type_=String()) for name in ("phone", "service")),
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


# --- village visits (Si Melik) ---------------------------------------------------------------


def add_visit(
    session: Session,
    *,
    village_code: str,
    visit_date: dt.date,
    start_time: dt.time,
    end_time: dt.time,
    place: str,
    bring: str | None = None,
    published: bool = True,
) -> VillageVisit:
    if end_time <= start_time:
        raise ValueError(f"end time {end_time:%H:%M} is not after start time {start_time:%H:%M}")
    if not place.strip():
        raise ValueError("the place is empty")
    _check_length(place, VISIT_PLACE_LENGTH, "the place")
    _check_length(bring, VISIT_BRING_LENGTH, "what to bring")
    visit = VillageVisit(
        village_code=village_code,
        visit_date=visit_date,
        start_time=start_time,
        end_time=end_time,
        place=place,
        bring=bring,
        published=published,
        cancelled=False,
    )
    session.add(visit)
    session.flush()
    return visit


def next_visit(session: Session, village_code: str, today: dt.date) -> VillageVisit | None:
    """The next published, not cancelled visit to a village, today included."""
    return session.scalar(
        select(VillageVisit)
        .where(
            VillageVisit.village_code == village_code,
            VillageVisit.published.is_(True),
            VillageVisit.cancelled.is_(False),
            VillageVisit.visit_date >= today,
        )
        .order_by(VillageVisit.visit_date, VillageVisit.start_time)
        .limit(1)
    )


def subscribe(
    session: Session | Connection,
    *,
    phone: str,
    kind: str,
    village_code: str,
    visit_id: int | None,
    language: str,
) -> bool:
    """Record a reminder/notify-me subscription; False if it already existed. One statement,
    so it runs in an ORM session, in a transaction or alone on the USSD hop's connection."""
    statement = _SUBSCRIBE_TO_VISIT if visit_id is not None else _SUBSCRIBE_TO_VILLAGE
    return wrote_one(
        session.execute(
            statement,
            {
                "phone": phone,
                "kind": kind,
                "village_code": village_code,
                "visit_id": visit_id,
                "language": language,
                "created_at": utcnow(),
            },
        )
    )


# Plain SQL (see outbox.add for why). A visit's subscription is unique by constraint; a
# village's has no visit id, and NULLs never collide in a unique constraint: look first.
_SUBSCRIBE_TO_VISIT = text(
    "INSERT INTO reminder_subscriptions (phone, kind, village_code, visit_id, language,"
    " created_at) VALUES (:phone, :kind, :village_code, :visit_id, :language, :created_at)"
    " ON CONFLICT DO NOTHING"
).bindparams(bindparam("created_at", type_=DateTime(timezone=True)))
_SUBSCRIBE_TO_VILLAGE = text(
    "INSERT INTO reminder_subscriptions (phone, kind, village_code, visit_id, language,"
    " created_at) SELECT :phone, :kind, :village_code, NULL, :language, :created_at"
    " WHERE NOT EXISTS (SELECT 1 FROM reminder_subscriptions WHERE phone = :phone"
    " AND kind = :kind AND village_code = :village_code AND visit_id IS NULL)"
).bindparams(
    bindparam("created_at", type_=DateTime(timezone=True)),
    # typed, so PostgreSQL is told each parameter's type once for both places
    *(bindparam(name, type_=String()) for name in ("phone", "kind", "village_code", "language")),
)


def subscribe_to_unchanged_visit(
    connection: Connection,
    *,
    phone: str,
    visit: Any,
    language: str,
    reminders: list[dict[str, Any]],
) -> tuple[bool, bool]:
    """PostgreSQL, one statement: a "remind me" subscription to ``visit`` (a row of
    ``VISIT_TO_REMIND_OF``) and, if the subscription is new and the visit is still as read
    (not edited, not cancelled since), its ``reminders`` (the keyword arguments of
    ``outbox.add``). Returns (the subscription is new, the visit was unchanged): new but
    changed means its reminders are still to be planned, from the visit as stored now."""
    row = connection.execute(
        _SUBSCRIBE_WITH_REMINDERS,
        {
            "phone": phone,
            "village_code": visit.village_code,
            "visit_id": visit.id,
            "language": language,
            "now": utcnow(),
            "stamp": visit.updated_at or visit.created_at,
            "bodies": [m["body"] for m in reminders],
            "segments": [count_segments(m["body"]).segments for m in reminders],
            "keys": [m["dedupe_key"] for m in reminders],
            "dues": [m["due_at"] for m in reminders],
        },
    ).one()
    return bool(row.new), bool(row.unchanged)


# The subscription, the check that the visit is as the reminders were written from (the
# stamp ``notify._version`` keys them by), and the reminders only if both hold.
_SUBSCRIBE_WITH_REMINDERS = text(
    "WITH subscribed AS (INSERT INTO reminder_subscriptions (phone, kind, village_code,"
    " visit_id, language, created_at) VALUES (:phone, 'visit_reminder', :village_code,"
    " :visit_id, :language, :now) ON CONFLICT DO NOTHING RETURNING id),"
    " unchanged AS (SELECT 1 FROM village_visits WHERE id = :visit_id AND NOT cancelled"
    " AND coalesce(updated_at, created_at) = :stamp),"
    " planned AS (INSERT INTO outbox_messages (recipient, kind, urgent, body, segments,"
    " dedupe_key, status, due_at, attempts, visit_id, created_at)"
    " SELECT :phone, 'reminder', false, m.body, m.segments, m.dedupe_key, 'queued', m.due_at,"
    " 0, :visit_id, :now FROM unnest(CAST(:bodies AS text[]), CAST(:segments AS integer[]),"
    " CAST(:keys AS varchar[]), CAST(:dues AS timestamptz[])) AS m(body, segments,"
    " dedupe_key, due_at) WHERE EXISTS (SELECT 1 FROM subscribed)"
    " AND EXISTS (SELECT 1 FROM unchanged) ON CONFLICT (dedupe_key) DO NOTHING)"
    " SELECT EXISTS (SELECT 1 FROM subscribed) AS new,"
    " EXISTS (SELECT 1 FROM unchanged) AS unchanged"
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("stamp", type_=DateTime(timezone=True)),
    *(bindparam(name, type_=String()) for name in ("phone", "village_code", "language")),
)


def set_resident_field(connection: Connection, phone: str, field: str, value: str) -> None:
    """The caller's language or village, in one statement (an upsert): creates the resident
    if new. ``field``: "language" or "village_code"."""
    connection.execute(_SET_RESIDENT[field], {"phone": phone, "value": value, "now": utcnow()})


_SET_RESIDENT = {
    field: text(
        "INSERT INTO residents (phone, village_code, language, opted_out, created_at,"
        " updated_at) VALUES (:phone, {village}, {language}, false, :now, :now)"
        " ON CONFLICT (phone) DO UPDATE SET {field} = :value, updated_at = :now".format(
            field=field,
            village=":value" if field == "village_code" else "NULL",
            language=":value" if field == "language" else "'id'",
        )
    ).bindparams(bindparam("now", type_=DateTime(timezone=True)))
    for field in ("language", "village_code")
}


# --- USSD session log ------------------------------------------------------------------------

_SESSION_FIELDS = (
    "service_code",
    "network_code",
    "journey",
    "hops",
    "outcome",
    "provider_status",
    "started_at",
    "ended_at",
)


def record_sessions(session: Session, records: list[dict[str, object]]) -> int:
    """Insert or complete USSD session log rows (records come from the session store).

    A web process does this between two requests, for up to a thousand records: one query
    finds the rows that exist, then one bulk INSERT and one bulk UPDATE (Core-speed
    executemany, no ORM objects). Returns how many records were applied."""
    changes: dict[str, dict[str, object]] = {}  # session id -> fields the records set
    phones: dict[str, str] = {}
    for rec in records:
        # From the wire: PostgreSQL refuses NUL in text, and one bad record would lose the batch.
        clean = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in rec.items()}
        session_id = str(clean["session_id"])
        phones.setdefault(session_id, str(clean["phone"]))
        fields = changes.setdefault(session_id, {})
        for key in _SESSION_FIELDS:
            value = clean.get(key)
            if isinstance(value, str) and key.endswith("_at"):
                value = dt.datetime.fromisoformat(value)
            if value is not None:
                fields[key] = value
    table = UssdSessionLog.__table__
    ids = list(changes)
    existing: dict[str, dict[str, object]] = {}
    for start in range(0, len(ids), 1000):
        for row in session.execute(
            select(table).where(table.c.session_id.in_(ids[start : start + 1000]))
        ):
            existing[row.session_id] = dict(row._mapping)
    inserts, updates = [], []
    for session_id, fields in changes.items():
        if session_id in existing:
            updates.append({**existing[session_id], **fields})
        else:
            inserts.append(
                {
                    "session_id": session_id,
                    "phone": phones[session_id],
                    "service_code": None,
                    "network_code": None,
                    "journey": None,
                    "hops": 0,
                    "outcome": "dropped",
                    "provider_status": None,
                    "started_at": utcnow(),
                    "ended_at": None,
                    **fields,
                }
            )
    if inserts:
        session.execute(insert(UssdSessionLog), inserts)
    if updates:
        session.execute(update(UssdSessionLog), updates)  # by primary key ("id")
    return len(records)
