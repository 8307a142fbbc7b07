"""Holds in place of allocation rows: a create wrote each key's row to the table and to two
indexes, all keyed at random by phone number. ``holds`` keeps only the rows still held, keyed by
(party, number), so that one entry per key is both the guard and what a party holds; when a
hold ends, when the party left the number goes to ``departures``, which the quarantine policy
reads, and which the purge trims. A fifth to a third less SQL time per create
(benchmarks/create_sql.py).

Going back keeps the holds and loses the departures (quarantine then takes those numbers for
never used).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("party", sa.String(length=24), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("session_id", _ROW_ID, nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("hold_until", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("party", "virtual_number"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_holds_session", "holds", ["session_id"])
    op.create_table(
        "departures",
        sa.Column("party", sa.String(length=24), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "virtual_number"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_departures_ends", "departures", ["ends_at"])
    op.execute(
        "INSERT INTO holds (party, virtual_number, session_id, ends_at, hold_until)"
        " SELECT party, virtual_number, session_id, ends_at, hold_until FROM allocations WHERE held"
    )
    op.execute(
        "INSERT INTO departures (party, virtual_number, ends_at)"
        " SELECT party, virtual_number, MAX(ends_at) FROM allocations WHERE NOT held"
        " GROUP BY party, virtual_number"
    )
    op.drop_table("allocations")


def downgrade() -> None:
    op.create_table(
        "allocations",
        sa.Column("session_id", _ROW_ID, nullable=False),
        sa.Column("party", sa.String(length=24), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("hold_until", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
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
    op.create_index(
        "ix_allocations_by_party", "allocations", ["party", "held", "virtual_number", "ends_at", "hold_until"]
    )
    op.execute(
        "INSERT INTO allocations (session_id, party, virtual_number, held, ends_at, hold_until)"
        " SELECT session_id, party, virtual_number, TRUE, ends_at, hold_until FROM holds"
    )
    op.drop_table("departures")
    op.drop_table("holds")
