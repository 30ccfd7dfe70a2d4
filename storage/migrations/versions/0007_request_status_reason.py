"""a request's status reason; the USSD session log's last screen and simulator flag

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:30:00.000000

(0006 is another branch's; the two are chained when they are merged.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=60), nullable=True))
    with op.batch_alter_table("request_status_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=60), nullable=True))
    with op.batch_alter_table("ussd_session_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_screen", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("simulator", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_ussd_session_logs_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ussd_session_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ussd_session_logs_started_at"))
        batch_op.drop_column("simulator")
        batch_op.drop_column("last_screen")
    with op.batch_alter_table("request_status_changes", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
    with op.batch_alter_table("document_requests", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
