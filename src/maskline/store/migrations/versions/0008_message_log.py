"""Messages as interactions: a row per text relayed through a session or sent into it, and each
session's count of them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("message_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("session_uuid", sa.String(length=36), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("from_party", sa.String(length=16), nullable=False),
        sa.Column("to_party", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("media", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_messages_message_id", "messages", ["account_id", "message_id"], unique=True)
    op.create_index("ix_messages_session", "messages", ["session_uuid"])


def downgrade() -> None:
    op.drop_index("ix_messages_session", table_name="messages")
    op.drop_index("ux_messages_message_id", table_name="messages")
    op.drop_table("messages")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("message_count")
