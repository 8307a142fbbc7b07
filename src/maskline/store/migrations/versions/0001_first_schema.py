"""The first schema: accounts, numbers, sessions and their allocations, calls, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("auth_id", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.String(length=20), nullable=True),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["accounts.auth_id"],
        ),
        sa.PrimaryKeyConstraint("auth_id"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("session_uuid", sa.String(length=36), nullable=True),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("caller", sa.String(length=20), nullable=False),
        sa.Column("callee", sa.String(length=20), server_default="", nullable=False),
        sa.Column("caller_is_first", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("pin_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("answered", sa.BigInteger(), nullable=True),
        sa.Column("ended", sa.BigInteger(), nullable=True),
        sa.Column("a_leg", sa.Text(), server_default="", nullable=False),
        sa.Column("b_leg", sa.Text(), server_default="", nullable=False),
        sa.Column("a_status", sa.String(length=32), server_default="", nullable=False),
        sa.Column("b_status", sa.String(length=32), server_default="", nullable=False),
        sa.Column("recording_url", sa.Text(), server_default="", nullable=False),
        sa.Column("duration", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("billed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_calls_live_deadline",
        "calls",
        ["deadline"],
        unique=False,
        sqlite_where=sa.text("state IN ('dialling', 'bridged')"),
        postgresql_where=sa.text("state IN ('dialling', 'bridged')"),
    )
    op.create_index("ix_calls_session", "calls", ["session_uuid"], unique=False)
    op.create_index("ix_calls_started", "calls", ["started"], unique=False)
    op.create_index("ux_calls_call_id", "calls", ["account_id", "call_id"], unique=True)

    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.String(length=20), nullable=False),
        sa.Column("session_uuid", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("dedup", sa.String(length=64), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup"),
    )
    op.create_index("ix_events_created", "events", ["created"], unique=False)
    op.create_index(
        "ix_events_due",
        "events",
        ["next_attempt"],
        unique=False,
        sqlite_where=sa.text("pending"),
        postgresql_where=sa.text("pending"),
    )
    op.create_index("ux_events_sequence", "events", ["session_uuid", "sequence"], unique=True)

    op.create_table(
        "carriers",
        sa.Column("account_id", sa.String(length=20), nullable=False),
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("auth_token", sa.Text(), nullable=False),
        sa.Column("carrier_auth_id", sa.String(length=64), nullable=False),
        sa.Column("public_url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.auth_id"],
        ),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("main_id", sa.String(length=20), nullable=False),
        sa.Column("pool_id", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("last_used", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["main_id"],
            ["accounts.auth_id"],
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["accounts.auth_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_numbers_pool", "numbers", ["pool_id", "state", "country"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=20), nullable=False),
        sa.Column("main_id", sa.String(length=20), nullable=False),
        sa.Column("first_party", sa.String(length=20), nullable=False),
        sa.Column("second_party", sa.String(length=20), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("cooloff_until", sa.BigInteger(), nullable=False),
        sa.Column("calls_live", sa.Integer(), nullable=False),
        sa.Column("total_call_count", sa.Integer(), nullable=False),
        sa.Column("total_call_billed_duration", sa.Integer(), nullable=False),
        sa.Column("last_interaction", sa.BigInteger(), nullable=True),
        sa.Column("last_counterpart", sa.String(length=20), server_default="", nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("pin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("prompt", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.auth_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_sessions_expiry", "sessions", ["expiry"], unique=False)
    op.create_index("ix_sessions_main_created", "sessions", ["main_id", "created"], unique=False)
    op.create_index("ix_sessions_number_end", "sessions", ["virtual_number", "cooloff_until"], unique=False)
    op.create_index(
        "ix_sessions_pin",
        "sessions",
        ["virtual_number", "expiry"],
        unique=False,
        sqlite_where=sa.text("pin"),
        postgresql_where=sa.text("pin"),
    )
    op.create_index(
        "ix_sessions_prompt",
        "sessions",
        ["virtual_number", "created"],
        unique=False,
        sqlite_where=sa.text("prompt"),
        postgresql_where=sa.text("prompt"),
    )

    op.create_table(
        "allocations",
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("party", sa.String(length=24), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("hold_until", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
        ),
        sa.PrimaryKeyConstraint("session_id", "party"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ux_allocations_held",
        "allocations",
        ["party", "virtual_number"],
        unique=True,
        sqlite_where=sa.text("held"),
        postgresql_where=sa.text("held"),
    )

    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counters, [{"name": "numbers", "value": 0}, {"name": "swept_until", "value": 0}])


def downgrade() -> None:
    for table in (
        "allocations",
        "sessions",
        "numbers",
        "carriers",
        "events",
        "counters",
        "calls",
        "accounts",
    ):
        op.drop_table(table)
