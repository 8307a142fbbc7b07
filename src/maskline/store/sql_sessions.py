"""The store's SQL for sessions: placing them on numbers (the holds that keep the allocation
rules), reading and changing them, the lookups that route calls to them, and the sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import msgspec

from maskline.domain import errors
from maskline.domain.allocation import (
    MAX_COOLOFF,
    WILDCARD,
    Claim,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    party_keys,
    pin_key,
    quarantine_window,
)
from maskline.domain.events import timeout_event
from maskline.domain.listing import ListQuery
from maskline.domain.model import HistoryRow, NumberState, Scope, Session, SessionSettings
from maskline.domain.routing import NumberView
from maskline.store.db import Backend, Db, Row, marks, scope_sql
from maskline.store.sql_calls import SqlCalls
from maskline.store.sql_outbox import SqlOutbox

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


class SqlSessions:
    def __init__(self, sql: Backend, calls: SqlCalls, outbox: SqlOutbox) -> None:
        self._sql = sql
        self._calls = calls  # a session's interactions, and the purge of ended calls
        self._outbox = outbox  # the sweep's timeout events
        # Pools in rank order by (pool, country), and the pool revision they were read at.
        self._pools: dict[tuple[str, str | None], list[PoolNumber]] = {}
        self._pools_revision = -1

    # -- placing a session ------------------------------------------------------------------
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

    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session:
        """Store a new session on the first number of the pool that takes all its keys."""
        placed = await self._sql.transact(lambda db: self._allocate(db, session, claim, now))
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
            f"SELECT {self._sql.JOIN_TEXT}(virtual_number, ','),"
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
            session.interactions = await self._calls.interactions(session.uuid)
        return session

    async def get_session(self, uuid: str, scope: Scope) -> Session | None:
        where, params = scope_sql(scope)
        row = await self._sql.read.fetchrow(
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

        return await self._sql.transact(work)

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
        total = await self._sql.read.fetchrow(f"SELECT COUNT(*) FROM sessions WHERE {sql_where}", *params)
        assert total is not None
        found = await self._sessions_where(
            self._sql.read,
            f"{sql_where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
            *params,
            query.limit,
            query.offset,
        )
        return int(total[0]), [await self._with_interactions(session) for session in found]

    async def session_history(self, main_id: str | None, since: int) -> list[HistoryRow]:
        """Sessions of ``main_id``'s pools (None: every account's) held after ``since``, with
        their number's pool and country, oldest first."""
        where, params = ("s.main_id = ? AND ", [main_id]) if main_id is not None else ("", [])
        rows = await self._sql.read.fetch(
            "SELECT s.created, s.expiry, s.cooloff_until, s.first_party, s.second_party,"
            " s.virtual_number, n.pool_id, n.country FROM sessions s"
            " JOIN numbers n ON n.number = s.virtual_number"
            f" WHERE {where}s.cooloff_until > ? ORDER BY s.created, s.id",
            *params,
            since,
        )
        return [HistoryRow(*row) for row in rows]

    # -- routing ----------------------------------------------------------------------------
    async def _held_session(self, key: str, number: str, scope: Scope, now: int) -> Session | None:
        """The live session in ``scope`` holding ``key`` on ``number`` (the guard index makes it
        unique)."""
        where, params = scope_sql(scope)
        found = await self._sessions_where(
            self._sql.read,
            "id = (SELECT session_id FROM holds WHERE party = ? AND virtual_number = ?)"
            f" AND expiry > ? AND {where}",
            key,
            number,
            now,
            *params,
        )
        return found[0] if found else None

    async def number_view(self, caller: str | None, number: str, scope: Scope, now: int) -> NumberView:
        """What a call from ``caller`` to ``number`` may reach; nothing unless the number is in
        ``scope`` (a carrier's webhooks route only their own account's numbers and, for a main
        account, its subaccounts'), and only sessions in ``scope``."""
        where, params = scope_sql(scope, owner="pool_id")
        owned = await self._sql.read.fetchrow(
            f"SELECT 1 FROM numbers WHERE number = ? AND {where}", number, *params
        )
        if owned is None:
            return NumberView()
        own = await self._held_session(caller, number, scope, now) if caller else None
        if own is not None:
            return NumberView(own=own)
        open_session = await self._held_session(WILDCARD, number, scope, now)
        if open_session is not None:
            return NumberView(open=open_session)
        # An unknown caller on a shared number: the live PIN session that lasts longest, and the
        # newest live session with a prompt; partial indexes keep both lookups short.
        where, params = scope_sql(scope)
        pin = await self._sessions_where(
            self._sql.read,
            f"virtual_number = ? AND pin AND expiry > ? AND {where} ORDER BY expiry DESC LIMIT 1",
            number,
            now,
            *params,
        )
        prompt = await self._sessions_where(
            self._sql.read,
            f"virtual_number = ? AND prompt AND expiry > ? AND {where}"
            " ORDER BY created DESC, id DESC LIMIT 1",
            number,
            now,
            *params,
        )
        return NumberView(pin=pin[0] if pin else None, prompt=prompt[0] if prompt else None)

    async def had_session(self, caller: str, number: str, scope: Scope, now: int) -> bool:
        """Whether ``caller`` was a party of a session in ``scope`` on ``number`` that has ended."""
        where, params = scope_sql(scope)
        row = await self._sql.read.fetchrow(
            f"SELECT 1 FROM sessions WHERE virtual_number = ? AND {where} AND expiry <= ?"
            " AND (first_party = ? OR second_party = ?) LIMIT 1",
            number,
            *params,
            now,
            caller,
            caller,
        )
        return row is not None

    async def session_by_pin(self, number: str, pin: str, scope: Scope, now: int) -> Session | None:
        return await self._held_session(pin_key(pin), number, scope, now)

    async def session_by_uuid(self, scope: Scope | None, session_uuid: str) -> Session | None:
        """The session ``session_uuid`` if it is in ``scope``; None: in any (only for a link
        maskline recorded itself)."""
        where, params = scope_sql(scope) if scope is not None else ("1 = 1", [])
        found = await self._sessions_where(self._sql.read, f"uuid = ? AND {where}", session_uuid, *params)
        return found[0] if found else None

    # -- housekeeping -----------------------------------------------------------------------
    async def sweep(self, now: int, purge_before: int) -> None:
        """Release holds whose time has passed, announce sessions that timed out since the last
        sweep, and purge sessions that ended long ago.

        The sweep's progress is a row every process shares: a process that finds it locked
        leaves this round to the one holding it, so each session times out exactly once. Holds
        end at most an hour (the longest cool-off) after their session, so only sessions that
        ended since the last sweep, less that hour, can have holds to release.

        One unit of work: the timeout events go into the outbox, and the purge reaches the call
        log and the outbox, in the same transaction that moves the sweep's progress on, so that
        no timeout is announced twice or lost.
        """

        async def work(db: Db) -> None:
            row = await db.fetchrow(
                f"SELECT value FROM counters WHERE name = 'swept_until'{self._sql.SKIP_LOCKED}"
            )
            if row is None:
                return  # another process is sweeping
            since = row[0]
            ended = await self._sessions_where(db, "expiry > ? AND expiry <= ? ORDER BY id", since, now)
            await self._outbox.enqueue(db, [e for e in map(timeout_event, ended) if e is not None])
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

        await self._sql.transact(work)

    _ENDED = "expiry < ? AND cooloff_until <= ?"  # ended before a time, and holding nothing now

    async def purgeable(self, before: int, now: int) -> int:
        """How many sessions ``purge`` would delete."""
        row = await self._sql.read.fetchrow(f"SELECT COUNT(*) FROM sessions WHERE {self._ENDED}", before, now)
        assert row is not None
        return int(row[0])

    async def purge(self, before: int, now: int, limit: int | None = None) -> int:
        """Delete the sessions that ended before ``before`` (and no longer hold their number),
        at most ``limit`` of them, with their holds; the departures, ended calls and delivered
        events from before then go with the last of them (a call deleting fewer than ``limit``).
        A purge in parts keeps each transaction, and the server's wait for it, short; each part
        is one unit of work across the sessions, the call log and the outbox."""
        return await self._sql.transact(lambda db: self._purge(db, before, now, limit))

    async def _purge(self, db: Db, before: int, now: int, limit: int | None = None) -> int:
        doomed = f"SELECT id FROM sessions WHERE {self._ENDED}"
        if limit is not None:
            doomed += f" ORDER BY id LIMIT {int(limit)}"
        await db.execute(f"DELETE FROM holds WHERE session_id IN ({doomed})", before, now)
        rows = await db.fetch(f"DELETE FROM sessions WHERE id IN ({doomed}) RETURNING id", before, now)
        if limit is None or len(rows) < limit:
            await db.execute("DELETE FROM departures WHERE ends_at < ?", before)
            await self._calls.forget_ended(db, before)
            await self._outbox.forget_settled(db, before)
        return len(rows)
