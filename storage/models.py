"""The product's tables: SQLAlchemy 2 typed models, portable between SQLite and PostgreSQL.

Privacy (docs/product.md; UU 27/2022): we store the least that serves the resident — a phone number,
village, language, opt-out flag, request numbers and statuses. No names, no NIK, anywhere.
All timestamps are stored in UTC; screens and SMS show Asia/Makassar (WITA).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, QueryableAttribute, mapped_column, relationship

from common.refusals import Refusal, Word

# Stable constraint names, so Alembic diffs are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_length(value: str | None, column: QueryableAttribute[str | None], what: str) -> None:
    """Column sizes are enforced by PostgreSQL but not by SQLite: check them the same on both."""
    limit = column.type.length
    if value is not None and limit is not None and len(value) > limit:
        raise Refusal("{what} is longer than {limit} characters", what=Word(what), limit=limit)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Region(Base):
    """One row of the official Kemendagri list: the regency, a district or a village."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(13), primary_key=True)  # "51.08.09.2010"
    name: Mapped[str] = mapped_column(String(80))
    level: Mapped[str] = mapped_column(String(12))  # kabupaten | kecamatan | desa | kelurahan
    parent_code: Mapped[str | None] = mapped_column(String(13), index=True)


class Resident(Base):
    """A phone number the product has served; remembered so repeat journeys are short."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    village_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    language: Mapped[str] = mapped_column(String(8), default="id")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class DocumentRequest(Base):
    """A request for a civil-registry document, identified by its printed request number."""

    __tablename__ = "document_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # digits + Verhoeff check digit
    doc_type: Mapped[str] = mapped_column(String(24))  # ktp | kk | birth_cert | ...
    applicant_phone: Mapped[str] = mapped_column(String(20), index=True)
    applicant_birth_year: Mapped[int] = mapped_column(Integer)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    status: Mapped[str] = mapped_column(String(16))
    pickup_place: Mapped[str | None] = mapped_column(String(120))
    # Why "perlu dilengkapi", or why a status went back: a code of INCOMPLETE_REASONS
    # (common/request_lifecycle.py, words in the catalogs) or the staff's own words.
    status_reason: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    history: Mapped[list[RequestStatusChange]] = relationship(
        back_populates="request", order_by="RequestStatusChange.id"
    )


class RequestStatusChange(Base):
    """Status history of a document request, one row per change."""

    __tablename__ = "request_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("document_requests.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    pickup_place: Mapped[str | None] = mapped_column(String(120))
    status_reason: Mapped[str | None] = mapped_column(String(60))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[DocumentRequest] = relationship(back_populates="history")


OPEN_BOOKING_STATUSES = ("requested", "scheduled")
_OPEN_BOOKING = text("status IN ('requested', 'scheduled')")


class HomeVisitBooking(Base):
    """A Sidakep request: registry staff come to the resident's home."""

    __tablename__ = "home_visit_bookings"
    __table_args__ = (
        # At most one open booking per phone and service, enforced by the database itself,
        # so two racing sessions cannot both create one.
        Index(
            "uq_home_visit_bookings_open",
            "phone",
            "service",
            unique=True,
            sqlite_where=_OPEN_BOOKING,
            postgresql_where=_OPEN_BOOKING,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    for_whom: Mapped[str] = mapped_column(String(12))  # self | family
    reason: Mapped[str] = mapped_column(String(12))  # storage/vocab.py BOOKING_REASONS
    service: Mapped[str] = mapped_column(String(24))  # ktp | kk | birth_cert | other
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    hamlet: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    team: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


_OPEN_CALLBACK = text("status = 'open'")


class CallbackRequest(Base):
    """A resident asked to be called by staff ("Minta ditelepon petugas"): who, about what,
    when. Staff mark it called or not reached (the console's queue, audited)."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        # One open request per phone: asking twice shows the first.
        Index(
            "uq_callback_requests_open",
            "phone",
            unique=True,
            sqlite_where=_OPEN_CALLBACK,
            postgresql_where=_OPEN_CALLBACK,
        ),
        Index("ix_callback_requests_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    reason: Mapped[str] = mapped_column(String(20))  # storage/vocab.py CALLBACK_REASONS
    language: Mapped[str] = mapped_column(String(8), default="id")
    channel: Mapped[str] = mapped_column(String(8), default="ussd")  # ussd | sms
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | called | not_reached
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    handled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    handled_by: Mapped[str | None] = mapped_column(String(60))


class VillageVisit(Base):
    """A Si Melik visit: the registry team comes to a village on a day."""

    __tablename__ = "village_visits"
    __table_args__ = (Index("ix_village_visits_village_date", "village_code", "visit_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    visit_date: Mapped[dt.date] = mapped_column(Date)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    place: Mapped[str] = mapped_column(String(120))
    bring: Mapped[str | None] = mapped_column(String(240))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ReminderSubscription(Base):
    """A resident asked to hear from us about a village's visits.

    kind "visit_reminder": remind me before this visit (visit_id set).
    kind "visit_published": tell me when a visit to this village is published (visit_id null).
    """

    __tablename__ = "reminder_subscriptions"
    __table_args__ = (UniqueConstraint("phone", "kind", "village_code", "visit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("village_visits.id"))
    language: Mapped[str] = mapped_column(String(8), default="id")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Broadcast(Base):
    """A message to many residents: a published visit, or a text staff wrote."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # visit_published | custom
    audience: Mapped[str] = mapped_column(String(80))  # "village:51.08.09.2010", "all", ...
    body: Mapped[str | None] = mapped_column(Text)  # custom text; visit texts come per language
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("village_visits.id"))
    status: Mapped[str] = mapped_column(String(12), default="planned")  # planned|cancelled
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    send_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


OUTBOX_STATUSES = ("queued", "sending", "sent", "delivered", "failed", "cancelled")


class OutboxMessage(Base):
    """An SMS the product owes a resident, written in the same transaction as its cause.

    queued → sending → sent → delivered | failed (| cancelled). The database is the truth:
    a job only carries ids, and a sweep re-enqueues whatever is due and not done.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    kind: Mapped[str] = mapped_column(String(16))  # notification | reminder | broadcast | reply
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # sent even in quiet hours
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(24))  # last delivery report
    # The provider that accepted it (africastalking, smpp, console): where its reports come
    # from, and what routing between providers will count by.
    provider: Mapped[str | None] = mapped_column(String(24))
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("village_visits.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


_UNMATCHED = text("NOT applied")


class DeliveryReport(Base):
    """Every delivery report received, applied or waiting for its message id to be known (for
    DELIVERY_REPORTS_UNMATCHED_MINUTES; then the sweep drops it and counts it)."""

    __tablename__ = "delivery_reports"
    __table_args__ = (
        UniqueConstraint("provider_message_id", "status"),
        # The reports still waiting, by age: what the sweep looks at every interval.
        Index(
            "ix_delivery_reports_unmatched",
            "received_at",
            sqlite_where=_UNMATCHED,
            postgresql_where=_UNMATCHED,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    failure_reason: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(20))
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InboundMessage(Base):
    """An SMS a resident sent us; the provider's id makes a repeated callback harmless."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(20), index=True)
    text: Mapped[str] = mapped_column(String(480))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UssdSessionLog(Base):
    """One row per USSD session, for analytics. No PII beyond the phone number."""

    __tablename__ = "ussd_session_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    service_code: Mapped[str | None] = mapped_column(String(32))
    network_code: Mapped[str | None] = mapped_column(String(16))
    journey: Mapped[str | None] = mapped_column(String(24))  # first main-menu journey chosen
    hops: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16))  # completed | dropped | resumed
    provider_status: Mapped[str | None] = mapped_column(String(16))  # from /ussd/events
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )  # the dashboard's 14 days
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_screen: Mapped[str | None] = mapped_column(String(40))  # where the caller was last
    simulator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


