"""users.session_version: console sessions that can be ended

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 09:00:00.000000

Written by hand. A console session cookie names the user's id and this number; raising it
ends every session made before. Existing users start at 0, so sessions open at deploy time
end once (their cookie names no version) and their users log in again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NOT NULL with a server default: PostgreSQL fills existing rows in the ALTER itself;
    # SQLite (batch mode) copies the table with the default applied.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
