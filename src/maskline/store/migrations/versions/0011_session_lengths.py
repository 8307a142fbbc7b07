"""How long an account's sessions last, as one range of an index: when quarantine must give a
party a number it left lately, it weighs each late call by how many of the account's most
recently ended sessions lasted past it.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sessions_pool_end", "sessions", ["account_id", "expiry", "id"])


def downgrade() -> None:
    op.drop_index("ix_sessions_pool_end", table_name="sessions")
