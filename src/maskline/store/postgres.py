"""The scale-out store: PostgreSQL through an asyncpg pool, shared by many processes.

Each unit of work is a transaction of its own on a pooled connection. Rows that background
work takes (the sweep's progress, due events, overdue calls) are locked with SKIP LOCKED, so
every process can run that work and each item is still done once.

While the database cannot be reached, every call fails within the connection timeout with
``StoreUnavailable``, whatever asyncpg raised (see ``_UNREACHABLE``). The pool drops a connection
that was cut when it is handed back, and connects again when one is next asked for, so the
store serves again by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import asyncpg

from maskline.domain.ports import StoreUnavailable
from maskline.store.db import Db, Row
from maskline.store.migrate import require_revision
from maskline.store.sql import SqlStore

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # What a unit of work runs on: a connection, or the pool's stand-in for one.
    Connection = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\?")
_RETRIES = 5  # attempts of a unit of work that lost a deadlock or a serialization race

# What asyncpg raises when the database cannot be reached (and see ``_cut``): the connection
# refused, reset or timed out (OSError, TimeoutError included), cut in the middle of a statement
# (class 08), or the server shutting down, crashed or starting (57P01-57P03). Not
# QueryCanceledError (57014), the other error of class 57: a statement cancelled is no outage.
_UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def _cut(error: asyncpg.InterfaceError, connection: Connection) -> bool:
    """Whether ``error``, raised while ``connection`` was lent to us, says that the connection
    was cut: asyncpg raises a plain ``InterfaceError`` when a transaction cut by an outage rolls
    back, or a statement runs on the connection after it was cut. Its subclasses (bad arguments
    and the like) are mistakes, not outages."""
    if type(error) is not asyncpg.InterfaceError:
        return False
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:  # handed back to the pool while still lent: it was closed
        return True


def _unavailable(error: BaseException) -> StoreUnavailable:
    if isinstance(error.__context__, _UNREACHABLE):  # a cut transaction's rollback: say why
        error = error.__context__
    if type(error) is TimeoutError and not str(error):  # asyncio.timeout's, around an acquire
        return StoreUnavailable(
            "no connection within MASKLINE_DB_TIMEOUT (none could be made, or all were busy)"
        )
    return StoreUnavailable(f"{type(error).__name__}: {error}")


@lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …``."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresDb:
    """The ``Db`` of one asyncpg connection: a unit of work's."""

    __slots__ = ("_on",)

    def __init__(self, on: Connection) -> None:
        self._on = on

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        # A Record is a row: indexed by position, sliced, and of a length.
        return cast(list[Row], await self._on.fetch(numbered(sql), *args))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        return cast(Row | None, await self._on.fetchrow(numbered(sql), *args))

    async def execute(self, sql: str, *args: object) -> None:
        await self._on.execute(numbered(sql), *args)


class PooledDb:
    """The ``Db`` of reads outside a unit of work: each on a connection from the pool, waited
    for at most ``timeout`` seconds (connecting included)."""

    __slots__ = ("_pool", "_timeout")

    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def _call(self, method: str, sql: str, args: tuple[object, ...]) -> Any:
        pool = self._pool
        try:
            # asyncio.timeout, not acquire(timeout=...): that one runs each acquire as a task.
            async with asyncio.timeout(self._timeout):
                connection = await pool.acquire()
            try:
                return await getattr(connection, method)(numbered(sql), *args)
            except asyncpg.InterfaceError as error:
                if _cut(error, connection):
                    raise _unavailable(error) from error
                raise
            finally:
                await pool.release(connection)
        except _UNREACHABLE as error:
            raise _unavailable(error) from error

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows: list[Row] = await self._call("fetch", sql, args)
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._call("fetchrow", sql, args)
        return row

    async def execute(self, sql: str, *args: object) -> None:
        await self._call("execute", sql, args)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing. maskline sets no session
    state (no SET, LISTEN or advisory locks outside transactions), and asyncpg rolls back an
    unfinished transaction itself; the default reset would cost a round trip per statement."""


class PostgresStore(SqlStore):
    LOCK = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    JOIN_TEXT = "string_agg"
    SHARE = " FOR SHARE"

    def __init__(self, pool: asyncpg.Pool, timeout: float = 5.0) -> None:
        super().__init__(PooledDb(pool, timeout))
        self._connections = pool
        self._timeout = timeout  # seconds to wait for a connection, connecting included

    @classmethod
    async def open(cls, url: str, pool_size: int = 10, timeout: float = 5.0) -> PostgresStore:
        """Connect to the database at ``url``, whose schema must be up to date. A request waits
        at most ``timeout`` seconds for a connection (a new one's included), so that requests
        are refused quickly while the database cannot be reached instead of piling up."""
        pool = await asyncpg.create_pool(
            url,
            # No floor of idle connections: asyncpg's upkeep of one logs a traceback at each
            # retry while the database is down. Connections are made when asked for.
            min_size=0,
            max_size=pool_size,
            statement_cache_size=1024,
            command_timeout=60,
            timeout=timeout,  # of connecting
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
        return cls(pool, timeout)

    async def close(self) -> None:
        await self._connections.close()

    async def transact(self, work: Callable[[Db], Awaitable[T]]) -> T:
        pool = self._connections
        for attempt in itertools.count(1):
            try:
                async with asyncio.timeout(self._timeout):
                    connection = await pool.acquire()
                try:
                    async with connection.transaction():
                        return await work(PostgresDb(connection))
                except asyncpg.InterfaceError as error:
                    if _cut(error, connection):
                        raise _unavailable(error) from error
                    raise
                finally:
                    await pool.release(connection)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == _RETRIES:
                    raise
            except _UNREACHABLE as error:
                raise _unavailable(error) from error
        raise AssertionError("unreachable")
