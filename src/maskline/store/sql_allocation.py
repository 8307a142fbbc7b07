"""The store's SQL for placing sessions on numbers: the holds that keep the allocation rules
(one per key of a live or cooling session, on its number), and when each party last left each
number. Part of the sessions' store: each function runs within one of its units of work.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from maskline.domain.allocation import (
    Claim,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    party_keys,
    quarantine_window,
)
from maskline.domain.model import NumberState, Session
from maskline.store.db import Backend, Db, marks

_encode = msgspec.json.Encoder().encode
_DEPARTURES_AT_ONCE = 1000  # rows of one insert: three parameters each, within every driver's limit


async def claim_keys(
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


async def release(db: Db, keys: Sequence[str], now: int) -> None:
    """End the keys' holds whose time has passed, so that the keys can be claimed."""
    await depart(db, f"hold_until <= ? AND party IN ({marks(keys)})", now, *keys)


async def depart(db: Db, where: str, *params: object) -> None:
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


class SqlAllocator:
    """Places new sessions; keeps each pool, in rank order, as of the pools' revision."""

    def __init__(self, sql: Backend) -> None:
        self._sql = sql
        # Pools in rank order by (pool, country), and the pool revision they were read at.
        self._pools: dict[tuple[str, str | None], list[PoolNumber]] = {}
        self._pools_revision = -1

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

    async def allocate(self, db: Db, session: Session, claim: Claim, now: int) -> Session | None:
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
            # Before quarantine reads the departures: a session of these parties that has ended
            # counts as left from its end on, whether or not the sweep has run since.
            await release(db, keys, now)
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
        (party, number) is one primary-key seek, however long the history; only the pairs that
        exist come back."""
        if len(window) < 2 or not parties:
            return {}
        # perf: two IN lists, a third cheaper than a seek per (party, number) written as
        # correlated subqueries over a VALUES list (docs/benchmarks.md, "Allocation for a busy party")
        rows = await db.fetch(
            f"SELECT virtual_number, ends_at FROM departures WHERE party IN ({marks(parties)})"
            f" AND virtual_number IN ({marks(window)})",
            *parties,
            *window,
        )
        left: dict[str, int] = {}
        for number, ended in rows:
            left[number] = max(ended, left.get(number, ended))
        return left

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
        if await claim_keys(db, session_id, number, claim.keys, s.expiry, claim.hold_until) is not None:
            await db.execute("DELETE FROM holds WHERE session_id = ?", session_id)
            await db.execute("DELETE FROM sessions WHERE id = ?", session_id)
            return None
        s.virtual_number = number
        return s
