"""The embedded store: stdlib sqlite3, one connection, called on the event loop.

The driver never suspends, so a transaction never interleaves with another request;
``BEGIN IMMEDIATE`` takes the write lock up front (decisions/stack.md §3.1). One process only:
several processes on one file would stall each other's event loops on the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from maskline.domain.ports import StoreUnavailable
from maskline.store.db import Db, Row
from maskline.store.sql import SqlStore

T = TypeVar("T")

# SQLite's primary result codes that say the database cannot be used now, rather than that a
# statement is wrong: another process held the write lock past the busy timeout, or the disk
# failed, filled up or went away.
_UNAVAILABLE = frozenset(
    (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    )
)


def _unavailable(error: sqlite3.Error) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _UNAVAILABLE


def _outage(error: sqlite3.Error) -> StoreUnavailable:
    return StoreUnavailable(f"{type(error).__name__}: {error} ({getattr(error, 'sqlite_errorname', '')})")


class SQLiteDb:
    """The ``Db`` of one sqlite3 connection: every call runs to completion, never suspending."""

    __slots__ = ("_db",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as error:
            if _unavailable(error):
                raise _outage(error) from error
            raise

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        try:
            row: Row | None = self._db.execute(sql, args).fetchone()
        except sqlite3.Error as error:
            if _unavailable(error):
                raise _outage(error) from error
            raise
        return row

    async def execute(self, sql: str, *args: object) -> None:
        try:
            self._db.execute(sql, args)
        except sqlite3.Error as error:
            if _unavailable(error):
                raise _outage(error) from error
            raise


class SQLiteStore(SqlStore):
    def __init__(self, connection: sqlite3.Connection, path: str, durable: bool = True) -> None:
        self._reports = _ReportDb(path)
        super().__init__(SQLiteDb(connection), self._reports)
        self._db = connection
        self._checkpointer = _Checkpointer(path)
        self._group: asyncio.Future[None] | None = None
        self._group_commit: asyncio.Handle | None = None  # the scheduled _commit_group
        self._syncer = _Syncer(path + "-wal") if durable else None

    @classmethod
    def open(cls, path: str, durable: bool = True) -> SQLiteStore:
        """Open the database at ``path``, whose schema must be up to date (``migrate``).

        ``durable``: a commit returns only once the write-ahead log holding it is on disk, so an
        answered write survives power loss; without it, only a crash of the process.
        """
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            # Commits write the log without waiting for the disk; durable stores sync it off the
            # event loop before answering (_Syncer), which serves more than synchronous=FULL.
            "synchronous=NORMAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
            "cache_size=-65536",
            # Checkpoints (and their fsync) run on the checkpointer's thread, not on requests.
            "wal_autocheckpoint=0",
            f"journal_size_limit={WAL_LIMIT}",  # a log that started over is cut back to this
        ):
            db.execute(f"PRAGMA {pragma}")
        return cls(db, path, durable)

    async def close(self) -> None:
        group = self._group
        if group is not None:
            # A group still to commit: its units have run (some may have failed and been rolled
            # back) and wait for it. It commits now, not on a later turn on a closed connection.
            assert self._group_commit is not None
            self._group_commit.cancel()
            self._commit_group()
            with contextlib.suppress(Exception):  # its units are told of a failure themselves
                await asyncio.shield(group)
        self._checkpointer.stop()
        self._reports.close()
        if self._syncer is not None:
            self._syncer.close()
        self._db.close()

    # Group commit: the writes of every request that runs before the event loop's next turn
    # share one transaction; each request's writes are a savepoint of it, and a request is
    # answered only once the whole group has committed (and, when durable, is on disk). This
    # shares one COMMIT, and the pages it writes, among concurrent requests. The SQLite driver
    # never suspends, so a unit runs from its BEGIN or SAVEPOINT to its RELEASE without another
    # request in between.
    async def transact(self, work: Callable[[Db], Awaitable[T]]) -> T:
        try:
            with self._unit():
                result = await work(self.read)
            if self._group is not None:
                await asyncio.shield(self._group)
        except sqlite3.Error as error:  # taking the write lock, or the group's commit
            if _unavailable(error):
                raise _outage(error) from error
            raise
        return result

    @contextmanager
    def _unit(self) -> Iterator[None]:
        db = self._db
        if self._group is None:
            db.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self._group = loop.create_future()
            self._group.add_done_callback(_retrieve)
            self._group_commit = loop.call_soon(self._commit_group)
        db.execute("SAVEPOINT unit")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK TO unit")
            db.execute("RELEASE unit")
            raise
        db.execute("RELEASE unit")

    def _commit_group(self) -> None:
        group, self._group, self._group_commit = self._group, None, None
        assert group is not None
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            group.set_exception(error)
        else:
            if self._syncer is None:
                group.set_result(None)
            else:
                self._syncer.after(group)


class _Syncer:
    """Syncs the write-ahead log to disk from a thread of its own, and only then lets the groups
    committed before the sync answer. The event loop goes on meanwhile, and one sync covers
    every group that committed while the one before it ran.

    A commit has written its frames to the log, so syncing the log makes it durable; a log whose
    tail did not reach the disk is cut at its first frame with a bad checksum when the database
    is opened again, so what is recovered is always a prefix of what was committed. A failed
    sync is final: the kernel may have dropped the pages it could not write and report the next
    sync as a success, so nothing committed after it is acknowledged until the process restarts
    and SQLite recovers the log.
    """

    def __init__(self, wal: str) -> None:
        self._wal = wal
        self._fd: int | None = None
        self._waiting: list[asyncio.Future[None]] = []
        self._syncing = False
        self._failed: StoreUnavailable | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-sync")

    def after(self, group: asyncio.Future[None]) -> None:
        if self._failed is not None:
            group.set_exception(self._failed)
            return
        self._waiting.append(group)
        if not self._syncing:
            self._start()

    def _start(self) -> None:
        batch, self._waiting = self._waiting, []
        self._syncing = True
        synced = asyncio.get_running_loop().run_in_executor(self._thread, self._sync)
        synced.add_done_callback(lambda done: self._done(done, batch))

    def _sync(self) -> None:
        if self._fd is None:
            self._fd = os.open(self._wal, os.O_RDONLY)
        os.fdatasync(self._fd)

    def _done(self, synced: asyncio.Future[None], batch: list[asyncio.Future[None]]) -> None:
        self._syncing = False
        if not synced.cancelled() and (error := synced.exception()) is not None:
            # The disk failed or filled up: what was committed may not be on it.
            self._failed = StoreUnavailable(f"cannot sync the write-ahead log: {error}")
        for group in batch + self._waiting if self._failed is not None else batch:
            if self._failed is not None:
                group.set_exception(self._failed)
            elif synced.cancelled():
                group.cancel()
            else:
                group.set_result(None)
        if self._failed is not None:
            self._waiting = []
        elif self._waiting:
            self._start()

    def close(self) -> None:
        self._failed = self._failed or StoreUnavailable("the store is closed")
        self._thread.shutdown(wait=True)
        for group in self._waiting:  # committed but never synced: not acknowledged
            group.set_exception(self._failed)
        self._waiting = []
        if self._fd is not None:
            os.close(self._fd)


def _retrieve(group: asyncio.Future[None]) -> None:
    """Mark a failed group's error as seen: its requests have been answered with it already."""
    if not group.cancelled():
        group.exception()


