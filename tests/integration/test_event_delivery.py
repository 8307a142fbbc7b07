"""Event delivery under a receiver that hangs: the other hosts' events go out, the hanging host
gets a few requests at a time, and what is held in memory stays bounded however large the
backlog; every event is still sent once, in order per session."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict

from maskline.domain.events import Event, Outgoing
from maskline.service.events import EventDeliverer
from maskline.store.open import open_store
from maskline.telemetry import COUNTERS, EVENT_FAILURES
from tests.databases import query
from tests.support import FakeClock

SLOW = "https://hangs.example/cb"
FAST = ["https://one.example/cb", "http://two.example:8080/cb"]
PER_HOST, BACKLOG, MAX_HELD = 4, 32, 64


class Gate:
    """The receivers' side: SLOW answers nothing until opened; the others answer at once."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.sent: list[tuple[str, str, int, int]] = []  # url, session, sequence, event id
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()

    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        self.in_flight[event.url] += 1
        self.most[event.url] = max(self.most[event.url], self.in_flight[event.url])
        try:
            if event.url == SLOW:
                await self.opened.wait()
            await asyncio.sleep(0.001)
        finally:
            self.in_flight[event.url] -= 1
        self.sent.append((event.url, event.session_uuid, int(event.fields["SequenceNumber"]), event.id))
        return "", False


def test_a_large_backlog_for_a_hanging_host_stays_bounded(database: str) -> None:
    clock = FakeClock()

    def events(url: str, sessions: int, each: int) -> list[Event]:
        uuids = [str(uuid.uuid4()) for _ in range(sessions)]
        now = int(clock())
        return [
            Event(u, "MA" + "E" * 18, url, "POST", now, {"EventName": "x"})
            for u in uuids
            for _ in range(each)
        ]

    async def scenario() -> Gate:
        store = await open_store(database, pool_size=4)
        gate = Gate()
        deliverer = EventDeliverer(
            store.outbox, store.accounts, clock, gate, COUNTERS,
            per_host=PER_HOST, host_backlog=BACKLOG, max_held=MAX_HELD,
        )  # fmt: skip

        async def pending() -> int:
            rows = await store.read.fetch("SELECT COUNT(*) FROM events WHERE pending")  # type: ignore[attr-defined]
            return int(rows[0][0])

        try:
            await store.outbox.enqueue_events(events(SLOW, 150, 4))  # 600 first in the outbox
            await store.outbox.enqueue_events(events(FAST[0], 20, 3) + events(FAST[1], 10, 2))
            baseline = len(asyncio.all_tasks())
            for _ in range(100):  # runs of the delivery loop while SLOW hangs
                await deliverer.deliver_due()
                await asyncio.sleep(0.005)
                assert deliverer.held <= MAX_HELD
                assert len(asyncio.all_tasks()) - baseline <= MAX_HELD
                assert gate.in_flight[SLOW] <= PER_HOST
                if len(gate.sent) == 80:
                    break
            # The other hosts' 80 events went out; SLOW holds a few requests and a bounded backlog.
            assert Counter(url for url, *_ in gate.sent) == {FAST[0]: 60, FAST[1]: 20}
            for _ in range(200):  # the last of them being recorded in the outbox
                if deliverer.held == BACKLOG:
                    break
                await asyncio.sleep(0.005)
            assert gate.in_flight[SLOW] == PER_HOST and gate.most[SLOW] == PER_HOST
            assert deliverer.held == BACKLOG
            assert await pending() == 600
            gate.opened.set()
            for _ in range(200):
                clock.advance(5)  # what was handed back is due again
                taken = await deliverer.deliver_due()
                await deliverer.wait_idle()
                if not taken and not await pending():
                    break
            return gate
        finally:
            await deliverer.close()
            await store.close()

    gate = asyncio.run(scenario())
    assert len(gate.sent) == 680
    assert set(Counter(event_id for *_, event_id in gate.sent).values()) == {1}  # each once
    order: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for url, session, sequence, _ in gate.sent:
        order[(url, session)].append(sequence)
    assert [(k, s) for k, s in order.items() if s != sorted(s)] == []
    assert gate.most[SLOW] == PER_HOST
    assert query(database, "SELECT COUNT(*) FROM events WHERE pending OR attempts != 1") == [(0,)]


