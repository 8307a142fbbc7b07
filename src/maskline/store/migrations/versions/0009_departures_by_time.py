"""Departures as a log, keyed by (party, when it left, number): a hold that ends appends a row
where the party's newest ones are, in place of moving one row per (party, number) to its new
time in two indexes. A busy party leaving the numbers it spreads over touched a page of each
index at random on every create; now its departures share the pages its last ones were written
to. What quarantine reads, a party's most recent departures, is a range of the key itself.

Going back keeps each (party, number)'s latest departure.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _departures(name: str, key: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("party", sa.String(length=24), nullable=False),
        sa.Column("virtual_number", sa.String(length=20), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"),
        sqlite_with_rowid=False,
    )


def _swap(key: tuple[str, ...], copy: str) -> None:
    """Rebuild ``departures`` with the primary key ``key``, its rows from ``copy``."""
    _departures("departures_next", key)
    op.execute(f"INSERT INTO departures_next (party, virtual_number, ends_at) {copy}")
    op.drop_table("departures")
    op.rename_table("departures_next", "departures")
    if op.get_bind().dialect.name == "postgresql":  # the key's index keeps its name on PostgreSQL
        op.execute("ALTER INDEX departures_next_pkey RENAME TO departures_pkey")
    op.create_index("ix_departures_ends", "departures", ["ends_at"])


def upgrade() -> None:
    _swap(("party", "ends_at", "virtual_number"), "SELECT party, virtual_number, ends_at FROM departures")


def downgrade() -> None:
    _swap(
        ("party", "virtual_number"),
        "SELECT party, virtual_number, MAX(ends_at) FROM departures GROUP BY party, virtual_number",
    )
    op.create_index("ix_departures_recent", "departures", ["party", "ends_at", "virtual_number"])
