"""The store's SQL for messages: the message log of each session, opt-outs, the counterpart a
text leaves on a single-party session, and the message signatures' nonces. A message's body is
stored only when the service hands one over (the operator keeps bodies); otherwise NULL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from maskline.domain.events import Event
from maskline.domain.message_log import Direction, Message, Party, Status
from maskline.domain.model import Scope
from maskline.store.db import Backend, Db, scope_sql
from maskline.store.sql_outbox import SqlOutbox

_FIELDS = (
    "account_id", "message_id", "session_uuid", "virtual_number", "direction", "from_party",
    "to_party", "sender", "recipient", "created", "status", "updated", "segments", "media", "body",
)  # fmt: skip
_COLUMNS = ", ".join(_FIELDS)


def _message(row: Sequence[Any]) -> Message:
    fields = dict(zip(_FIELDS, row, strict=True))
    fields.update(
        direction=Direction(fields["direction"]),
        from_party=Party(fields["from_party"]),
        to_party=Party(fields["to_party"]),
        status=Status(fields["status"]),
        body=fields["body"] or "",
    )
    return Message(**fields)


class SqlMessages:
    def __init__(self, sql: Backend, outbox: SqlOutbox) -> None:
        self._sql = sql
        self._outbox = outbox

    # -- the message log ------------------------------------------------------------------
    async def record_message(self, message: Message, events: Sequence[Event] = ()) -> bool:
        """Log a message of a session, count it on the session and queue its ``events``, in
        one unit of work; False if the carrier's id was logged already (a retried webhook)."""
        values = [getattr(message, f) for f in _FIELDS]
        values[-1] = message.body or None

        async def work(db: Db) -> bool:
            inserted = await db.fetchrow(
                f"INSERT INTO messages ({_COLUMNS}) VALUES ({','.join('?' * len(_FIELDS))})"
                " ON CONFLICT (account_id, message_id) DO NOTHING RETURNING id",
                *values,
            )
            if inserted is None:
                return False
            await db.execute(
                "UPDATE sessions SET message_count = message_count + 1 WHERE uuid = ?", message.session_uuid
            )
            await self._outbox.enqueue(db, events)
            return True

        return await self._sql.transact(work)

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        row = await self._sql.read.fetchrow(
            f"SELECT {_COLUMNS} FROM messages WHERE account_id = ? AND message_id = ?", account_id, message_id
        )
        return None if row is None else _message(row)

    async def report_message(self, message: Message, before: Status, events: Sequence[Event] = ()) -> bool:
        """Store the status a delivery report moved ``message`` to (from ``before``) with its
        ``events``; False if another report moved it first."""

        async def work(db: Db) -> bool:
            row = await db.fetchrow(
                "UPDATE messages SET status = ?, updated = ?, segments = COALESCE(?, segments)"
                " WHERE account_id = ? AND message_id = ? AND status = ? RETURNING id",
                message.status.value,
                message.updated,
                message.segments,
                message.account_id,
                message.message_id,
                before.value,
            )
            if row is None:
                return False
            await self._outbox.enqueue(db, events)
            return True

        return await self._sql.transact(work)

    async def session_messages(self, session_uuid: str) -> list[Message]:
        rows = await self._sql.read.fetch(
            f"SELECT {_COLUMNS} FROM messages WHERE session_uuid = ? ORDER BY created, id", session_uuid
        )
        return [_message(row) for row in rows]

    async def messages_near(
        self, scope: Scope, number: str, party: str, since: int, until: int
    ) -> list[Message]:
        """The texts through ``number`` that ``party`` wrote or was sent, from ``since`` to
        ``until``, through sessions of ``scope``: found through the number's sessions that were
        held then (an index range), then each one's texts (another)."""
        where, params = scope_sql(scope)
        rows = await self._sql.read.fetch(
            f"SELECT {_COLUMNS} FROM messages WHERE session_uuid IN (SELECT uuid FROM sessions"
            f" WHERE virtual_number = ? AND cooloff_until >= ? AND created <= ? AND {where})"
            " AND virtual_number = ? AND (sender = ? OR recipient = ?) AND created >= ? AND created <= ?"
            " ORDER BY created, id",
            number,
            since,
            until,
            *params,
            number,
            party,
            party,
            since,
            until,
        )
        return [_message(row) for row in rows]

    @staticmethod
    async def forget_messages(db: Db, doomed: str, *params: object) -> None:
        """Part of the purge: the messages of the sessions whose ids ``doomed`` selects."""
        await db.execute(
            f"DELETE FROM messages WHERE session_uuid IN (SELECT uuid FROM sessions WHERE id IN ({doomed}))",
            *params,
        )

    async def serves_number(self, number: str, scope: Scope) -> bool:
        """Whether ``number`` is in one of ``scope``'s pools (its webhooks reach nothing else)."""
        where, params = scope_sql(scope, owner="pool_id")
        row = await self._sql.read.fetchrow(
            f"SELECT 1 FROM numbers WHERE number = ? AND {where}", number, *params
        )
        return row is not None

    async def opted_out(self, party: str, number: str) -> bool:
        row = await self._sql.read.fetchrow(
            "SELECT 1 FROM opt_outs WHERE party = ? AND virtual_number = ?", party, number
        )
        return row is not None

    async def set_opted_out(self, party: str, number: str, opted_out: bool, now: int) -> None:
        """Remember ``party``'s STOP to ``number`` (a second one keeps the first's time), or
        forget it on their START."""

        async def work(db: Db) -> None:
            if opted_out:
                await db.execute(
                    "INSERT INTO opt_outs (party, virtual_number, since) VALUES (?, ?, ?)"
                    " ON CONFLICT (party, virtual_number) DO NOTHING",
                    party,
                    number,
                    now,
                )
            else:
                await db.execute("DELETE FROM opt_outs WHERE party = ? AND virtual_number = ?", party, number)

        await self._sql.transact(work)

    async def note_counterpart(self, session_uuid: str, counterpart: str, now: int) -> None:
        """``counterpart`` wrote to the single-party session ``session_uuid``: its party's
        replies, texts and calls alike, go back to them (while it is live)."""
        await self._sql.transact(
            lambda db: db.execute(
                "UPDATE sessions SET last_counterpart = ? WHERE uuid = ? AND expiry > ?",
                counterpart,
                session_uuid,
                now,
            )
        )

    async def first_use(self, account_id: str, nonce: str, now: int) -> bool:
        """Take ``nonce`` for ``account_id``; False if it was taken before (a replay)."""

        async def work(db: Db) -> bool:
            row = await db.fetchrow(
                "INSERT INTO webhook_nonces (account_id, nonce, seen) VALUES (?, ?, ?)"
                " ON CONFLICT (account_id, nonce) DO NOTHING RETURNING seen",
                account_id,
                nonce,
                now,
            )
            return row is not None

        return await self._sql.transact(work)

    @staticmethod
    async def forget_nonces(db: Db, before: int) -> None:
        """Part of the purge: the nonces taken before ``before``."""
        await db.execute("DELETE FROM webhook_nonces WHERE seen < ?", before)
