"""What a party left lately, as one range of an index: quarantine reads, on each create, the
numbers the new session's parties left within the late-call horizon, in place of a seek per
(party, number) of a window of the pool.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_departures_recent", "departures", ["party", "ends_at", "virtual_number"])


def downgrade() -> None:
    op.drop_index("ix_departures_recent", table_name="departures")
