"""The store's SQL for placing sessions on numbers: the holds that keep the allocation rules
(one per key of a live or cooling session, on its number), and when each party last left each
number. Part of the sessions' store: each function runs within one of its units of work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

import msgspec

from maskline.domain.allocation import (
    LATE_CALL_HORIZON,
    LENGTHS_READ,
    RECENT_DEPARTURES,
    Claim,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    fewest_late_calls,
    party_keys,
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


Departure = tuple[str, str, int]  # (party, number, when the party left it)


async def release(db: Db, keys: Sequence[str], now: int) -> list[Departure]:
    """End the keys' holds whose time has passed, so that the keys can be claimed."""
    return await depart(db, f"hold_until <= ? AND party IN ({marks(keys)})", now, *keys)


async def depart(db: Db, where: str, *params: object) -> list[Departure]:
    """End the holds ``where`` selects (read once: the sweep's selection is not small),
    noting when each party left each number; the departures noted."""
    ended = await db.fetch(
        f"DELETE FROM holds WHERE {where} RETURNING party, virtual_number, ends_at", *params
    )
    rows: list[Departure] = sorted((p, n, e) for p, n, e in ended)  # locked in one order (PostgreSQL)
    for start in range(0, len(rows), _DEPARTURES_AT_ONCE):
        chunk = rows[start : start + _DEPARTURES_AT_ONCE]
        await db.execute(
            "INSERT INTO departures (party, virtual_number, ends_at)"
            f" VALUES {','.join(['(?,?,?)'] * len(chunk))}"
            " ON CONFLICT DO NOTHING",  # the same party, number and time: noted already
            *[value for row in chunk for value in row],
        )
    return rows


def _numbers(joined: Iterable[str | None]) -> set[str]:
    """The numbers of texts of comma-joined numbers (None: none)."""
    found: set[str] = set()
    for text in joined:
        if text:
            found.update(text.split(","))
    return found


