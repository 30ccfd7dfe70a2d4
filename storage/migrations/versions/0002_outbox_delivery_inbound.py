"""outbox delivery and inbound

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:51:42.218285
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("failure_reason", sa.String(length=60), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_reports")),
        sa.UniqueConstraint(
            "provider_message_id", "status", name=op.f("uq_delivery_reports_provider_message_id")
        ),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("text", sa.String(length=480), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("provider_id", name=op.f("uq_inbound_messages_provider_id")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_messages_sender"), ["sender"], unique=False)

    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["village_visits.id"], name=op.f("fk_broadcasts_visit_id_village_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        # Existing rows (written by the USSD journeys before this revision) get defaults.
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("segments", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("provider_status", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("visit_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_status"))
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_broadcast_id"), ["broadcast_id"], unique=False
        )
        batch_op.create_index("ix_outbox_messages_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_messages_visit_id"), ["visit_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_messages_broadcast_id_broadcasts"),
            "broadcasts",
            ["broadcast_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_messages_visit_id_village_visits"),
            "village_visits",
            ["visit_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_messages_visit_id_village_visits"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_messages_broadcast_id_broadcasts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_messages_visit_id"))
        batch_op.drop_index("ix_outbox_messages_status_due")
        batch_op.drop_index(batch_op.f("ix_outbox_messages_broadcast_id"))
        batch_op.create_index(batch_op.f("ix_outbox_messages_status"), ["status"], unique=False)
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("enqueued_at")
        batch_op.drop_column("visit_id")
        batch_op.drop_column("broadcast_id")
        batch_op.drop_column("provider_status")
        batch_op.drop_column("segments")
        batch_op.drop_column("urgent")

    op.drop_table("broadcasts")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_sender"))

    op.drop_table("inbound_messages")
    op.drop_table("delivery_reports")
