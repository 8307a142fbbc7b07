"""Delivery of the event outbox: at least once, with retries and backoff, off the call path,
and fairly: a receiver that is slow or never answers holds up only its own events.

Each run takes the due events from the outbox (leased, so other processes leave them alone) and
hands them to tasks that send them while the next runs go on:

- the events of one session for one URL are sent one after the other, in outbox order (the
  order of their ``SequenceNumber``), by one task; when one fails, the ones after it go back to
  the outbox, due at once, rather than wait in memory behind a receiver that may hang;
- at most ``per_host`` requests at once go to one callback host (scheme, host and port), at most
  ``per_account`` for one account, and at most ``max_requests`` in all;
- at most ``host_backlog`` events per host, ``account_backlog`` per account and ``max_held`` in
  all are held in memory: a run takes no more than there is room for, and hands the events of a
  host or an account that already has its fill back to the outbox, due in ``defer`` seconds,
  without counting an attempt; until then that host's or account's newer events go back too, so
  that they stay behind the older ones. An account whose callbacks hang on many hosts fills
  its own share, never the whole.

A held event waits for at most ``host_backlog / per_host`` attempts of its host (and its share
of ``max_requests``), each bounded by the transport's timeout: about two minutes with the
defaults and a 5 s timeout, well inside the store's lease (300 s), so no other process takes an
event while it is held here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from maskline.domain.events import Outgoing, callback_origin, retry_at
from maskline.domain.ports import AccountStore, Clock, Counters, Outbox, StoreUnavailable
from maskline.service.accounts import carrying_carrier

log = logging.getLogger("maskline.events")


class CallbackTransport(Protocol):
    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        """Send one event; ("", _) when the receiver took it, else (why, whether to retry).
        Bounded in time: a receiver that does not answer is a failure after a timeout."""
        ...


@dataclass
class _Share:
    """What a callback host, or an account, has of the deliverer."""

    slots: asyncio.Semaphore
    held: int = 0  # events taken and not yet settled
    deferred_until: int = 0  # until then, its new events go back to the outbox (keeps their order)


@dataclass
class _Host(_Share):
    chains: dict[tuple[str, str], deque[Outgoing]] = field(default_factory=dict)


class EventDeliverer:
    def __init__(
        self,
        store: Outbox,
        accounts: AccountStore,
        clock: Clock,
        transport: CallbackTransport,
        counters: Counters,
        batch: int = 50,
        *,
        per_host: int = 4,
        per_account: int = 16,
        max_requests: int = 64,
        host_backlog: int = 100,
        account_backlog: int = 100,
        max_held: int = 400,
        defer: int = 5,
    ) -> None:
        self._store = store
        self._carriers = accounts  # the carrier whose token signs an account's events
        self._clock = clock
        self._transport = transport
        self._counters = counters
        self._batch = batch
        self._per_host = per_host
        self._per_account = per_account
        self._requests = asyncio.Semaphore(max_requests)
        self._host_backlog = host_backlog
        self._account_backlog = account_backlog
        self._max_held = max_held
        self._defer = defer
        self._hosts: dict[str, _Host] = {}
        self._accounts: dict[str, _Share] = {}
        self._held: dict[int, Outgoing] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> int:
        """Events taken from the outbox and not yet settled."""
        return len(self._held)

    async def deliver_due(self) -> int:
        """Take the due events there is room for and start sending them; how many were taken
        (including any handed back). Returns without waiting for the receivers."""
        room = min(self._batch, self._max_held - len(self._held))
        if room <= 0:
            return 0
        now = int(self._clock())
        for shares in (self._hosts, self._accounts):
            for key in [k for k, s in shares.items() if not s.held and s.deferred_until <= now]:
                del shares[key]
        due = await self._store.due_events(now, room)
        handed_back: dict[int, list[Outgoing]] = {}
        for event in due:
            origin = callback_origin(event.url)
            host = self._hosts.get(origin)
            if host is None:
                host = self._hosts[origin] = _Host(asyncio.Semaphore(self._per_host))
            account = self._accounts.get(event.account_id)
            if account is None:
                account = self._accounts[event.account_id] = _Share(asyncio.Semaphore(self._per_account))
            full = [
                share
                for share, backlog in ((host, self._host_backlog), (account, self._account_backlog))
                if share.deferred_until > now or share.held >= backlog
            ]
            if full:
                until = max(now + self._defer, *(share.deferred_until for share in full))
                for share in full:
                    share.deferred_until = until
                handed_back.setdefault(until, []).append(event)
                continue
            self._take(event, host, account)
        for at, events in handed_back.items():
            await self._store.release_events(events, at)
        return len(due)

    def _take(self, event: Outgoing, host: _Host, account: _Share) -> None:
        host.held += 1
        account.held += 1
        self._held[event.id] = event
        key = (event.session_uuid, event.url)
        chain = host.chains.get(key)
        if chain is not None:  # a task is sending this session's events to this URL: after them
            chain.append(event)
            return
        host.chains[key] = deque([event])
        task = asyncio.create_task(self._send_chain(host, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_chain(self, host: _Host, key: tuple[str, str]) -> None:
        chain = host.chains[key]
        try:
            while chain:
                event = chain[0]
                try:
                    taken = await self._attempt(event, host)
                except StoreUnavailable as error:  # the lease brings the event back later
                    self._counters.skipped(error)
                    taken = False
                except Exception:  # the lease brings the event back later
                    log.exception("event %s could not be settled", event.id)
                    taken = False
                chain.popleft()
                self._forget(event, host)
                while chain and not taken:  # the rest go back to the outbox rather than wait here
                    rest = list(chain)
                    await self._store.release_events(rest, int(self._clock()))
                    for _ in rest:
                        self._forget(chain.popleft(), host)
        except Exception as error:  # the lease brings them back later
            if isinstance(error, StoreUnavailable):
                self._counters.skipped(error)
            else:
                log.exception("events could not be handed back")
            while chain:
                self._forget(chain.popleft(), host)
        finally:
            del host.chains[key]

    def _forget(self, event: Outgoing, host: _Host) -> None:
        host.held -= 1
        self._accounts[event.account_id].held -= 1
        del self._held[event.id]

    async def _signing_token(self, account_id: str) -> str | None:
        """The token an account's events are signed with: that of the carrier that carries its
        calls (its own, else its main account's), as that carrier signs what it sends."""
        carrier = await carrying_carrier(self._carriers, account_id)
        return carrier.auth_token if carrier else None

    async def _attempt(self, event: Outgoing, host: _Host) -> bool:
        """Send ``event`` and record the attempt; whether the receiver took it."""
        token = await self._signing_token(event.account_id)
        # The host's and the account's slots first: a wait for them holds no one else up.
        async with host.slots, self._accounts[event.account_id].slots, self._requests:
            error, retry = await self._transport.send(event, token)
        now = int(self._clock())
        attempts = event.attempts + 1
        when = retry_at(attempts, now) if error and retry else None
        if error:
            self._counters.delivery_failed()
            log.info("event %s attempt %d failed: %s", event.id, attempts, error)
        await self._store.event_attempted(event.id, attempts, now, when, error)
        return not error

    async def wait_idle(self) -> None:
        """Wait until every event taken is settled."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def close(self) -> None:
        """Stop sending; events taken and not settled go back to the outbox, due now."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        held, self._held = list(self._held.values()), {}
        self._hosts.clear()
        self._accounts.clear()
        if held:
            try:
                await self._store.release_events(held, int(self._clock()))
            except Exception:  # the lease brings them back later
                log.exception("events could not be handed back")
