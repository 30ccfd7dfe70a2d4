"""callback_requests: residents who asked to be called by staff ("Minta ditelepon petugas")

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 17:00:00.000000

Written by hand (issue 11). One open request per phone (a partial unique index, like the open
home-visit bookings); the queue is read by status and age. Nothing else changes: the new
home-visit reasons ("poor", "new_ktp_age") fit the existing column, and the Si Melik forms
deadline is computed from VISIT_FORMS_DAYS_BEFORE, not stored per visit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_by", sa.String(length=60), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
    )
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_requests_phone"), ["phone"], unique=False)
        batch_op.create_index(
            "ix_callback_requests_status_created", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_callback_requests_open",
            ["phone"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index("uq_callback_requests_open")
        batch_op.drop_index("ix_callback_requests_status_created")
        batch_op.drop_index(batch_op.f("ix_callback_requests_phone"))
    op.drop_table("callback_requests")