STAFF_ROLES = ("admin", "staff", "village_officer")


class User(Base):
    """A staff member or village officer who logs in to the console."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | staff | village_officer
    village_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))  # officers
    language: Mapped[str] = mapped_column(String(8), default="id")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Part of what a console session cookie names (id:version): raised when the user logs out,
    # changes their password, or an admin resets it or switches the log-in off, so every
    # cookie made before that is refused.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditEntry(Base):
    """Who did what, when, with the before and after of what changed (JSON)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(60), index=True)  # username, or "cli:<user>"
    action: Mapped[str] = mapped_column(String(40))  # e.g. "visit.publish"
    entity: Mapped[str] = mapped_column(String(40))  # e.g. "village_visit"
    entity_id: Mapped[str | None] = mapped_column(String(40))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Counter(Base):
    """A running total kept across processes and restarts, for /metrics (e.g. the delivery
    reports dropped because no message of ours ever had their id)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class VoiceCall(Base):
    """A call-back the product owes a resident who rang the voice number (issue 13), and what
    became of it. Like the outbox, the row is the truth: a job places the call, a sweep finds
    what is due or stuck.

    queued → calling → answered → completed, or (not answered) → queued again once → no_answer;
    failed when the provider refused it. ``due_at`` is when it may be placed (the end of quiet
    hours, or a retry a few minutes on)."""

    __tablename__ = "voice_calls"
    __table_args__ = (
        Index("ix_voice_calls_status_due", "status", "due_at"),
        Index("ix_voice_calls_phone_created", "phone", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    status: Mapped[str] = mapped_column(String(12), default="queued")
    # The inbound (missed) call's session: a repeated callback queues nothing twice.
    inbound_session_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    # The session of the call we placed (the provider's), matched by its callbacks.
    session_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[str | None] = mapped_column(String(24))  # as the provider reports it
    currency: Mapped[str | None] = mapped_column(String(8))
    hangup_cause: Mapped[str | None] = mapped_column(String(40))
    journey: Mapped[str | None] = mapped_column(String(20))
    last_screen: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
