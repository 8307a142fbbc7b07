"""The embedded store: stdlib sqlite3, one connection, called on the event loop.

Every method runs to completion without awaiting, so a transaction never interleaves with
another request; ``BEGIN IMMEDIATE`` takes the write lock up front (decisions/stack.md §3.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.dialects import sqlite as sqlite_dialect

from maskline.domain import errors
from maskline.domain.allocation import MAX_COOLOFF, Claim, CooloffScope, Policy, PoolNumber, candidates
from maskline.domain.events import timeout_event
from maskline.domain.listing import ListQuery
from maskline.domain.model import Account, Number, NumberState, Scope, Session, SessionSettings
from maskline.store.schema import ddl
from maskline.store.sqlite_calls import SQLiteCalls

_SESSION_FIELDS = (
    "uuid", "account_id", "main_id", "first_party", "second_party", "virtual_number", "created",
    "modified", "expiry", "calls_live", "total_call_count", "total_call_billed_duration",
    "last_interaction", "last_counterpart", "id", "settings",
)  # fmt: skip
_SESSION_COLUMNS = ", ".join(_SESSION_FIELDS)
_CONDITION_COLUMNS = {"created": "created", "expiry": "expiry", "duration": "(expiry - created)"}
_OPS = frozenset({"=", ">", ">=", "<", "<="})
_encode = msgspec.json.Encoder().encode
_decode_settings = msgspec.json.Decoder(SessionSettings).decode


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


def session_from_row(row: Sequence[Any]) -> Session:
    *fields, settings = row
    values = dict(zip(_SESSION_FIELDS, fields, strict=False))
    return Session(**values, settings=_decode_settings(settings))


def _scope_sql(scope: Scope, owner: str = "account_id") -> tuple[str, list[object]]:
    """The WHERE clause of a scope; ``owner`` names the column of the owning account."""
    if scope.account_id is not None:
        return f"main_id = ? AND {owner} = ?", [scope.main_id, scope.account_id]
    return "main_id = ?", [scope.main_id]


class SQLiteStore(SQLiteCalls):
    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        # Pools in rank order by (pool, country); dropped when the numbers change, here or in
        # another process (PRAGMA data_version moves when another connection commits).
        self._pools: dict[tuple[str, str | None], list[PoolNumber]] = {}
        self._data_version = -1
        self._checkpointer = _Checkpointer(path) if path != ":memory:" else None
        self._swept_until = 0
        self._group: asyncio.Future[None] | None = None

    @classmethod
    def open(cls, path: str) -> SQLiteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
            "cache_size=-65536",
            # Checkpoints (and their fsync) run on the checkpointer's thread, not on requests.
            "wal_autocheckpoint=0",
            f"journal_size_limit={WAL_LIMIT}",  # a log that started over is cut back to this
        ):
            db.execute(f"PRAGMA {pragma}")
        store = cls(db, path)
        with store._tx():
            for statement in ddl(sqlite_dialect.dialect()):
                db.execute(statement)
        return store

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # Group commit: the writes of every request that runs before the event loop's next turn
    # share one transaction; each request's writes are a savepoint of it, and a request is
    # answered only once the whole group has committed (``_durable``). This shares one COMMIT,
    # and the pages it writes, among concurrent requests.
    @contextmanager
    def _unit(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        if self._group is None:
            db.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self._group = loop.create_future()
            self._group.add_done_callback(_retrieve)
            loop.call_soon(self._commit_group)
        db.execute("SAVEPOINT unit")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK TO unit")
            db.execute("RELEASE unit")
            raise
        db.execute("RELEASE unit")

    def _commit_group(self) -> None:
        group, self._group = self._group, None
        assert group is not None
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            group.set_exception(error)
        else:
            group.set_result(None)

    async def _durable(self) -> None:
        """Wait until the writes made so far are committed."""
        if self._group is not None:
            await asyncio.shield(self._group)

    # -- accounts ---------------------------------------------------------------------------
    async def create_account(self, account: Account, token_hash: str, now: int) -> None:
        try:
            with self._unit() as db:
                db.execute(
                    "INSERT INTO accounts (auth_id, parent_id, token_hash, created) VALUES (?,?,?,?)",
                    (account.auth_id, account.parent_id, token_hash, now),
                )
        except sqlite3.IntegrityError:
            raise errors.auth_id_taken(account.auth_id) from None
        await self._durable()

    async def get_account(self, auth_id: str) -> tuple[Account, str] | None:
        row = self._db.execute(
            "SELECT parent_id, token_hash FROM accounts WHERE auth_id = ?", (auth_id,)
        ).fetchone()
        return None if row is None else (Account(auth_id, row[0]), row[1])

    async def count_accounts(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])

    # -- numbers ----------------------------------------------------------------------------
    def _pool(self, claim: Claim) -> list[PoolNumber]:
        """The claim's pool in rank order; cached unless the policy needs fresh use times."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._pools.clear()
            self._data_version = version
        key = (claim.pool_id, claim.country)
        pool = self._pools.get(key)
        if pool is None or claim.policy is Policy.LEAST_RECENT:
            where, params = "pool_id = ? AND state = ?", [claim.pool_id, NumberState.IN_SERVICE.value]
            if claim.country is not None:
                where += " AND country = ?"
                params.append(claim.country)
            sql = f"SELECT number, id, last_used FROM numbers WHERE {where} ORDER BY id"
            pool = self._pools[key] = [PoolNumber(*row) for row in self._db.execute(sql, params)]
        return pool

    async def add_numbers(
        self, main_id: str, pool_id: str, entries: Sequence[tuple[str, str]], now: int
    ) -> None:
        self._pools.clear()
        with self._unit() as db:
            for number, country in entries:
                row = db.execute(
                    "INSERT INTO numbers (number, main_id, pool_id, country, state, added, last_used)"
                    " VALUES (?,?,?,?,?,?,0) ON CONFLICT (number) DO UPDATE SET"
                    " pool_id = excluded.pool_id, country = excluded.country, state = excluded.state"
                    " WHERE numbers.main_id = excluded.main_id RETURNING id",
                    (number, main_id, pool_id, country, NumberState.IN_SERVICE.value, now),
                ).fetchone()
                if row is None:
                    raise errors.number_owned_elsewhere(number)
        await self._durable()

    async def retire_numbers(self, main_id: str, numbers: Sequence[str]) -> None:
        self._pools.clear()
        with self._unit() as db:
            for number in numbers:
                cursor = db.execute(
                    "UPDATE numbers SET state = ? WHERE number = ? AND main_id = ?",
                    (NumberState.RETIRED.value, number, main_id),
                )
                if cursor.rowcount == 0:
                    raise errors.number_not_found()
        await self._durable()

    async def list_numbers(self, scope: Scope, now: int, number: str | None = None) -> list[Number]:
        where, params = _scope_sql(scope, owner="pool_id")
        if number is not None:
            where += " AND number = ?"
            params.append(number)
        rows = self._db.execute(
            "SELECT number, main_id, pool_id, country, state, added,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.virtual_number = numbers.number"
            "  AND s.cooloff_until > ? AND s.expiry > ? AND s.main_id = numbers.main_id)"
            f" FROM numbers WHERE {where} ORDER BY id",
            [now, now, *params],
        ).fetchall()
        return [Number(r[0], r[1], r[2], r[3], NumberState(r[4]), r[5], r[6]) for r in rows]

    # -- sessions ---------------------------------------------------------------------------
    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session:
        """Store a new session on the first number of the pool that takes all its keys."""
        with self._unit():
            placed = self._allocate(session, claim, now)
        if placed is None:
            raise errors.pool_exhausted()
        await self._durable()
        return placed

    def _allocate(self, session: Session, claim: Claim, now: int) -> Session | None:
        """Place the session on the best number that takes all its keys; None if none does."""
        keys = claim.keys
        db = self._db
        pool = self._pool(claim)
        blocked, stale = set(), False
        held = "SELECT virtual_number, hold_until FROM allocations WHERE held AND party IN"
        for number, until in db.execute(f"{held} ({_marks(keys)})", keys):
            if until > now:
                blocked.add(number)
            else:
                stale = True
        if stale:
            self._release(keys, now)
        check_cooling = claim.quiet or claim.scope is CooloffScope.GLOBAL
        for number in candidates(pool, blocked, claim.policy):
            if check_cooling and self._has_cooling_session(number, now):
                continue
            placed = self._place(session, number, claim)
            if placed is None:
                continue
            if claim.policy is Policy.LEAST_RECENT:
                db.execute("UPDATE numbers SET last_used = ? WHERE number = ?", (now, number))
            return placed
        return None

    def _release(self, keys: Sequence[str], now: int) -> None:
        """Un-hold the keys' rows whose time has passed, so that the keys can be claimed."""
        self._db.execute(
            f"UPDATE allocations SET held = 0 WHERE held AND hold_until <= ? AND party IN ({_marks(keys)})",
            (now, *keys),
        )

    def _has_cooling_session(self, number: str, now: int) -> bool:
        """Whether a session on ``number`` has ended and is still in its cool-off."""
        return (
            self._db.execute(
                "SELECT 1 FROM sessions WHERE virtual_number = ? AND cooloff_until > ?"
                " AND expiry <= ? LIMIT 1",
                (number, now, now),
            ).fetchone()
            is not None
        )

    def _place(self, session: Session, number: str, claim: Claim) -> Session | None:
        """Insert the session on ``number`` with all its keys, or nothing if a key is taken."""
        s = session
        cursor = self._db.execute(
            "INSERT INTO sessions (uuid, account_id, main_id, first_party, second_party,"
            " virtual_number, created, modified, expiry, cooloff_until, calls_live,"
            " total_call_count, total_call_billed_duration, last_interaction, settings, pin, prompt)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0,NULL,?,?,?)",
            (
                s.uuid,
                s.account_id,
                s.main_id,
                s.first_party,
                s.second_party,
                number,
                s.created,
                s.modified,
                s.expiry,
                s.expiry + s.settings.virtual_number_cooloff_period,
                _encode(s.settings),
                s.settings.is_pin_authentication_required,
                bool(s.settings.unknown_caller_play),
            ),
        )
        session_id = cursor.lastrowid
        if self._claim(session_id, number, claim.keys, s.expiry, claim.hold_until) is not None:
            self._db.execute("DELETE FROM allocations WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return None
        s.virtual_number = number
        return s

    def _claim(
        self, session_id: int | None, number: str, keys: Sequence[str], ends_at: int, until: int
    ) -> str | None:
        """Hold ``keys`` on ``number`` for the session; the first key held already, if any."""
        rows = self._db.execute(
            "INSERT INTO allocations (session_id, party, virtual_number, held, ends_at, hold_until)"
            f" VALUES {','.join(['(?,?,?,1,?,?)'] * len(keys))}"
            " ON CONFLICT (party, virtual_number) WHERE held DO NOTHING RETURNING party",
            [v for key in keys for v in (session_id, key, number, ends_at, until)],
        ).fetchall()
        if len(rows) == len(keys):
            return None
        claimed = {row[0] for row in rows}
        return next(key for key in keys if key not in claimed)

    def _sessions_where(self, where: str, params: Sequence[object]) -> Iterator[Session]:
        for row in self._db.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where}", params):
            yield session_from_row(row)

    async def _with_interactions(self, session: Session) -> Session:
        if session.total_call_count or session.calls_live:
            session.interactions = await self.interactions(session.uuid)
        return session

    async def get_session(self, uuid: str, scope: Scope) -> Session | None:
        where, params = _scope_sql(scope)
        found = next(self._sessions_where(f"uuid = ? AND {where}", (uuid, *params)), None)
        return None if found is None else await self._with_interactions(found)

    async def save_session(
        self,
        session: Session,
        hold_until: int,
        now: int,
        added: Mapping[str, str] | None = None,
        released: Sequence[str] = (),
    ) -> bool:
        """Write a changed live session; False if it expired meanwhile.

        ``added`` maps keys the session takes on its number to the field that brought them;
        a key held there already fails with that field's ``party_taken`` error.
        """
        s = session
        with self._unit() as db:
            row = db.execute(
                "UPDATE sessions SET first_party = ?, second_party = ?, modified = ?, expiry = ?,"
                " cooloff_until = ?, settings = ? WHERE uuid = ? AND expiry > ? RETURNING id",
                (
                    s.first_party,
                    s.second_party,
                    s.modified,
                    s.expiry,
                    s.expiry + s.settings.virtual_number_cooloff_period,
                    _encode(s.settings),
                    s.uuid,
                    now,
                ),
            ).fetchone()
            if row is None:
                return False
            session_id = row[0]
            if added:
                keys = list(added)
                self._release(keys, now)
                taken = self._claim(session_id, s.virtual_number, keys, s.expiry, hold_until)
                if taken is not None:
                    raise errors.party_taken(added[taken])
            if released:
                db.execute(
                    f"UPDATE allocations SET held = 0 WHERE session_id = ? AND held"
                    f" AND party IN ({_marks(released)})",
                    (session_id, *released),
                )
            db.execute(
                "UPDATE allocations SET ends_at = ?, hold_until = ?, held = (? > ?)"
                " WHERE session_id = ? AND held",
                (s.expiry, hold_until, hold_until, now, session_id),
            )
        await self._durable()
        return True

    async def list_sessions(self, query: ListQuery, scope: Scope, now: int) -> tuple[int, list[Session]]:
        where, params = _scope_sql(scope)
        clauses = [where]
        if query.subaccount is not None:
            clauses.append("account_id = ?")
            params.append(query.subaccount)
        for column, number in query.parties.items():
            clauses.append(f"{column} = ?")
            params.append(number)
        for condition in query.conditions:
            assert condition.op in _OPS
            clauses.append(f"{_CONDITION_COLUMNS[condition.column]} {condition.op} ?")
            params.append(condition.value)
        if query.status == "expired":
            clauses.append("expiry <= ?")
            params.append(now)
        elif query.status in ("active", "in-progress"):
            clauses.append("expiry > ?")
            params.append(now)
            if query.status == "in-progress":
                clauses.append("calls_live > 0")
        sql_where = " AND ".join(clauses)
        total = self._db.execute(f"SELECT COUNT(*) FROM sessions WHERE {sql_where}", params).fetchone()[0]
        rows = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {sql_where}"
            " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        ).fetchall()
        return int(total), [await self._with_interactions(session_from_row(r)) for r in rows]

    # -- housekeeping -----------------------------------------------------------------------
    async def sweep(self, now: int, purge_before: int) -> None:
        """Release holds whose time has passed and purge sessions that ended long ago.

        Holds end at most an hour (the longest cool-off) after their session, so only sessions
        that ended since the last sweep, less that hour, can have holds to release.
        """
        with self._unit() as db:
            ended = self._sessions_where("expiry > ? AND expiry <= ?", (self._swept_until, now))
            self._enqueue([e for e in map(timeout_event, ended) if e is not None])
            db.execute(
                "UPDATE allocations SET held = 0 WHERE held AND hold_until <= ? AND session_id IN"
                " (SELECT id FROM sessions WHERE expiry > ? AND expiry <= ?)",
                (now, self._swept_until - MAX_COOLOFF, now),
            )
            doomed = "SELECT id FROM sessions WHERE expiry < ?"
            db.execute(f"DELETE FROM allocations WHERE session_id IN ({doomed})", (purge_before,))
            db.execute("DELETE FROM sessions WHERE expiry < ?", (purge_before,))
            db.execute("DELETE FROM calls WHERE started < ? AND state = 'ended'", (purge_before,))
            db.execute("DELETE FROM events WHERE created < ? AND NOT pending", (purge_before,))
        self._swept_until = now
        await self._durable()


def _retrieve(group: asyncio.Future[None]) -> None:
    """Mark a failed group's error as seen: its requests have been answered with it already."""
    if not group.cancelled():
        group.exception()


WAL_LIMIT = 64 * 1024 * 1024  # bytes of write-ahead log before it is made to start over


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
                        db.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            db.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
