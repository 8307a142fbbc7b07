"""The embedded store's part for calls: carriers, routing views and the interaction log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from maskline.domain.allocation import WILDCARD, pin_key
from maskline.domain.calls import Call, CallState, Carrier, CarrierKind
from maskline.domain.events import Event, Outgoing
from maskline.domain.model import Session
from maskline.domain.routing import NumberView

_CALL_FIELDS = (
    "account_id", "call_id", "virtual_number", "caller", "started", "state", "session_uuid",
    "callee", "caller_is_first", "pin_attempts", "answered", "ended", "a_leg", "b_leg",
    "a_status", "b_status", "recording_url", "duration", "billed", "deadline",
)  # fmt: skip
_CALL_COLUMNS = ", ".join(_CALL_FIELDS)
_COUNTED = (CallState.DIALLING, CallState.BRIDGED)  # calls that make a session in-progress


def _call(row: tuple[Any, ...]) -> Call:
    call = Call(**dict(zip(_CALL_FIELDS, row, strict=True)))
    call.state = CallState(call.state)
    call.caller_is_first = bool(call.caller_is_first)
    return call


class SQLiteCalls:
    """Mixed into SQLiteStore, whose connection, units and commit it uses."""

    _db: sqlite3.Connection

    def _unit(self) -> AbstractContextManager[sqlite3.Connection]: ...  # from SQLiteStore
    async def _durable(self) -> None: ...
    def _sessions_where(self, where: str, params: Sequence[object]) -> Iterator[Session]: ...

    # -- carriers ---------------------------------------------------------------------------
    async def set_carrier(self, carrier: Carrier) -> None:
        with self._unit() as db:
            db.execute(
                "INSERT INTO carriers (account_id, carrier, auth_token, carrier_auth_id, public_url)"
                " VALUES (?,?,?,?,?) ON CONFLICT (account_id) DO UPDATE SET carrier = excluded.carrier,"
                " auth_token = excluded.auth_token, carrier_auth_id = excluded.carrier_auth_id,"
                " public_url = excluded.public_url",
                (
                    carrier.account_id,
                    carrier.kind.value,
                    carrier.auth_token,
                    carrier.carrier_auth_id,
                    carrier.public_url,
                ),
            )
        await self._durable()

    async def get_carrier(self, account_id: str) -> Carrier | None:
        row = self._db.execute(
            "SELECT c.carrier, c.auth_token, c.carrier_auth_id, c.public_url,"
            " COALESCE(a.parent_id, a.auth_id) FROM carriers c JOIN accounts a ON a.auth_id = c.account_id"
            " WHERE c.account_id = ?",
            (account_id,),
        ).fetchone()
        return None if row is None else Carrier(account_id, CarrierKind(row[0]), *row[1:])

    # -- routing ----------------------------------------------------------------------------
    def _held_session(self, key: str, number: str, now: int) -> Session | None:
        """The live session holding ``key`` on ``number`` (the guard index makes it unique)."""
        return next(
            self._sessions_where(
                "id = (SELECT session_id FROM allocations WHERE held AND party = ? AND virtual_number = ?)"
                " AND expiry > ?",
                (key, number, now),
            ),
            None,
        )

    async def number_view(self, caller: str | None, number: str, main_id: str, now: int) -> NumberView:
        """What a call from ``caller`` to ``number`` may reach; nothing unless the number is
        one of ``main_id``'s (a carrier's webhooks route only their own account's numbers)."""
        owner = self._db.execute("SELECT main_id FROM numbers WHERE number = ?", (number,)).fetchone()
        if owner is None or owner[0] != main_id:
            return NumberView()
        own = self._held_session(caller, number, now) if caller else None
        if own is not None:
            return NumberView(own=own)
        open_session = self._held_session(WILDCARD, number, now)
        if open_session is not None:
            return NumberView(open=open_session)
        # An unknown caller on a shared number: the live PIN session that lasts longest, and the
        # newest live session with a prompt; partial indexes keep both lookups short.
        pin = self._sessions_where(
            "virtual_number = ? AND pin AND expiry > ? ORDER BY expiry DESC LIMIT 1", (number, now)
        )
        prompt = self._sessions_where(
            "virtual_number = ? AND prompt AND expiry > ? ORDER BY created DESC, id DESC LIMIT 1",
            (number, now),
        )
        return NumberView(pin=next(pin, None), prompt=next(prompt, None))

    async def session_by_pin(self, number: str, pin: str, now: int) -> Session | None:
        return self._held_session(pin_key(pin), number, now)

    async def session_by_uuid(self, account_id: str, session_uuid: str) -> Session | None:
        return next(self._sessions_where("uuid = ? AND account_id = ?", (session_uuid, account_id)), None)

    # -- the interaction log ----------------------------------------------------------------
    async def get_call(self, account_id: str, call_id: str) -> Call | None:
        row = self._db.execute(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE account_id = ? AND call_id = ?", (account_id, call_id)
        ).fetchone()
        return None if row is None else _call(row)

    async def save_call(
        self, call: Call, before: Call | None, counterpart: str = "", events: Sequence[Event] = ()
    ) -> bool:
        """Write a call and keep its session's figures in step; False if ``before`` is None and
        the call was recorded already (carriers retry their webhooks)."""
        values = [getattr(call, f) for f in _CALL_FIELDS]
        with self._unit() as db:
            if before is None:
                marks = ",".join("?" * len(_CALL_FIELDS))
                inserted = db.execute(
                    f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES ({marks})"
                    " ON CONFLICT (account_id, call_id) DO NOTHING RETURNING id",
                    values,
                ).fetchone()
                if inserted is None:
                    return False
            else:
                assignments = ", ".join(f"{f} = ?" for f in _CALL_FIELDS[2:])
                db.execute(
                    f"UPDATE calls SET {assignments} WHERE account_id = ? AND call_id = ?",
                    [*values[2:], call.account_id, call.call_id],
                )
            if call.session_uuid is not None:
                self._account_for(call, before, counterpart)
            self._enqueue(events)
        await self._durable()
        return True

    def _account_for(self, call: Call, before: Call | None, counterpart: str) -> None:
        was_live = (
            before is not None and before.state in _COUNTED and before.session_uuid == call.session_uuid
        )
        live = call.state in _COUNTED
        ended = call.state is CallState.ENDED and (before is None or before.state is not CallState.ENDED)
        counted = ended and bool(call.callee)  # only calls routed to a party are interactions
        self._db.execute(
            "UPDATE sessions SET calls_live = MAX(calls_live + ?, 0),"
            " total_call_count = total_call_count + ?,"
            " total_call_billed_duration = total_call_billed_duration + ?,"
            " last_interaction = COALESCE(?, last_interaction),"
            " last_counterpart = CASE WHEN ? = '' THEN last_counterpart ELSE ? END"
            " WHERE uuid = ?",
            (
                int(live) - int(was_live),
                call.legs if counted else 0,
                call.billed if counted else 0,
                call.ended if counted else None,
                counterpart,
                counterpart,
                call.session_uuid,
            ),
        )

    async def overdue_calls(self, now: int, limit: int) -> list[Call]:
        rows = self._db.execute(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE state IN ('dialling', 'bridged') AND deadline < ?"
            " ORDER BY deadline LIMIT ?",
            (now, limit),
        ).fetchall()
        return [_call(row) for row in rows]

    async def interactions(self, session_uuid: str) -> list[Call]:
        rows = self._db.execute(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE session_uuid = ? AND callee != '' ORDER BY started, id",
            (session_uuid,),
        ).fetchall()
        return [_call(row) for row in rows]

    # -- the event outbox -------------------------------------------------------------------
    def _enqueue(self, events: Sequence[Event]) -> None:
        for event in events:
            sequence = self._db.execute(
                "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE session_uuid = ?",
                (event.session_uuid,),
            ).fetchone()[0]
            payload = {**event.fields, "SequenceNumber": str(sequence)}
            self._db.execute(
                "INSERT INTO events (account_id, session_uuid, sequence, url, method, payload, dedup,"
                " pending, attempts, next_attempt, delivered, last_error, created)"
                " VALUES (?,?,?,?,?,?,?,1,0,?,NULL,'',?) ON CONFLICT (dedup) DO NOTHING",
                (
                    event.account_id,
                    event.session_uuid,
                    sequence,
                    event.url,
                    event.method,
                    json.dumps(payload),
                    event.dedup,
                    event.created,
                    event.created,
                ),
            )

    async def enqueue_events(self, events: Sequence[Event]) -> None:
        if events:
            with self._unit():
                self._enqueue(events)
            await self._durable()

    async def due_events(self, now: int, limit: int) -> list[Outgoing]:
        rows = self._db.execute(
            "SELECT id, account_id, url, method, payload, attempts FROM events"
            " WHERE pending AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [Outgoing(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    async def event_attempted(
        self, event_id: int, attempts: int, now: int, retry_at: int | None, error: str
    ) -> None:
        """Record an attempt: delivered (``error`` empty), to retry at ``retry_at``, or given up."""
        with self._unit() as db:
            db.execute(
                "UPDATE events SET attempts = ?, pending = ?, next_attempt = ?, delivered = ?,"
                " last_error = ? WHERE id = ?",
                (
                    attempts,
                    bool(error) and retry_at is not None,
                    retry_at or now,
                    None if error else now,
                    error[:500],
                    event_id,
                ),
            )
        await self._durable()
