"""The store's SQL, shared by both backends: accounts, the number pool, sessions, the sweep.

Statements are written once, with ``?`` placeholders, in the SQL that SQLite and PostgreSQL
both speak. A backend supplies the driver (``Db``), how a unit of work is made atomic and
durable (``_transact``), and the row-locking clauses PostgreSQL needs when several processes
share the database (``LOCK``, ``SKIP_LOCKED``; empty on SQLite, whose writers take turns).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import msgspec

from maskline.domain import errors
from maskline.domain.allocation import (
    MAX_COOLOFF,
    Claim,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    party_keys,
    quarantine_window,
)
from maskline.domain.events import timeout_event
from maskline.domain.listing import ListQuery
from maskline.domain.model import Account, Number, NumberState, Scope, Session, SessionSettings
from maskline.store.db import Db, Row, marks, scope_sql
from maskline.store.sql_calls import SqlCalls

T = TypeVar("T")

# A session's columns in the order of Session's fields, all but the last (its calls), so that a
# row is its arguments: naming them costs several times more than the rest of reading a row.
_SESSION_FIELDS = [field.name for field in dataclasses.fields(Session)][:-1]
_SETTINGS = _SESSION_FIELDS.index("settings")
_SESSION_COLUMNS = ", ".join(_SESSION_FIELDS)
_CONDITION_COLUMNS = {"created": "created", "expiry": "expiry", "duration": "(expiry - created)"}
_OPS = frozenset({"=", ">", ">=", "<", "<="})
_encode = msgspec.json.Encoder().encode
_decode_settings = msgspec.json.Decoder(SessionSettings).decode
_DEPARTURES_AT_ONCE = 1000  # rows of one insert: three parameters each, within every driver's limit


def session_from_row(row: Row) -> Session:
    return Session(*row[:_SETTINGS], _decode_settings(row[_SETTINGS]), *row[_SETTINGS + 1 :])


class SqlStore(SqlCalls):
    LOCK = ""  # locks the rows a SELECT reads until the transaction ends
    SKIP_LOCKED = ""  # ... passing over rows another transaction has locked
    JOIN_TEXT = "group_concat"  # the aggregate that joins text values with a separator

    def __init__(self, read: Db) -> None:
        self._read = read  # for reads outside a unit of work
        # Pools in rank order by (pool, country), and the pool revision they were read at.
        self._pools: dict[tuple[str, str | None], list[PoolNumber]] = {}
        self._pools_revision = -1

    async def _transact(self, work: Callable[[Db], Awaitable[T]]) -> T:
        """Run ``work`` as one atomic unit and return its result once it is durable."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # -- accounts ---------------------------------------------------------------------------
    async def create_account(self, account: Account, token_hash: str, now: int) -> None:
        async def work(db: Db) -> Row | None:
            return await db.fetchrow(
                "INSERT INTO accounts (auth_id, parent_id, token_hash, created) VALUES (?,?,?,?)"
                " ON CONFLICT (auth_id) DO NOTHING RETURNING auth_id",
                account.auth_id,
                account.parent_id,
                token_hash,
                now,
            )

        if await self._transact(work) is None:
            raise errors.auth_id_taken(account.auth_id)

    async def get_account(self, auth_id: str) -> tuple[Account, str] | None:
        row = await self._read.fetchrow(
            "SELECT parent_id, token_hash FROM accounts WHERE auth_id = ?", auth_id
        )
        return None if row is None else (Account(auth_id, row[0]), row[1])

    async def list_accounts(self) -> list[tuple[Account, int]]:
        rows = await self._read.fetch(
            "SELECT auth_id, parent_id, created FROM accounts ORDER BY created, auth_id"
        )
        return [(Account(row[0], row[1]), int(row[2])) for row in rows]

    async def replace_token(self, auth_id: str, token_hash: str) -> bool:
        async def work(db: Db) -> Row | None:
            return await db.fetchrow(
                "UPDATE accounts SET token_hash = ? WHERE auth_id = ? RETURNING auth_id", token_hash, auth_id
            )

        return await self._transact(work) is not None

    async def count_accounts(self) -> int:
        row = await self._read.fetchrow("SELECT COUNT(*) FROM accounts")
        assert row is not None
        return int(row[0])

    # -- numbers ----------------------------------------------------------------------------
    async def _pool(self, db: Db, claim: Claim, revision: int) -> list[PoolNumber]:
        """The claim's pool in rank order, as of the pools' ``revision``; cached unless the
        policy needs fresh use times."""
        if revision != self._pools_revision:
            self._pools.clear()
            self._pools_revision = revision
        key = (claim.pool_id, claim.country)
        pool = self._pools.get(key)
        if pool is None or claim.policy is Policy.LEAST_RECENT:
            where, params = "pool_id = ? AND state = ?", [claim.pool_id, NumberState.IN_SERVICE.value]
            if claim.country is not None:
                where += " AND country = ?"
                params.append(claim.country)
            sql = f"SELECT number, id, last_used FROM numbers WHERE {where} ORDER BY id"
            pool = self._pools[key] = [PoolNumber(*r) for r in await db.fetch(sql, *params)]
        return pool

    async def _pools_changed(self, db: Db) -> None:
        await db.execute("UPDATE counters SET value = value + 1 WHERE name = 'numbers'")

    async def add_numbers(
        self, main_id: str, pool_id: str, entries: Sequence[tuple[str, str]], now: int
    ) -> None:
        async def work(db: Db) -> None:
            await self._pools_changed(db)
            for number, country in entries:
                row = await db.fetchrow(
                    "INSERT INTO numbers (number, main_id, pool_id, country, state, added, last_used)"
                    " VALUES (?,?,?,?,?,?,0) ON CONFLICT (number) DO UPDATE SET"
                    " pool_id = excluded.pool_id, country = excluded.country, state = excluded.state"
                    " WHERE numbers.main_id = excluded.main_id RETURNING id",
                    number,
                    main_id,
                    pool_id,
                    country,
                    NumberState.IN_SERVICE.value,
                    now,
                )
                if row is None:
                    raise errors.number_owned_elsewhere(number)

        await self._transact(work)

    async def retire_numbers(self, main_id: str, numbers: Sequence[str]) -> None:
        async def work(db: Db) -> None:
            await self._pools_changed(db)
            for number in numbers:
                row = await db.fetchrow(
                    "UPDATE numbers SET state = ? WHERE number = ? AND main_id = ? RETURNING id",
                    NumberState.RETIRED.value,
                    number,
                    main_id,
                )
                if row is None:
                    raise errors.number_not_held(number, main_id)

        await self._transact(work)

    async def list_numbers(self, scope: Scope, now: int, number: str | None = None) -> list[Number]:
        where, params = scope_sql(scope, owner="pool_id")
        if number is not None:
            where += " AND number = ?"
            params.append(number)
        rows = await self._read.fetch(
            "SELECT number, main_id, pool_id, country, state, added,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.virtual_number = numbers.number"
            "  AND s.cooloff_until > ? AND s.expiry > ? AND s.main_id = numbers.main_id)"
            f" FROM numbers WHERE {where} ORDER BY id",
            now,
            now,
            *params,
        )
        return [Number(r[0], r[1], r[2], r[3], NumberState(r[4]), r[5], r[6]) for r in rows]

    # -- sessions ---------------------------------------------------------------------------
    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session:
        """Store a new session on the first number of the pool that takes all its keys."""
        placed = await self._transact(lambda db: self._allocate(db, session, claim, now))
        if placed is None:
            raise errors.pool_exhausted()
        return placed

    async def _allocate(self, db: Db, session: Session, claim: Claim, now: int) -> Session | None:
        """Place the session on the best number that takes all its keys; None if none does."""
        keys = claim.keys
        # In one round trip: the numbers the keys hold (joined into one text: a busy party holds
        # hundreds, and one row is much cheaper to read than hundreds), the revision of the pools,
        # and whether some of the keys' holds have run out and must be released first.
        mine = f"FROM holds WHERE party IN ({marks(keys)}) AND hold_until"
        row = await db.fetchrow(
            f"SELECT {self.JOIN_TEXT}(virtual_number, ','),"
            " (SELECT value FROM counters WHERE name = 'numbers'),"
            f" EXISTS (SELECT 1 {mine} <= ?) {mine} > ?",
            *keys,
            now,
            *keys,
            now,
        )
        assert row is not None
        joined, revision, stale = row
        blocked = set(joined.split(",")) if joined else set()
        if stale:
            await self._release(db, keys, now)
        pool = await self._pool(db, claim, revision)
        left = None
        if claim.policy is Policy.QUARANTINE:
            left = await self._last_left(db, party_keys(keys), quarantine_window(pool, blocked))
        check_cooling = claim.quiet or claim.scope is CooloffScope.GLOBAL
        for number in candidates(pool, blocked, claim.policy, left):
            if check_cooling and await self._has_cooling_session(db, number, now):
                continue
            placed = await self._place(db, session, number, claim)
            if placed is None:
                continue
            if claim.policy is Policy.LEAST_RECENT:
                await db.execute("UPDATE numbers SET last_used = ? WHERE number = ?", now, number)
            return placed
        return None

    @staticmethod
    async def _last_left(db: Db, parties: Sequence[str], window: Sequence[str]) -> dict[str, int]:
        """When one of ``parties`` last left each number of ``window`` that they used (the
        window's numbers are free for them: holds that ran out are released first). Each
        (party, number) is one primary-key seek, however long the history."""
        if len(window) < 2 or not parties:
            return {}
        latest = "SELECT n, (SELECT ends_at FROM departures WHERE party = ? AND virtual_number = n) FROM w"
        rows = await db.fetch(
            f"WITH w(n) AS (VALUES {','.join(['(?)'] * len(window))}) "
            + " UNION ALL ".join([latest] * len(parties)),
            *window,
            *parties,
        )
        left: dict[str, int] = {}
        for number, ended in rows:
            if ended is not None:
                left[number] = max(ended, left.get(number, ended))
        return left

    @classmethod
    async def _release(cls, db: Db, keys: Sequence[str], now: int) -> None:
        """End the keys' holds whose time has passed, so that the keys can be claimed."""
        await cls._depart(db, f"hold_until <= ? AND party IN ({marks(keys)})", now, *keys)

    @staticmethod
    async def _depart(db: Db, where: str, *params: object) -> None:
        """End the holds ``where`` selects (read once: the sweep's selection is not small),
        noting when each party left each number."""
        ended = await db.fetch(
            f"DELETE FROM holds WHERE {where} RETURNING party, virtual_number, ends_at", *params
        )
        rows = sorted(tuple(row) for row in ended)  # locked in one order: no deadlock (PostgreSQL)
        for start in range(0, len(rows), _DEPARTURES_AT_ONCE):
            chunk = rows[start : start + _DEPARTURES_AT_ONCE]
            await db.execute(
                "INSERT INTO departures (party, virtual_number, ends_at)"
                f" VALUES {','.join(['(?,?,?)'] * len(chunk))}"
                " ON CONFLICT (party, virtual_number) DO UPDATE SET ends_at = excluded.ends_at"
                " WHERE excluded.ends_at > departures.ends_at",
                *[value for row in chunk for value in row],
            )

    @staticmethod
    async def _has_cooling_session(db: Db, number: str, now: int) -> bool:
        """Whether a session on ``number`` has ended and is still in its cool-off."""
        row = await db.fetchrow(
            "SELECT 1 FROM sessions WHERE virtual_number = ? AND cooloff_until > ? AND expiry <= ? LIMIT 1",
            number,
            now,
            now,
        )
        return row is not None

    async def _place(self, db: Db, session: Session, number: str, claim: Claim) -> Session | None:
        """Insert the session on ``number`` with all its keys, or nothing if a key is taken."""
        s = session
        row = await db.fetchrow(
            "INSERT INTO sessions (uuid, account_id, main_id, first_party, second_party,"
            " virtual_number, created, modified, expiry, cooloff_until, calls_live,"
            " total_call_count, total_call_billed_duration, last_interaction, settings, pin, prompt)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0,NULL,?,?,?) RETURNING id",
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
            _encode(s.settings).decode(),
            s.settings.is_pin_authentication_required,
            bool(s.settings.unknown_caller_play),
        )
        assert row is not None
        session_id = row[0]
        if await self._claim(db, session_id, number, claim.keys, s.expiry, claim.hold_until) is not None:
            await db.execute("DELETE FROM holds WHERE session_id = ?", session_id)
            await db.execute("DELETE FROM sessions WHERE id = ?", session_id)
            return None
        s.virtual_number = number
        return s

    @staticmethod
    async def _claim(
        db: Db, session_id: int, number: str, keys: Sequence[str], ends_at: int, until: int
    ) -> str | None:
        """Hold ``keys`` on ``number`` for the session; the first key held already, if any.

        Keys go in sorted order, so that two transactions that wait for each other's keys
        (on PostgreSQL) always wait in the same direction and cannot deadlock."""
        rows = await db.fetch(
            "INSERT INTO holds (party, virtual_number, session_id, ends_at, hold_until)"
            f" VALUES {','.join(['(?,?,?,?,?)'] * len(keys))}"
            " ON CONFLICT (party, virtual_number) DO NOTHING RETURNING party",
            *[v for key in sorted(keys) for v in (key, number, session_id, ends_at, until)],
        )
        if len(rows) == len(keys):
            return None
        claimed = {row[0] for row in rows}
        return next(key for key in keys if key not in claimed)

    async def _sessions_where(self, db: Db, where: str, *params: object) -> list[Session]:
        rows = await db.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where}", *params)
        return [session_from_row(row) for row in rows]

    async def _with_interactions(self, session: Session) -> Session:
        if session.total_call_count or session.calls_live:
            session.interactions = await self.interactions(session.uuid)
        return session

    async def get_session(self, uuid: str, scope: Scope) -> Session | None:
        where, params = scope_sql(scope)
        row = await self._read.fetchrow(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE uuid = ? AND {where}", uuid, *params
        )
        return None if row is None else await self._with_interactions(session_from_row(row))

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

        async def work(db: Db) -> bool:
            row = await db.fetchrow(
                "UPDATE sessions SET first_party = ?, second_party = ?, modified = ?, expiry = ?,"
                " cooloff_until = ?, settings = ? WHERE uuid = ? AND expiry > ? RETURNING id",
                s.first_party,
                s.second_party,
                s.modified,
                s.expiry,
                s.expiry + s.settings.virtual_number_cooloff_period,
                _encode(s.settings).decode(),
                s.uuid,
                now,
            )
            if row is None:
                return False
            session_id = row[0]
            if added:
                keys = list(added)
                await self._release(db, keys, now)
                taken = await self._claim(db, session_id, s.virtual_number, keys, s.expiry, hold_until)
                if taken is not None:
                    raise errors.party_taken(added[taken])
            if released:
                ended = f"session_id = ? AND party IN ({marks(released)})"
                await self._depart(db, ended, session_id, *released)
            await db.execute(
                "UPDATE holds SET ends_at = ?, hold_until = ? WHERE session_id = ?",
                s.expiry,
                hold_until,
                session_id,
            )
            if hold_until <= now:
                await self._depart(db, "session_id = ?", session_id)
            return True

        return await self._transact(work)

    async def list_sessions(self, query: ListQuery, scope: Scope, now: int) -> tuple[int, list[Session]]:
        where, params = scope_sql(scope)
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
        total = await self._read.fetchrow(f"SELECT COUNT(*) FROM sessions WHERE {sql_where}", *params)
        assert total is not None
        found = await self._sessions_where(
            self._read,
            f"{sql_where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
            *params,
            query.limit,
            query.offset,
        )
        return int(total[0]), [await self._with_interactions(session) for session in found]

    async def session_history(self, main_id: str | None, since: int) -> list[tuple[object, ...]]:
        """Sessions of ``main_id``'s pools (None: every account's) held after ``since``: (created,
        expiry, cooloff_until, first, second, virtual number, the number's pool, its country),
        oldest first."""
        where, params = ("s.main_id = ? AND ", [main_id]) if main_id is not None else ("", [])
        rows = await self._read.fetch(
            "SELECT s.created, s.expiry, s.cooloff_until, s.first_party, s.second_party,"
            " s.virtual_number, n.pool_id, n.country FROM sessions s"
            " JOIN numbers n ON n.number = s.virtual_number"
            f" WHERE {where}s.cooloff_until > ? ORDER BY s.created, s.id",
            *params,
            since,
        )
        return [tuple(row) for row in rows]

    async def vital_signs(self, now: int) -> tuple[int, int]:
        """Live sessions and events waiting for delivery; a failure means the database is down."""
        row = await self._read.fetchrow(
            "SELECT (SELECT COUNT(*) FROM sessions WHERE expiry > ?),"
            " (SELECT COUNT(*) FROM events WHERE pending)",
            now,
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def ping(self) -> None:
        await self._read.fetchrow("SELECT 1")

    async def numbers_in_service(self, main_id: str | None) -> dict[tuple[str, str], int]:
        """How many numbers are in service per (pool, country), for ``main_id`` (None: all)."""
        where, params = (" AND main_id = ?", [main_id]) if main_id is not None else ("", [])
        rows = await self._read.fetch(
            f"SELECT pool_id, country, COUNT(*) FROM numbers WHERE state = ?{where}"
            " GROUP BY pool_id, country",
            NumberState.IN_SERVICE.value,
            *params,
        )
        return {(row[0], row[1]): int(row[2]) for row in rows}

    # -- housekeeping -----------------------------------------------------------------------
    async def sweep(self, now: int, purge_before: int) -> None:
        """Release holds whose time has passed, announce sessions that timed out since the last
        sweep, and purge sessions that ended long ago.

        The sweep's progress is a row every process shares: a process that finds it locked
        leaves this round to the one holding it, so each session times out exactly once. Holds
        end at most an hour (the longest cool-off) after their session, so only sessions that
        ended since the last sweep, less that hour, can have holds to release.
        """

        async def work(db: Db) -> None:
            row = await db.fetchrow(
                f"SELECT value FROM counters WHERE name = 'swept_until'{self.SKIP_LOCKED}"
            )
            if row is None:
                return  # another process is sweeping
            since = row[0]
            ended = await self._sessions_where(db, "expiry > ? AND expiry <= ? ORDER BY id", since, now)
            await self._enqueue(db, [e for e in map(timeout_event, ended) if e is not None])
            await self._depart(
                db,
                "hold_until <= ? AND session_id IN"
                " (SELECT id FROM sessions WHERE expiry > ? AND expiry <= ?)",
                now,
                since - MAX_COOLOFF,
                now,
            )
            await self._purge(db, purge_before, now)
            await db.execute("UPDATE counters SET value = ? WHERE name = 'swept_until'", max(since, now))

        await self._transact(work)

    _ENDED = "expiry < ? AND cooloff_until <= ?"  # ended before a time, and holding nothing now

    async def purgeable(self, before: int, now: int) -> int:
        """How many sessions ``purge`` would delete."""
        row = await self._read.fetchrow(f"SELECT COUNT(*) FROM sessions WHERE {self._ENDED}", before, now)
        assert row is not None
        return int(row[0])

    async def purge(self, before: int, now: int, limit: int | None = None) -> int:
        """Delete the sessions that ended before ``before`` (and no longer hold their number),
        at most ``limit`` of them, with their holds; the departures, ended calls and delivered
        events from before then go with the last of them (a call deleting fewer than ``limit``).
        A purge in parts keeps each transaction, and the server's wait for it, short."""
        return await self._transact(lambda db: self._purge(db, before, now, limit))

    async def _purge(self, db: Db, before: int, now: int, limit: int | None = None) -> int:
        doomed = f"SELECT id FROM sessions WHERE {self._ENDED}"
        if limit is not None:
            doomed += f" ORDER BY id LIMIT {int(limit)}"
        await db.execute(f"DELETE FROM holds WHERE session_id IN ({doomed})", before, now)
        rows = await db.fetch(f"DELETE FROM sessions WHERE id IN ({doomed}) RETURNING id", before, now)
        if limit is None or len(rows) < limit:
            await db.execute("DELETE FROM departures WHERE ends_at < ?", before)
            await db.execute("DELETE FROM calls WHERE started < ? AND state = 'ended'", before)
            await db.execute("DELETE FROM events WHERE created < ? AND NOT pending", before)
        return len(rows)
