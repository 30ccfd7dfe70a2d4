"""The SQL of storage/ written by hand: one INSERT per table the USSD hop writes, and the
statements built from them. Everything else is built with SQLAlchemy.

Why by hand: these INSERTs may conflict (a message's dedupe key, a phone's open booking, a
resident already known), and SQLAlchemy does not cache its ``on_conflict_do_nothing()``
constructs: each run would compile them again, on the hop's CPU budget. ``text()`` statements
are compiled once; typed parameters store dates as the ORM stores them; PostgreSQL and SQLite
(3.24+) read them alike.

Each table's INSERT is written once, as a function of where its rows come from: one row of
parameters (``VALUES``), arrays unnested (many rows, PostgreSQL), or the rows of a CTE. Every
path that writes these tables goes through it -- ORM sessions too (``session.execute``) -- so a
column added to a table is added here, once. A ``SELECT`` given as rows must have a ``WHERE``
clause: without one SQLite reads ``ON CONFLICT`` as part of a join.

The ``*_WITH_*`` statements are PostgreSQL's one-statement forms of a hop's writes
(data-modifying CTEs): one round trip alone in autocommit, where SQLite runs the parts in a
transaction (storage/hop.py chooses).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, Boolean, DateTime, String, bindparam, text

from storage.models import OPEN_BOOKING_STATUSES

_WHEN = DateTime(timezone=True)


def _typed(*names: str) -> list[BindParameter[Any]]:
    """String parameters told their type: PostgreSQL must know it for a parameter it meets in
    two places, or in a select list."""
    return [bindparam(name, type_=String()) for name in names]


# --- outbox_messages ---------------------------------------------------------------------------

OUTBOX_COLUMNS = (
    "recipient",
    "kind",
    "urgent",
    "body",
    "segments",
    "dedupe_key",
    "status",
    "due_at",
    "attempts",
    "broadcast_id",
    "visit_id",
    "created_at",
)


def _into_outbox(rows: str) -> str:
    """The outbox's INSERT: ``rows`` gives OUTBOX_COLUMNS in order. A message whose dedupe key
    was written before is skipped: writing the same promise twice is harmless."""
    return (
        f"INSERT INTO outbox_messages ({', '.join(OUTBOX_COLUMNS)}) {rows}"
        " ON CONFLICT (dedupe_key) DO NOTHING"
    )


# One message (storage.outbox.add), or many by executemany (SQLite's add_many).
ADD_MESSAGE = text(
    _into_outbox(
        "VALUES (:recipient, :kind, :urgent, :body, :segments, :dedupe_key, 'queued', :due_at, 0,"
        " :broadcast_id, :visit_id, :created_at)"
    )
).bindparams(
    bindparam("urgent", type_=Boolean()),
    bindparam("due_at", type_=_WHEN),
    bindparam("created_at", type_=_WHEN),
)

# Many messages on PostgreSQL: one short statement, one array per column (a multi-row VALUES of
# that size costs the driver more to parse than the database to insert).
MESSAGE_ARRAYS = {
    "recipient": "varchar[]",
    "kind": "varchar[]",
    "urgent": "boolean[]",
    "body": "text[]",
    "segments": "integer[]",
    "dedupe_key": "varchar[]",
    "due_at": "timestamptz[]",
    "broadcast_id": "integer[]",
    "visit_id": "integer[]",
}
ADD_MESSAGES = text(
    _into_outbox(
        "SELECT m.recipient, m.kind, m.urgent, m.body, m.segments, m.dedupe_key, 'queued',"
        " m.due_at, 0, m.broadcast_id, m.visit_id, :created_at FROM unnest("
        + ", ".join(f"CAST(:{column} AS {kind})" for column, kind in MESSAGE_ARRAYS.items())
        + f") AS m({', '.join(MESSAGE_ARRAYS)}) WHERE true"
    )
).bindparams(bindparam("created_at", type_=_WHEN))

# Many messages marked sent at once, PostgreSQL (the sender's batch).
MARK_SENT_MANY = text(
    "UPDATE outbox_messages AS m SET status = 'sent', provider_message_id = v.pid,"
    " sent_at = :now, last_error = NULL, provider = :provider"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:pids AS varchar[])) AS v(id, pid)"
    " WHERE m.id = v.id"
).bindparams(bindparam("now", type_=_WHEN), *_typed("provider"))


# --- residents ---------------------------------------------------------------------------------

# Create the resident if new, else change only the fields given (a NULL parameter keeps what is
# stored): the hop's "remember my language / village", the console's and CLI's upserts.
UPSERT_RESIDENT = text(
    "INSERT INTO residents (phone, village_code, language, opted_out, created_at, updated_at)"
    " VALUES (:phone, :village_code, coalesce(:language, 'id'), false, :now, :now)"
    " ON CONFLICT (phone) DO UPDATE SET"
    " village_code = coalesce(:village_code, residents.village_code),"
    " language = coalesce(:language, residents.language), updated_at = :now"
).bindparams(
    bindparam("now", type_=_WHEN),
    *_typed("phone", "village_code", "language"),
)


# --- reminder_subscriptions --------------------------------------------------------------------


def _into_subscriptions(rows: str, then: str = "") -> str:
    """A visit's subscription is unique by constraint (the conflict skips it); a village's has
    no visit id, and NULLs never collide in a unique constraint: its rows look first."""
    return (
        "INSERT INTO reminder_subscriptions (phone, kind, village_code, visit_id, language,"
        f" created_at) {rows} ON CONFLICT DO NOTHING{then}"
    )


_SUBSCRIPTION = "VALUES (:phone, :kind, :village_code, :visit_id, :language, :now)"

SUBSCRIBE_TO_VISIT = text(_into_subscriptions(_SUBSCRIPTION)).bindparams(
    bindparam("now", type_=_WHEN)
)
SUBSCRIBE_TO_VILLAGE = text(
    _into_subscriptions(
        "SELECT :phone, :kind, :village_code, NULL, :language, :now WHERE NOT EXISTS (SELECT 1"
        " FROM reminder_subscriptions WHERE phone = :phone AND kind = :kind"
        " AND village_code = :village_code AND visit_id IS NULL)"
    )
).bindparams(bindparam("now", type_=_WHEN), *_typed("phone", "kind", "village_code", "language"))

# A "remind me" subscription and, if it is new and the visit is still as read (same stamp, not
# cancelled), its reminders. Returns whether it was new and whether the visit was unchanged.
SUBSCRIBE_WITH_REMINDERS = text(
    f"WITH subscribed AS ({_into_subscriptions(_SUBSCRIPTION, ' RETURNING id')}),"
    " unchanged AS (SELECT 1 FROM village_visits WHERE id = :visit_id AND NOT cancelled"
    " AND coalesce(updated_at, created_at) = :stamp),"
    " planned AS ("
    + _into_outbox(
        "SELECT :phone, 'reminder', false, m.body, m.segments, m.dedupe_key, 'queued', m.due_at,"
        " 0, CAST(NULL AS integer), :visit_id, :now FROM unnest(CAST(:bodies AS text[]),"
        " CAST(:segments AS integer[]), CAST(:keys AS varchar[]), CAST(:dues AS timestamptz[]))"
        " AS m(body, segments, dedupe_key, due_at) WHERE EXISTS (SELECT 1 FROM subscribed)"
        " AND EXISTS (SELECT 1 FROM unchanged)"
    )
    + ") SELECT EXISTS (SELECT 1 FROM subscribed) AS new,"
    " EXISTS (SELECT 1 FROM unchanged) AS unchanged"
).bindparams(
    bindparam("now", type_=_WHEN),
    bindparam("stamp", type_=_WHEN),
    *_typed("phone", "kind", "village_code", "language"),
)


# --- home_visit_bookings -----------------------------------------------------------------------


def _into_bookings(rows: str, then: str = "") -> str:
    """With no conflict target the INSERT yields to both unique indexes: the open booking of
    this phone and service (partial), and the number."""
    return (
        "INSERT INTO home_visit_bookings (number, phone, for_whom, reason, service,"
        f" village_code, hamlet, status, created_at, updated_at) {rows}"
        f" ON CONFLICT DO NOTHING{then}"
    )


_BOOKING = (
    "VALUES (:number, :phone, :for_whom, :reason, :service, :village_code, :hamlet,"
    " 'requested', :now, :now)"
)

ADD_BOOKING = text(_into_bookings(_BOOKING)).bindparams(bindparam("now", type_=_WHEN))

# The new booking and its confirmation SMS; if the INSERT was refused, the open booking it
# collided with (as seen when the statement began). Rows: number, status, scheduled_for, created.
BOOK_WITH_SMS = text(
    f"WITH booked AS ({_into_bookings(_BOOKING, ' RETURNING number')}),"
    " confirmation AS ("
    + _into_outbox(
        "SELECT :phone, 'notification', true, :body, :segments, :dedupe_key, 'queued', :now, 0,"
        " CAST(NULL AS integer), CAST(NULL AS integer), :now FROM booked WHERE true"
    )
    + ") SELECT number, 'requested' AS status, CAST(NULL AS timestamptz) AS scheduled_for,"
    " true AS created FROM booked"
    " UNION ALL SELECT number, status, scheduled_for, false FROM home_visit_bookings"
    " WHERE phone = :phone AND service = :service AND status IN ("
    + ", ".join(f"'{status}'" for status in OPEN_BOOKING_STATUSES)
    + ") AND NOT EXISTS (SELECT 1 FROM booked)"
).bindparams(bindparam("now", type_=_WHEN), *_typed("phone", "service"))


# --- counters ----------------------------------------------------------------------------------

# A running total grows by :amount (the row is made the first time).
ADD_TO_COUNTER = text(
    "INSERT INTO counters (name, value) VALUES (:name, :amount)"
    " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value"
)
