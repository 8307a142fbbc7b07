"""Alembic's entry: runs the migrations on the database URL the caller put in the config."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import context
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from maskline.store.schema import metadata

_LOCK = 72_663_001  # an advisory lock: one process migrates a PostgreSQL database at a time


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
        context.run_migrations()


async def _migrate_async(url: str) -> None:
    # asyncpg reads the URL itself, as it does for the server (sslmode, sslrootcert and the other
    # libpq parameters included): SQLAlchemy would pass its query to asyncpg.connect as keyword
    # arguments, which has no sslmode.
    engine = create_async_engine(
        "postgresql+asyncpg://", poolclass=pool.NullPool, async_creator=lambda: asyncpg.connect(url)
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def run() -> None:
    url: str = context.config.attributes["url"]
    if context.is_offline_mode():
        raise SystemExit("maskline migrations run against a database, not offline")
    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as connection:
            _migrate(connection)
        engine.dispose()
    else:
        asyncio.run(_migrate_async(url))


run()
