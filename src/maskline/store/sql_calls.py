"""The store's SQL for calls: carriers, routing views, the interaction log and the event outbox."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from maskline.domain.allocation import WILDCARD, pin_key
from maskline.domain.calls import Call, CallState, Carrier, CarrierKind, LegStatus
from maskline.domain.events import Event, Outgoing
from maskline.domain.model import Scope, Session
from maskline.domain.routing import NumberView
from maskline.store.db import Db, Row, marks, scope_sql

T = TypeVar("T")

_CALL_FIELDS = (
    "account_id", "call_id", "virtual_number", "caller", "started", "state", "session_uuid",
    "callee", "caller_is_first", "pin_attempts", "answered", "ended", "a_leg", "b_leg",
    "a_status", "b_status", "recording_url", "duration", "billed", "deadline",
)  # fmt: skip
_CALL_COLUMNS = ", ".join(_CALL_FIELDS)
_COUNTED = (CallState.DIALLING, CallState.BRIDGED)  # calls that make a session in-progress
LEASE = 300  # seconds a process has to finish with an event or call it took; then others may


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
    """Mixed into SqlStore, whose driver and units of work it uses."""

    _read: Db
    LOCK: str
    SKIP_LOCKED: str

    async def _transact(self, work: Callable[[Db], Awaitable[T]]) -> T: ...  # from SqlStore
    async def _sessions_where(self, db: Db, where: str, *params: object) -> list[Session]: ...

    # -- carriers ---------------------------------------------------------------------------
    async def set_carrier(self, carrier: Carrier) -> None:
        await self._transact(
            lambda db: db.execute(
                "INSERT INTO carriers (account_id, carrier, auth_token, carrier_auth_id, public_url)"
                " VALUES (?,?,?,?,?) ON CONFLICT (account_id) DO UPDATE SET carrier = excluded.carrier,"
                " auth_token = excluded.auth_token, carrier_auth_id = excluded.carrier_auth_id,"
                " public_url = excluded.public_url",
                carrier.account_id,
                carrier.kind.value,
                carrier.auth_token,
                carrier.carrier_auth_id,
                carrier.public_url,
            )
        )

    async def get_carrier(self, account_id: str) -> Carrier | None:
        row = await self._read.fetchrow(
            "SELECT c.carrier, c.auth_token, c.carrier_auth_id, c.public_url,"
            " COALESCE(a.parent_id, a.auth_id) FROM carriers c JOIN accounts a ON a.auth_id = c.account_id"
            " WHERE c.account_id = ?",
            account_id,
        )
        return None if row is None else Carrier(account_id, CarrierKind(row[0]), *row[1:])

    # -- routing ----------------------------------------------------------------------------
    async def _held_session(self, key: str, number: str, scope: Scope, now: int) -> Session | None:
        """The live session in ``scope`` holding ``key`` on ``number`` (the guard index makes it
        unique)."""
        where, params = scope_sql(scope)
        found = await self._sessions_where(
            self._read,
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
        owned = await self._read.fetchrow(
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
            self._read,
            f"virtual_number = ? AND pin AND expiry > ? AND {where} ORDER BY expiry DESC LIMIT 1",
            number,
            now,
            *params,
        )
        prompt = await self._sessions_where(
            self._read,
            f"virtual_number = ? AND prompt AND expiry > ? AND {where}"
            " ORDER BY created DESC, id DESC LIMIT 1",
            number,
            now,
            *params,
        )
        return NumberView(pin=pin[0] if pin else None, prompt=prompt[0] if prompt else None)

    async def number_owner(self, number: str) -> str | None:
        """The main account whose pool holds ``number``, if any."""
        row = await self._read.fetchrow("SELECT main_id FROM numbers WHERE number = ?", number)
        return None if row is None else str(row[0])

    async def had_session(self, caller: str, number: str, scope: Scope, now: int) -> bool:
        """Whether ``caller`` was a party of a session in ``scope`` on ``number`` that has ended."""
        where, params = scope_sql(scope)
        row = await self._read.fetchrow(
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
        found = await self._sessions_where(self._read, f"uuid = ? AND {where}", session_uuid, *params)
        return found[0] if found else None

    # -- the interaction log ----------------------------------------------------------------
    async def get_call(self, account_id: str, call_id: str) -> Call | None:
        row = await self._read.fetchrow(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE account_id = ? AND call_id = ?", account_id, call_id
        )
        return None if row is None else _call(row)

    async def save_call(
        self, call: Call, before: Call | None, counterpart: str = "", events: Sequence[Event] = ()
    ) -> bool:
        """Write a call and keep its session's figures in step; False if ``before`` is None and
        the call was recorded already (carriers retry their webhooks)."""
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
            await self._enqueue(db, events)
            return True

        return await self._transact(work)

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
                f" ORDER BY deadline LIMIT ?{self.SKIP_LOCKED}) RETURNING {_CALL_COLUMNS}",
                now + LEASE,
                now,
                limit,
            )

        return [_call(row) for row in await self._transact(work)]

    async def interactions(self, session_uuid: str) -> list[Call]:
        rows = await self._read.fetch(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE session_uuid = ? AND callee != '' ORDER BY started, id",
            session_uuid,
        )
        return [_call(row) for row in rows]

    # -- the event outbox -------------------------------------------------------------------
    async def _enqueue(self, db: Db, events: Sequence[Event]) -> None:
        for event in events:
            if self.LOCK:  # one writer of a session's sequence numbers at a time
                await db.execute(f"SELECT 1 FROM sessions WHERE uuid = ?{self.LOCK}", event.session_uuid)
            row = await db.fetchrow(
                "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE session_uuid = ?", event.session_uuid
            )
            assert row is not None
            sequence = row[0]
            payload = {**event.fields, "SequenceNumber": str(sequence)}
            await db.execute(
                "INSERT INTO events (account_id, session_uuid, sequence, url, method, payload, dedup,"
                " pending, attempts, next_attempt, delivered, last_error, created)"
                " VALUES (?,?,?,?,?,?,?,TRUE,0,?,NULL,'',?) ON CONFLICT (dedup) DO NOTHING",
                event.account_id,
                event.session_uuid,
                sequence,
                event.url,
                event.method,
                json.dumps(payload),
                event.dedup,
                event.created,
                event.created,
            )

    async def enqueue_events(self, events: Sequence[Event]) -> None:
        if events:
            await self._transact(lambda db: self._enqueue(db, events))

    async def due_events(self, now: int, limit: int) -> list[Outgoing]:
        """Events due for delivery, each leased to this process for a while so that other
        processes leave it alone (``event_attempted`` settles it)."""

        async def work(db: Db) -> list[Row]:
            return await db.fetch(
                "UPDATE events SET next_attempt = ? WHERE id IN (SELECT id FROM events"
                f" WHERE pending AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?{self.SKIP_LOCKED})"
                " RETURNING id, account_id, url, method, payload, attempts, session_uuid",
                now + LEASE,
                now,
                limit,
            )

        rows = sorted(await self._transact(work), key=lambda row: row[0])
        return [Outgoing(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    async def release_events(self, events: Sequence[Outgoing], at: int) -> None:
        """Hand events taken by ``due_events`` back, due again at ``at``, without an attempt.
        The later pending events of the same session and URL become due no earlier, so that
        they stay behind these."""

        async def work(db: Db) -> None:
            ids = [event.id for event in events]
            await db.execute(
                f"UPDATE events SET next_attempt = ? WHERE pending AND id IN ({marks(ids)})", at, *ids
            )
            first: dict[tuple[str, str], int] = {}
            for event in events:
                key = (event.session_uuid, event.url)
                first[key] = min(first.get(key, event.id), event.id)
            for (session_uuid, url), event_id in first.items():
                await db.execute(
                    "UPDATE events SET next_attempt = ? WHERE session_uuid = ? AND url = ? AND id > ?"
                    " AND pending AND next_attempt < ?",
                    at,
                    session_uuid,
                    url,
                    event_id,
                    at,
                )

        if events:
            await self._transact(work)

    async def event_attempted(
        self, event_id: int, attempts: int, now: int, retry_at: int | None, error: str
    ) -> None:
        """Record an attempt: delivered (``error`` empty), to retry at ``retry_at``, or given up."""
        await self._transact(
            lambda db: db.execute(
                "UPDATE events SET attempts = ?, pending = ?, next_attempt = ?, delivered = ?,"
                " last_error = ? WHERE id = ?",
                attempts,
                bool(error) and retry_at is not None,
                retry_at or now,
                None if error else now,
                error[:500],
                event_id,
            )
        )
