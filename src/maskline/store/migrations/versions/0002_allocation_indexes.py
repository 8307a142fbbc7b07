"""Indexes for allocation: a party's holds read from the index alone, and when each party last
left each number (for the quarantine policy).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_allocations_holds", "allocations", ["party", "held", "hold_until", "virtual_number"])
    op.create_index("ix_allocations_party", "allocations", ["party", "virtual_number", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_allocations_party", table_name="allocations")
    op.drop_index("ix_allocations_holds", table_name="allocations")