class FailsFirst:
    """A receiver that fails the first attempt of every event and takes the second."""

    def __init__(self) -> None:
        self.tried: Counter[int] = Counter()

    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        self.tried[event.id] += 1
        await asyncio.sleep(0.001)
        return ("HTTP 500", True) if self.tried[event.id] == 1 else ("", False)


def test_failed_attempts_hand_the_rest_back_and_lose_nothing(database: str) -> None:
    clock = FakeClock()

    async def scenario() -> tuple[FailsFirst, int]:
        store = await open_store(database, pool_size=2)
        receiver = FailsFirst()
        deliverer = EventDeliverer(store.outbox, store.accounts, clock, receiver, COUNTERS)
        try:
            now = int(clock())
            batch = [
                Event(str(uuid.uuid4()), "MA" + "F" * 18, FAST[0], "POST", now, {"EventName": f"E{n}"})
                for _ in range(10)
                for n in range(3)
            ]
            await store.outbox.enqueue_events(batch)
            for _ in range(100):
                taken = await deliverer.deliver_due()
                await deliverer.wait_idle()
                assert deliverer.held == 0  # nothing is left behind in memory
                clock.advance(5)  # the first retry is due after 5 s
                if not taken and len(receiver.tried) == 30 and set(receiver.tried.values()) == {2}:
                    break
            return receiver, len(batch)
        finally:
            await deliverer.close()
            await store.close()

    failures = EVENT_FAILURES._value.get()
    receiver, count = asyncio.run(scenario())
    assert len(receiver.tried) == count and set(receiver.tried.values()) == {2}
    assert EVENT_FAILURES._value.get() - failures == count  # each first attempt failed, counted
    assert query(database, "SELECT COUNT(*) FROM events WHERE pending OR attempts != 2") == [(0,)]


class Hangs:
    """Receivers on many hosts that answer nothing until opened; the others answer at once."""

    def __init__(self, hanging: set[str]) -> None:
        self.hanging = hanging
        self.opened = asyncio.Event()
        self.sent: list[str] = []
        self.in_flight: Counter[str] = Counter()  # by account

    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        self.in_flight[event.account_id] += 1
        try:
            if event.url in self.hanging:
                await self.opened.wait()
            await asyncio.sleep(0.001)
        finally:
            self.in_flight[event.account_id] -= 1
        self.sent.append(event.url)
        return "", False


def test_an_account_hanging_on_many_hosts_fills_only_its_own_share(database: str) -> None:
    """One account's callbacks on six hosts that hang, each with more events than a host may
    hold: together they are more than the deliverer holds at all. Another account's events still
    go out, and the first account holds only its share of memory and requests."""
    clock = FakeClock()
    attacker, other = "MA" + "A" * 18, "MA" + "B" * 18
    hanging = {f"http://hangs.example:{8000 + i}/cb" for i in range(6)}

    def events(account: str, url: str, count: int) -> list[Event]:
        return [
            Event(str(uuid.uuid4()), account, url, "POST", int(clock()), {"EventName": "x"})
            for _ in range(count)
        ]

    async def scenario() -> tuple[Hangs, int, int]:
        store = await open_store(database, pool_size=4)
        receivers = Hangs(hanging)
        deliverer = EventDeliverer(
            store.outbox, store.accounts, clock, receivers, COUNTERS,
            per_host=4, per_account=8, max_requests=16, host_backlog=32, account_backlog=48, max_held=64,
        )  # fmt: skip
        try:
            for url in sorted(hanging):
                await store.outbox.enqueue_events(events(attacker, url, 40))  # 240 first in the outbox
            await store.outbox.enqueue_events(events(other, "https://fine.example/cb", 10))
            most_held = most_requests = 0
            for _ in range(40):  # runs of the delivery loop while the six hosts hang
                clock.advance(1)
                await deliverer.deliver_due()
                await asyncio.sleep(0.01)
                most_held = max(most_held, deliverer.held)
                most_requests = max(most_requests, receivers.in_flight[attacker])
                if receivers.sent.count("https://fine.example/cb") == 10:
                    break
            return receivers, most_held, most_requests
        finally:
            receivers.opened.set()
            await deliverer.close()
            await store.close()

    receivers, most_held, most_requests = asyncio.run(scenario())
    assert receivers.sent.count("https://fine.example/cb") == 10
    assert most_held <= 64 and most_requests <= 8
