"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 07:28:12.837402
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_provider_message_id"),
            ["provider_message_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_recipient"), ["recipient"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_messages_status"), ["status"], unique=False)

    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=13), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("parent_code", sa.String(length=13), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    with op.batch_alter_table("regions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regions_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "ussd_session_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=True),
        sa.Column("network_code", sa.String(length=16), nullable=True),
        sa.Column("journey", sa.String(length=24), nullable=True),
        sa.Column("hops", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("provider_status", sa.String(length=16), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ussd_session_logs")),
        sa.UniqueConstraint("session_id", name=op.f("uq_ussd_session_logs_session_id")),
    )
    with op.batch_alter_table("ussd_session_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ussd_session_logs_phone"), ["phone"], unique=False)

    op.create_table(
        "document_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("doc_type", sa.String(length=24), nullable=False),
        sa.Column("applicant_phone", sa.String(length=20), nullable=False),
        sa.Column("applicant_birth_year", sa.Integer(), nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pickup_place", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_code"],
            ["regions.code"],
            name=op.f("fk_document_requests_village_code_regions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_requests")),
        sa.UniqueConstraint("number", name=op.f("uq_document_requests_number")),
    )
    with op.batch_alter_table("document_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_requests_applicant_phone"), ["applicant_phone"], unique=False
        )

    op.create_table(
        "home_visit_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("for_whom", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("service", sa.String(length=24), nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=False),
        sa.Column("hamlet", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("team", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_code"],
            ["regions.code"],
            name=op.f("fk_home_visit_bookings_village_code_regions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_home_visit_bookings")),
        sa.UniqueConstraint("number", name=op.f("uq_home_visit_bookings_number")),
    )
    with op.batch_alter_table("home_visit_bookings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_home_visit_bookings_phone"), ["phone"], unique=False)
        batch_op.create_index(
            "uq_home_visit_bookings_open",
            ["phone", "service"],
            unique=True,
            sqlite_where=sa.text("status IN ('requested', 'scheduled')"),
            postgresql_where=sa.text("status IN ('requested', 'scheduled')"),
        )

    op.create_table(
        "residents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_code"], ["regions.code"], name=op.f("fk_residents_village_code_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("phone", name=op.f("uq_residents_phone")),
    )
    op.create_table(
        "village_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("place", sa.String(length=120), nullable=False),
        sa.Column("bring", sa.String(length=240), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_code"], ["regions.code"], name=op.f("fk_village_visits_village_code_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_visits")),
    )
    with op.batch_alter_table("village_visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_village_visits_village_date", ["village_code", "visit_date"], unique=False
        )

    op.create_table(
        "reminder_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_code"],
            ["regions.code"],
            name=op.f("fk_reminder_subscriptions_village_code_regions"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["village_visits.id"],
            name=op.f("fk_reminder_subscriptions_visit_id_village_visits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_subscriptions")),
        sa.UniqueConstraint(
            "phone",
            "kind",
            "village_code",
            "visit_id",
            name=op.f("uq_reminder_subscriptions_phone"),
        ),
    )
    with op.batch_alter_table("reminder_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminder_subscriptions_phone"), ["phone"], unique=False
        )

    op.create_table(
        "request_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pickup_place", sa.String(length=120), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["document_requests.id"],
            name=op.f("fk_request_status_changes_request_id_document_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_status_changes")),
    )
    with op.batch_alter_table("request_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_status_changes_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("request_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_status_changes_request_id"))

    op.drop_table("request_status_changes")
    with op.batch_alter_table("reminder_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_subscriptions_phone"))

    op.drop_table("reminder_subscriptions")
    with op.batch_alter_table("village_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_village_visits_village_date")

    op.drop_table("village_visits")
    op.drop_table("residents")
    with op.batch_alter_table("home_visit_bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_home_visit_bookings_open",
            sqlite_where=sa.text("status IN ('requested', 'scheduled')"),
            postgresql_where=sa.text("status IN ('requested', 'scheduled')"),
        )
        batch_op.drop_index(batch_op.f("ix_home_visit_bookings_phone"))

    op.drop_table("home_visit_bookings")
    with op.batch_alter_table("document_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_requests_applicant_phone"))

    op.drop_table("document_requests")
    with op.batch_alter_table("ussd_session_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ussd_session_logs_phone"))

    op.drop_table("ussd_session_logs")
    with op.batch_alter_table("regions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regions_parent_code"))

    op.drop_table("regions")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_recipient"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_provider_message_id"))

    op.drop_table("outbox_messages")
