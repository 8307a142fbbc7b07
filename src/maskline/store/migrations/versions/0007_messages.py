"""Messages: who opted out of which number's messages, and the message signatures' nonces
already taken.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opt_outs",
        sa.Column("party", sa.String(length=20), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "virtual_number"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "webhook_nonces",
        sa.Column("account_id", sa.String(length=20), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "nonce"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_webhook_nonces_seen", "webhook_nonces", ["seen"])


def downgrade() -> None:
    op.drop_index("ix_webhook_nonces_seen", table_name="webhook_nonces")
    op.drop_table("webhook_nonces")
    op.drop_table("opt_outs")