_Place = Callable[[Db, Session, str, Claim], Awaitable[Session | None]]


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

    async def allocate(
        self, db: Db, session: Session, claim: Claim, now: int, moving: bool = False
    ) -> Session | None:
        """Place the session on the best number that takes all its keys; None if none does.
        ``moving``: the session is stored already and keeps what it holds; it gets another number."""
        keys = claim.keys
        # In one round trip: the numbers the keys hold (joined into one text: a busy party holds
        # hundreds, and one row is much cheaper to read than hundreds), the revision of the pools,
        # how many of the keys' holds have run out and must be released first, and, for
        # quarantine, the numbers each party left lately (a range of an index per party, each in
        # a column of its own: a union of the ranges costs a third more on SQLite).
        join = self._sql.JOIN_TEXT
        mine = f"FROM holds WHERE party IN ({marks(keys)}) AND hold_until"
        parties = party_keys(keys) if claim.policy is Policy.QUARANTINE else []
        since = now - LATE_CALL_HORIZON
        lately = [
            f"(SELECT {join}(virtual_number, ',') FROM (SELECT virtual_number FROM departures"
            f" WHERE party = ? AND ends_at > ? ORDER BY ends_at DESC LIMIT {RECENT_DEPARTURES}) AS d{i})"
            for i in range(len(parties))
        ]
        lately_params = [value for party in parties for value in (party, since)]
        row = await db.fetchrow(
            f"SELECT {join}(virtual_number, ','), (SELECT value FROM counters WHERE name = 'numbers'),"
            f" (SELECT COUNT(*) {mine} <= ?){''.join(', ' + column for column in lately)} {mine} > ?",
            *keys,
            now,
            *lately_params,
            *keys,
            now,
        )
        assert row is not None
        joined, revision, stale, *departed = row
        blocked = set(joined.split(",")) if joined else set()
        recent = _numbers(departed)
        released: list[Departure] = []
        if stale:
            # A session of these parties that has ended counts as left from its end on,
            # whether or not the sweep has run since.
            released = await release(db, keys, now)
            if parties and len(released) < stale:  # the sweep took some: read what it noted
                again = await db.fetchrow(f"SELECT {', '.join(lately)}", *lately_params)
                assert again is not None
                recent = _numbers(again)
            else:
                recent.update(n for p, n, ended in released if p in parties and ended > since)
        pool = await self._pool(db, claim, revision)
        place = self._move if moving else self._place
        fresh = candidates(pool, blocked, claim.policy, recent)
        placed = await self._first_taken(db, session, claim, fresh, now, place)
        if placed is None and recent:  # the parties left every free number lately
            # Each of the numbers read, and those released since, is among as many of the most
            # recent departures as were read and released.
            left, lengths = await self._late_calls(
                db, parties, since, RECENT_DEPARTURES + len(released), claim.pool_id, now
            )
            placed = await self._first_taken(
                db, session, claim, fewest_late_calls(pool, blocked, left, lengths, now), now, place
            )
        return placed

    async def _first_taken(
        self, db: Db, session: Session, claim: Claim, numbers: Iterable[str], now: int, place: _Place
    ) -> Session | None:
        """The session placed on the first of ``numbers`` that takes it; None if none does."""
        check_cooling = claim.quiet or claim.scope is CooloffScope.GLOBAL
        for number in numbers:
            if check_cooling and await self._has_cooling_session(db, number, now):
                continue
            placed = await place(db, session, number, claim)
            if placed is None:
                continue
            if claim.policy is Policy.LEAST_RECENT:
                await db.execute("UPDATE numbers SET last_used = ? WHERE number = ?", now, number)
            return placed
        return None

    @staticmethod
    async def _late_calls(
        db: Db, parties: Sequence[str], since: int, most: int, pool_id: str, now: int
    ) -> tuple[dict[str, list[int]], list[int]]:
        """In one round trip, what quarantine's last resort weighs: when ``parties`` left each
        number (each party's ``most`` most recent departures since ``since``), and how long the
        account's (``pool_id``, of all its countries) ``LENGTHS_READ`` most recently ended sessions
        lasted (a range of an index)."""
        rows = await db.fetch(
            " UNION ALL ".join(
                [
                    f"SELECT * FROM (SELECT virtual_number, ends_at FROM departures WHERE party = ?"
                    f" AND ends_at > ? ORDER BY ends_at DESC LIMIT {int(most)}) AS d{i}"
                    for i in range(len(parties))
                ]
                + [
                    "SELECT * FROM (SELECT NULL, expiry - created FROM sessions WHERE account_id = ?"
                    f" AND expiry <= ? ORDER BY expiry DESC, id DESC LIMIT {LENGTHS_READ}) AS l"
                ]
            ),
            *[value for party in parties for value in (party, since)],
            pool_id,
            now,
        )
        left: defaultdict[str, list[int]] = defaultdict(list)
        lengths = []
        for number, seconds in rows:
            if number is None:
                lengths.append(seconds)
            else:
                left[number].append(seconds)
        return left, lengths

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

    def _in_service(self) -> str:
        """A condition that ``?`` (a number) is in service and, where several writers share the
        database, stays so until the transaction ends: a retirement waits for the sessions being
        placed on the number, and a session placed once it began waits for it and finds the
        number retired, so that replacing a number sees every session on it."""
        return f"EXISTS (SELECT 1 FROM numbers WHERE number = ? AND state = 'in_service'{self._sql.SHARE})"

    async def _place(self, db: Db, session: Session, number: str, claim: Claim) -> Session | None:
        """Insert the session on ``number`` with all its keys, or nothing if a key is taken (or,
        with several writers, the number was retired meanwhile)."""
        s = session
        values = "VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0,NULL,?,?,?)"
        guard: tuple[str, ...] = ()
        if self._sql.SHARE:  # one writer at a time needs no guard: the pool was read in this unit
            values = f"SELECT ?,?,?,?,?,?,?,?,?,?,0,0,0,NULL,?,?,? WHERE {self._in_service()}"
            guard = (number,)
        row = await db.fetchrow(
            "INSERT INTO sessions (uuid, account_id, main_id, first_party, second_party,"
            " virtual_number, created, modified, expiry, cooloff_until, calls_live, total_call_count,"
            f" total_call_billed_duration, last_interaction, settings, pin, prompt) {values} RETURNING id",
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
            *guard,
        )
        if row is None:
            return None
        session_id = row[0]
        if await claim_keys(db, session_id, number, claim.keys, s.expiry, claim.hold_until) is not None:
            await db.execute("DELETE FROM holds WHERE session_id = ?", session_id)
            await db.execute("DELETE FROM sessions WHERE id = ?", session_id)
            return None
        s.virtual_number = number
        return s

    async def _move(self, db: Db, session: Session, number: str, claim: Claim) -> Session | None:
        """Hold the stored session's keys on ``number`` as well, and make it the session's number;
        nothing if a key is taken there. What it holds on its old number stays held until it ends."""
        if self._sql.SHARE:
            row = await db.fetchrow(f"SELECT {self._in_service()}", number)
            if row is None or not row[0]:
                return None
        taken = await claim_keys(db, session.id, number, claim.keys, session.expiry, claim.hold_until)
        if taken is not None:
            await db.execute(
                "DELETE FROM holds WHERE session_id = ? AND virtual_number = ?", session.id, number
            )
            return None
        await db.execute(
            "UPDATE sessions SET virtual_number = ?, modified = ? WHERE id = ?",
            number,
            session.modified,
            session.id,
        )
        return replace(session, virtual_number=number)
