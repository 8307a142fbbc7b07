"""The store's SQL for sessions: placing them on numbers (``sql_allocation``), reading and
changing them, the lookups that route calls to them, and the sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import msgspec

from maskline.domain import errors
from maskline.domain.allocation import WILDCARD, Claim, Move, pin_key
from maskline.domain.calls import Call
from maskline.domain.events import replaced_event, timeout_event
from maskline.domain.listing import ListQuery
from maskline.domain.lookup import PARTY_SESSIONS
from maskline.domain.message_log import Message
from maskline.domain.model import HistoryRow, Scope, Session
from maskline.domain.params import MAX_COOLOFF, SessionSettings
from maskline.domain.routing import NumberView
from maskline.domain.series import SeriesPoint
from maskline.store.db import Backend, Db, Row, marks, scope_sql
from maskline.store.sql_allocation import SqlAllocator, claim_keys, depart, release
from maskline.store.sql_calls import SqlCalls
from maskline.store.sql_console import SqlConsole
from maskline.store.sql_messages import SqlMessages
from maskline.store.sql_outbox import SqlOutbox
from maskline.store.sql_series import live_series

# perf: a session's columns in the order of Session's fields, all but the last (its calls), so
# that a row is its arguments: naming them costs several times more than the rest of reading a
# row (docs/benchmarks.md, "Where the Session API's time goes"). The order comes from the
# dataclass itself, so a new field cannot put a row out of step.
_SESSION_FIELDS = [field.name for field in dataclasses.fields(Session)][:-1]
_SETTINGS = _SESSION_FIELDS.index("settings")
_SESSION_COLUMNS = ", ".join(_SESSION_FIELDS)
_CONDITION_COLUMNS = {"created": "created", "expiry": "expiry", "duration": "(expiry - created)"}
_OPS = frozenset({"=", ">", ">=", "<", "<="})
_encode = msgspec.json.Encoder().encode
_decode_settings = msgspec.json.Decoder(SessionSettings).decode


def _started(interaction: Call | Message) -> int:
    return interaction.started if isinstance(interaction, Call) else interaction.created


def session_from_row(row: Row) -> Session:
    values = list(row)
    values[_SETTINGS] = _decode_settings(values[_SETTINGS])
    return Session(*values)


class _Stuck(Exception):
    """No number of the pool takes the session: undo the unit of work that was moving it."""

    def __init__(self, session: Session) -> None:
        self.session = session


class SqlSessions:
    def __init__(
        self, sql: Backend, calls: SqlCalls, outbox: SqlOutbox, messages: SqlMessages, console: SqlConsole
    ) -> None:
        self._sql = sql
        self._console = console  # the purge of old console sign-ins and reveals
        self._messages = messages  # a session's texts; the purge of them and of old nonces
        self._calls = calls  # a session's interactions, and the purge of ended calls
        self._outbox = outbox  # the sweep's timeout events
        self._allocator = SqlAllocator(sql)

    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session:
        """Store a new session on the first number of the pool that takes all its keys."""
        placed = await self._sql.transact(lambda db: self._allocator.allocate(db, session, claim, now))
        if placed is None:
            raise errors.PoolExhausted()
        return placed

    async def _sessions_where(self, db: Db, where: str, *params: object) -> list[Session]:
        rows = await db.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where}", *params)
        return [session_from_row(row) for row in rows]

    async def _with_interactions(self, session: Session) -> Session:
        """The session with its calls and texts, oldest first (calls before texts of the same
        second); None while it has neither."""
        found: list[Call | Message] = []
        if session.total_call_count or session.calls_live:
            found += await self._calls.interactions(session.uuid)
        if session.message_count:
            texts = await self._messages.session_messages(session.uuid)
            found = sorted([*found, *texts], key=_started) if found else list(texts)
        if found or session.total_call_count or session.calls_live:
            session.interactions = found
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
                " cooloff_until = ?, settings = ? WHERE uuid = ? AND expiry > ? RETURNING id, virtual_number",
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
            session_id, number = row  # the number as stored: a replacement may have moved it since
            if added:
                keys = list(added)
                await release(db, keys, now)
                taken = await claim_keys(db, session_id, number, keys, s.expiry, hold_until)
                if taken is not None:
                    raise errors.PartyTaken(added[taken])
            if released:
                ended = f"session_id = ? AND party IN ({marks(released)})"
                await depart(db, ended, session_id, *released)
            await db.execute(
                "UPDATE holds SET ends_at = ?, hold_until = ? WHERE session_id = ?",
                s.expiry,
                hold_until,
                session_id,
            )
            if hold_until <= now:
                await depart(db, "session_id = ?", session_id)
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
        if query.either_party is not None:
            clauses.append("(first_party = ? OR second_party = ?)")
            params += [query.either_party, query.either_party]
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
        rows = await self._sql.report.fetch(
            "SELECT s.created, s.expiry, s.cooloff_until, s.first_party, s.second_party,"
            " s.virtual_number, n.pool_id, n.country FROM sessions s"
            " JOIN numbers n ON n.number = s.virtual_number"
            f" WHERE {where}s.cooloff_until > ? ORDER BY s.created, s.id",
            *params,
            since,
        )
        return [HistoryRow(*row) for row in rows]

    async def party_sessions(self, scope: Scope, number: str, party: str, until: int) -> list[Session]:
        """The sessions in ``scope`` on ``number`` with ``party`` as a party, created by
        ``until``: the latest ``PARTY_SESSIONS`` of them, oldest first."""
        where, params = scope_sql(scope)
        found = await self._sessions_where(
            self._sql.read,
            f"virtual_number = ? AND created <= ? AND (first_party = ? OR second_party = ?) AND {where}"
            " ORDER BY created DESC, id DESC LIMIT ?",
            number,
            until,
            party,
            party,
            *params,
            PARTY_SESSIONS,
        )
        return found[::-1]

    async def live_series(
        self, main_id: str, pool: str, country: str, since: int, until: int, step: int
    ) -> list[SeriesPoint]:
        """Live sessions and Δ of the pool (``pool``, ``country``) of ``main_id`` at every step
        point from ``since`` to ``until`` (``maskline.domain.series``)."""
        return await live_series(self._sql.report, main_id, pool, country, since, until, step)

    # -- replacing a number -----------------------------------------------------------------
    async def live_on(self, number: str, main_id: str, now: int) -> list[str]:
        """The live sessions of ``main_id``'s pools on ``number``, oldest first (their uuids)."""
        rows = await self._sql.read.fetch(
            "SELECT uuid FROM sessions WHERE virtual_number = ? AND main_id = ? AND expiry > ? ORDER BY id",
            number,
            main_id,
            now,
        )
        return [row[0] for row in rows]

    async def move_session(
        self, uuid: str, number: str, claim_for: Callable[[Session], Claim | None], now: int
    ) -> tuple[Move, Session | None]:
        """Move the live session ``uuid`` off ``number`` to another of its pool, placed as a
        create is (``claim_for`` says what it needs, from the session as it is now), and tell
        its callback URL; one unit of work, so that nothing is half-moved. The keys it holds on
        ``number`` stay held until it ends: a party who dials the old number still reaches it."""

        async def work(db: Db) -> tuple[Move, Session | None]:
            # Taken for this unit of work (a row lock on PostgreSQL): an update or expiry waits.
            rows = await db.fetch(
                f"UPDATE sessions SET modified = ? WHERE uuid = ? AND virtual_number = ? AND expiry > ?"
                f" RETURNING {_SESSION_COLUMNS}",
                now,
                uuid,
                number,
                now,
            )
            if not rows:
                return Move.GONE, None
            session = session_from_row(rows[0])
            claim = claim_for(session)
            moved = await self._allocator.allocate(db, session, claim, now, moving=True) if claim else None
            if moved is None:
                raise _Stuck(session)
            event = replaced_event(moved, number, now)
            await self._outbox.enqueue(db, [event] if event else [])
            return Move.MOVED, moved

        try:
            return await self._sql.transact(work)
        except _Stuck as stuck:  # nothing written: the session stays where it was
            return Move.STUCK, stuck.session

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
            # Each sweep takes the seconds [since, now): a DELETE in the second of a sweep ends
            # its session at that second, which the next sweep then takes.
            ended = await self._sessions_where(db, "expiry >= ? AND expiry < ? ORDER BY id", since, now)
            await self._outbox.enqueue(db, [e for e in map(timeout_event, ended) if e is not None])
            await depart(
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
        at most ``limit`` of them, with their holds; the departures, ended calls, delivered
        events and message nonces from before then go with the last of them (a call deleting
        fewer than ``limit``). A purge in parts keeps each transaction, and the server's wait for
        it, short; each part is one unit of work across the sessions, the call log and the outbox."""
        return await self._sql.transact(lambda db: self._purge(db, before, now, limit))

    async def _purge(self, db: Db, before: int, now: int, limit: int | None = None) -> int:
        doomed = f"SELECT id FROM sessions WHERE {self._ENDED}"
        if limit is not None:
            doomed += f" ORDER BY id LIMIT {int(limit)}"
        await db.execute(f"DELETE FROM holds WHERE session_id IN ({doomed})", before, now)
        await self._messages.forget_messages(db, doomed, before, now)
        rows = await db.fetch(f"DELETE FROM sessions WHERE id IN ({doomed}) RETURNING id", before, now)
        if limit is None or len(rows) < limit:
            await db.execute("DELETE FROM departures WHERE ends_at < ?", before)
            await self._calls.forget_ended(db, before)
            await self._outbox.forget_settled(db, before)
            await self._messages.forget_nonces(db, before)
            await self._console.forget(db, before)
        return len(rows)
