"""Delivery of the event outbox: at least once, with retries and backoff, off the call path."""

from __future__ import annotations

import logging
from typing import Protocol

from maskline.domain.events import Outgoing, retry_at
from maskline.domain.ports import Clock, Store

log = logging.getLogger("maskline.events")


class CallbackTransport(Protocol):
    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        """Send one event; ("", _) when the receiver took it, else (why, whether to retry)."""
        ...


class EventDeliverer:
    def __init__(self, store: Store, clock: Clock, transport: CallbackTransport, batch: int = 50) -> None:
        self._store = store
        self._clock = clock
        self._transport = transport
        self._batch = batch

    async def deliver_due(self) -> int:
        """Try every event that is due; how many were tried."""
        now = int(self._clock())
        due = await self._store.due_events(now, self._batch)
        for event in due:
            carrier = await self._store.get_carrier(event.account_id)
            error, retry = await self._transport.send(event, carrier.auth_token if carrier else None)
            attempts = event.attempts + 1
            when = retry_at(attempts, now) if error and retry else None
            if error:
                log.info("event %s attempt %d failed: %s", event.id, attempts, error)
            await self._store.event_attempted(event.id, attempts, now, when, error)
        return len(due)
