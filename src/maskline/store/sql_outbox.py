"""The store's SQL for the event outbox: events wait here, leased to one process at a time,
until they are delivered or given up."""

from __future__ import annotations

import json
from collections.abc import Sequence

from maskline.domain.delivery import EventDelivery, delivery_state
from maskline.domain.events import Event, Outgoing
from maskline.store.db import Backend, Db, Row, marks

LEASE = 300  # seconds a process has to finish with an event or call it took; then others may


class SqlOutbox:
    def __init__(self, sql: Backend) -> None:
        self._sql = sql

    async def enqueue(self, db: Db, events: Sequence[Event]) -> None:
        """Add ``events`` within a unit of work (another part's, when the events are news of
        what that unit writes: they are stored if and only if it is)."""
        lock = self._sql.LOCK
        for event in events:
            if lock:  # one writer of a session's sequence numbers at a time
                await db.execute(f"SELECT 1 FROM sessions WHERE uuid = ?{lock}", event.session_uuid)
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
            await self._sql.transact(lambda db: self.enqueue(db, events))

    async def due_events(self, now: int, limit: int) -> list[Outgoing]:
        """Events due for delivery, each leased to this process for a while so that other
        processes leave it alone (``event_attempted`` settles it)."""

        async def work(db: Db) -> list[Row]:
            return await db.fetch(
                "UPDATE events SET next_attempt = ? WHERE id IN (SELECT id FROM events"
                " WHERE pending AND next_attempt <= ? ORDER BY next_attempt, id"
                f" LIMIT ?{self._sql.SKIP_LOCKED})"
                " RETURNING id, account_id, url, method, payload, attempts, session_uuid",
                now + LEASE,
                now,
                limit,
            )

        rows = sorted(await self._sql.transact(work), key=lambda row: row[0])
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
            await self._sql.transact(work)

    async def event_attempted(
        self, event_id: int, attempts: int, now: int, retry_at: int | None, error: str
    ) -> None:
        """Record an attempt: delivered (``error`` empty), to retry at ``retry_at``, or given up."""
        await self._sql.transact(
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

    async def session_events(self, session_uuid: str) -> list[EventDelivery]:
        """The events of a session that the outbox still keeps, in sequence order."""
        rows = await self._sql.read.fetch(
            "SELECT sequence, payload, url, method, created, pending, attempts, next_attempt, delivered,"
            " last_error FROM events WHERE session_uuid = ? ORDER BY sequence",
            session_uuid,
        )
        return [
            EventDelivery(
                sequence=row[0],
                name=str(json.loads(row[1]).get("EventName", "")),
                url=row[2],
                method=row[3],
                created=row[4],
                state=delivery_state(bool(row[5]), row[6], row[8]),
                attempts=row[6],
                next_attempt=row[7] if row[5] else None,
                delivered_at=row[8],
                last_error=row[9],
            )
            for row in rows
        ]

    @staticmethod
    async def forget_settled(db: Db, before: int) -> None:
        """Delete, within a purge, the events made before ``before`` that are no longer pending."""
        await db.execute("DELETE FROM events WHERE created < ? AND NOT pending", before)