class _ReportDb:
    """Long reads (``Backend.report``) on a connection and a thread of their own, so that the
    event loop goes on serving requests while one runs; the write-ahead log gives the read a
    snapshot of its own. The connection refuses writes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-report")
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        """The report's connection, opened on the report's thread when first used."""
        if self._db is None:
            self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA query_only=ON")
        return self._db

    async def _in_thread(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, work)
        except sqlite3.Error as error:
            if _unavailable(error):
                raise _outage(error) from error
            raise

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return await self._in_thread(lambda: self._connection().execute(sql, args).fetchall())

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._in_thread(lambda: self._connection().execute(sql, args).fetchone())
        return row

    async def execute(self, sql: str, *args: object) -> None:
        raise TypeError("a report only reads")

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()

    def close(self) -> None:
        self._thread.submit(self._close).result()
        self._thread.shutdown(wait=True)


WAL_LIMIT = 64 * 1024 * 1024  # bytes of write-ahead log before it is made to start over
RESTART_WAIT_MS = 50  # how long making it start over may hold writes back


class _Checkpointer:
    """Copies the write-ahead log into the database file from a thread of its own, so that the
    checkpoint's writes and fsync never stall the event loop.

    Under steady writes a passive checkpoint never catches up with the end of the log, and
    the log only starts over once one has: so when the log outgrows ``limit``, a restarting
    checkpoint holds new writers back for the moment it takes to copy the last frames.
    """

    def __init__(self, path: str, interval: float = 1.0, limit: int = WAL_LIMIT) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._interval = interval
        self._limit = limit
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            while not self._stopping.wait(self._interval):
                with contextlib.suppress(sqlite3.Error, OSError):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    if os.path.getsize(self._wal) > self._limit:
                        self._restart(db)
        finally:
            db.close()

    @staticmethod
    def _restart(db: sqlite3.Connection) -> None:
        """Make the log start over. The checkpoint holds the write lock while it waits for
        readers of older snapshots; another process's long reader (``maskline backup``) would
        hold every write back for the whole wait, so it waits briefly and tries again later."""
        db.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            db.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            db.execute("PRAGMA busy_timeout=5000")

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
