"""voice call-backs: one row per call the product owes a resident who rang (issue 13)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"  # (re-chained after the revisions merged before it)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("inbound_session_id", sa.String(length=128), nullable=True),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("amount", sa.String(length=24), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("hangup_cause", sa.String(length=40), nullable=True),
        sa.Column("journey", sa.String(length=20), nullable=True),
        sa.Column("last_screen", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_calls")),
        sa.UniqueConstraint("inbound_session_id", name=op.f("uq_voice_calls_inbound_session_id")),
        sa.UniqueConstraint("session_id", name=op.f("uq_voice_calls_session_id")),
    )
    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.create_index("ix_voice_calls_phone_created", ["phone", "created_at"])
        batch_op.create_index("ix_voice_calls_status_due", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("voice_calls")
