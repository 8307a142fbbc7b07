"""The store's SQL for calls: the interaction log, and each session's running figures of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from maskline.domain.calls import Call, CallState, LegStatus
from maskline.domain.events import Event
from maskline.domain.health import NumberCalls
from maskline.domain.model import NumberState, Scope
from maskline.store.db import Backend, Db, Row, scope_sql
from maskline.store.sql_outbox import LEASE, SqlOutbox

_CALL_FIELDS = (
    "account_id", "call_id", "virtual_number", "caller", "started", "state", "session_uuid",
    "callee", "caller_is_first", "pin_attempts", "answered", "ended", "a_leg", "b_leg",
    "a_status", "b_status", "recording_url", "duration", "billed", "deadline", "b_cause",
)  # fmt: skip
_CALL_COLUMNS = ", ".join(_CALL_FIELDS)
_COUNTED = (CallState.DIALLING, CallState.BRIDGED)  # calls that make a session in-progress


def _call(row: Sequence[Any]) -> Call:
    fields = dict(zip(_CALL_FIELDS, row, strict=True))
    fields.update(
        state=CallState(fields["state"]),
        caller_is_first=bool(fields["caller_is_first"]),
        a_status=LegStatus(fields["a_status"]),
        b_status=LegStatus(fields["b_status"]),
    )
    return Call(**fields)


class SqlCalls:
    def __init__(self, sql: Backend, outbox: SqlOutbox) -> None:
        self._sql = sql
        self._outbox = outbox

    # -- the interaction log ----------------------------------------------------------------
    async def get_call(self, account_id: str, call_id: str) -> Call | None:
        row = await self._sql.read.fetchrow(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE account_id = ? AND call_id = ?", account_id, call_id
        )
        return None if row is None else _call(row)

    async def save_call(
        self, call: Call, before: Call | None, counterpart: str = "", events: Sequence[Event] = ()
    ) -> bool:
        """Write a call and keep its session's figures in step; False if ``before`` is None and
        the call was recorded already (carriers retry their webhooks).

        One unit of work writes the call, its session's figures and the ``events`` it makes
        (into the outbox): a session's figures always add up its calls, and an event is sent
        if and only if what it tells of was stored."""
        values = [getattr(call, f) for f in _CALL_FIELDS]

        async def work(db: Db) -> bool:
            if before is None:
                inserted = await db.fetchrow(
                    f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES ({','.join('?' * len(_CALL_FIELDS))})"
                    " ON CONFLICT (account_id, call_id) DO NOTHING RETURNING id",
                    *values,
                )
                if inserted is None:
                    return False
            else:
                assignments = ", ".join(f"{f} = ?" for f in _CALL_FIELDS[2:])
                await db.execute(
                    f"UPDATE calls SET {assignments} WHERE account_id = ? AND call_id = ?",
                    *values[2:],
                    call.account_id,
                    call.call_id,
                )
            if call.session_uuid is not None:
                await self._account_for(db, call, before, counterpart)
            await self._outbox.enqueue(db, events)
            return True

        return await self._sql.transact(work)

    @staticmethod
    async def _account_for(db: Db, call: Call, before: Call | None, counterpart: str) -> None:
        was_live = (
            before is not None and before.state in _COUNTED and before.session_uuid == call.session_uuid
        )
        change = int(call.state in _COUNTED) - int(was_live)
        ended = call.state is CallState.ENDED and (before is None or before.state is not CallState.ENDED)
        counted = ended and bool(call.callee)  # only calls routed to a party are interactions
        await db.execute(
            "UPDATE sessions SET calls_live = CASE WHEN calls_live + ? < 0 THEN 0 ELSE calls_live + ? END,"
            " total_call_count = total_call_count + ?,"
            " total_call_billed_duration = total_call_billed_duration + ?,"
            " last_interaction = COALESCE(?, last_interaction),"
            " last_counterpart = CASE WHEN ? = '' THEN last_counterpart ELSE ? END"
            " WHERE uuid = ?",
            change,
            change,
            call.legs if counted else 0,
            call.billed if counted else 0,
            call.ended if counted else None,
            counterpart,
            counterpart,
            call.session_uuid,
        )

    async def overdue_calls(self, now: int, limit: int) -> list[Call]:
        """Live calls past their deadline, each leased to this process for a while so that
        other processes leave it alone."""

        async def work(db: Db) -> list[Row]:
            return await db.fetch(
                "UPDATE calls SET deadline = ? WHERE id IN (SELECT id FROM calls"
                " WHERE state IN ('dialling', 'bridged') AND deadline < ?"
                f" ORDER BY deadline LIMIT ?{self._sql.SKIP_LOCKED}) RETURNING {_CALL_COLUMNS}",
                now + LEASE,
                now,
                limit,
            )

        return [_call(row) for row in await self._sql.transact(work)]

    async def interactions(self, session_uuid: str) -> list[Call]:
        rows = await self._sql.read.fetch(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE session_uuid = ? AND callee != '' ORDER BY started, id",
            session_uuid,
        )
        return [_call(row) for row in rows]

    async def number_calls(
        self, main_id: str | None, since: int, until: int, short_call: int
    ) -> list[NumberCalls]:
        """What the calls of each number in service came to, from ``since`` to ``until``
        (``main_id``'s numbers; None: every account's): the calls that reached the dialled
        party and ended, the answered among them, the answered shorter than ``short_call``
        seconds, and the unanswered by end cause. One read, a range of one index per number."""
        where, params = ("n.state = ? AND n.main_id = ?", [main_id]) if main_id else ("n.state = ?", [])
        rows = await self._sql.read.fetch(
            "SELECT n.main_id, n.pool_id, n.country, n.number, c.b_cause, COUNT(c.id),"
            " COALESCE(SUM(CASE WHEN c.answered IS NULL THEN 0 ELSE 1 END), 0),"
            " COALESCE(SUM(CASE WHEN c.answered IS NOT NULL AND c.billed < ? THEN 1 ELSE 0 END), 0)"
            " FROM numbers n LEFT JOIN calls c ON c.virtual_number = n.number"
            " AND c.started >= ? AND c.started < ? AND c.state = 'ended' AND c.callee <> ''"
            f" WHERE {where} GROUP BY n.id, n.main_id, n.pool_id, n.country, n.number, c.b_cause"
            " ORDER BY n.id",
            short_call,
            since,
            until,
            NumberState.IN_SERVICE.value,
            *params,
        )
        found: dict[str, NumberCalls] = {}
        for main, pool, country, number, cause, dialled, answered, short in rows:
            before = found.get(number) or NumberCalls(main, pool, country, number, causes={})
            causes = dict(before.causes)
            if int(dialled) > int(answered):
                causes[cause or ""] = causes.get(cause or "", 0) + int(dialled) - int(answered)
            found[number] = NumberCalls(
                main, pool, country, number,
                before.dialled + int(dialled), before.answered + int(answered), before.short + int(short),
                causes,
            )  # fmt: skip
        return list(found.values())

    async def calls_near(self, scope: Scope, number: str, party: str, since: int, until: int) -> list[Call]:
        """The calls through ``number``, a number of ``scope``'s pools, that ``party`` made or
        was put through to, that started from ``since`` to ``until``: a range of the number's
        index of calls by start."""
        where, params = scope_sql(scope, owner="pool_id")
        rows = await self._sql.read.fetch(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE virtual_number = ? AND started >= ? AND started <= ?"
            " AND (caller = ? OR callee = ?)"
            f" AND virtual_number IN (SELECT number FROM numbers WHERE {where})"
            " ORDER BY started, id",
            number,
            since,
            until,
            party,
            party,
            *params,
        )
        return [_call(row) for row in rows]

    async def session_calls(self, session_uuid: str) -> list[Call]:
        """Every call that went through the session (reached a party or not), oldest first."""
        rows = await self._sql.read.fetch(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE session_uuid = ? ORDER BY started, id", session_uuid
        )
        return [_call(row) for row in rows]

    @staticmethod
    async def forget_ended(db: Db, before: int) -> None:
        """Delete, within a purge, the calls that started before ``before`` and have ended."""
        await db.execute("DELETE FROM calls WHERE started < ? AND state = 'ended'", before)
