"""The operator console: its sign-ins, the secret its cookies are signed with, and the record of
revealed numbers.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("auth_id", sa.String(length=20), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_console_sessions_last_seen", "console_sessions", ["last_seen"])
    op.create_table(
        "console_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "console_reveals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("auth_id", sa.String(length=20), nullable=False),
        sa.Column("session_uuid", sa.String(length=36), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_reveals_at", "console_reveals", ["at"])


def downgrade() -> None:
    op.drop_index("ix_console_reveals_at", table_name="console_reveals")
    op.drop_table("console_reveals")
    op.drop_table("console_secrets")
    op.drop_index("ix_console_sessions_last_seen", table_name="console_sessions")
    op.drop_table("console_sessions")
