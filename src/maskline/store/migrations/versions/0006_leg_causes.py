"""Why the dialled leg ended, in the carrier's words, and the calls of each number in a window
of time, one range of an index: what the number health report counts.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("b_cause", sa.String(length=40), server_default="", nullable=False))
    op.create_index("ix_calls_number_started", "calls", ["virtual_number", "started"])


def downgrade() -> None:
    op.drop_index("ix_calls_number_started", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("b_cause")
