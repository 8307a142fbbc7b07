"""The scale-out store: PostgreSQL through an asyncpg pool, shared by many processes.

Each unit of work is a transaction of its own on a pooled connection. Rows that background
work takes (the sweep's progress, due events, overdue calls) are locked with SKIP LOCKED, so
every process can run that work and each item is still done once.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TypeVar

import asyncpg

from maskline.store.db import Db, Row
from maskline.store.migrate import require_revision
from maskline.store.sql import SqlStore

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\?")
_RETRIES = 5  # attempts of a unit of work that lost a deadlock or a serialization race


@lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …``."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresDb:
    """The ``Db`` of an asyncpg connection or pool (a pool lends a connection per statement)."""

    __slots__ = ("_on",)

    def __init__(self, on: asyncpg.Connection | asyncpg.Pool) -> None:
        self._on = on

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows: list[Row] = await self._on.fetch(numbered(sql), *args)
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._on.fetchrow(numbered(sql), *args)
        return row

    async def execute(self, sql: str, *args: object) -> None:
        await self._on.execute(numbered(sql), *args)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing. maskline sets no session
    state (no SET, LISTEN or advisory locks outside transactions), and asyncpg rolls back an
    unfinished transaction itself; the default reset would cost a round trip per statement."""


class PostgresStore(SqlStore):
    LOCK = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    JOIN_TEXT = "string_agg"

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(PostgresDb(pool))
        self._connections = pool

    @classmethod
    async def open(cls, url: str, pool_size: int = 10) -> PostgresStore:
        """Connect to the database at ``url``, whose schema must be up to date."""
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=pool_size,
            statement_cache_size=1024,
            command_timeout=60,
            reset=_keep_session,
        )
        try:
            found = await pool.fetchval("SELECT version_num FROM alembic_version")
        except asyncpg.UndefinedTableError:
            found = None
        try:
            require_revision(found)
        except Exception:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._connections.close()

    async def _transact(self, work: Callable[[Db], Awaitable[T]]) -> T:
        for attempt in itertools.count(1):
            try:
                async with self._connections.acquire() as connection, connection.transaction():
                    return await work(PostgresDb(connection))
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == _RETRIES:
                    raise
        raise AssertionError("unreachable")
