"""Many server processes on one PostgreSQL: allocation stays right, background work is done once."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from maskline.config import Config
from maskline.domain.events import Outgoing
from maskline.domain.model import Account
from maskline.http.app import session_config
from maskline.service.events import EventDeliverer
from maskline.service.sessions import SessionService
from maskline.store.open import open_store
from maskline.store.sql import SqlStore
from maskline.telemetry import COUNTERS
from tests.databases import Databases, query, sessions_without_holds
from tests.support import START, FakeClock, ServerProcess, maskline

AUTH_ID, TOKEN = "MA" + "R" * 18, "race-token"
PARTIES = [f"+1415202{i:04d}" for i in range(24)]
POOL = [f"+1628557{i:04d}" for i in range(6)]  # small, so that some creates are refused
WIDE = [f"+1628558{i:04d}" for i in range(60)]  # never short
OPERATIONS, CLIENTS = 5000, 32
EXHAUSTED = "Number pool exhausted or not available"


@pytest.fixture
def postgres(databases: Databases) -> str:
    if databases.backend != "postgres":
        pytest.skip("the embedded SQLite database serves one process")
    return databases.new()


@dataclass
class Log:
    created: dict[str, tuple[float, float]] = field(default_factory=dict)  # uuid: (sent, answered)
    expired: dict[str, float] = field(default_factory=dict)  # uuid: answered
    refused: list[tuple[str, str, float, float]] = field(default_factory=list)  # parties, sent, answered
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


async def drive(urls: list[str], log: Log) -> None:
    """32 clients, each on the servers in turn, through 5,000 creates and expires in all."""
    budget = iter(range(OPERATIONS))
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(auth=(AUTH_ID, TOKEN), limits=limits, timeout=60, trust_env=False) as http:

        async def client(n: int) -> None:
            rng = random.Random(n)
            mine: list[str] = []
            for step in budget:
                base = f"{urls[(n + step) % len(urls)]}/v1/Account/{AUTH_ID}/Masking/Session/"
                sent = time.time()
                if mine and (len(mine) > 1 or rng.random() < 0.4):
                    uuid = mine.pop(rng.randrange(len(mine)))
                    reply = await http.delete(f"{base}{uuid}/")
                    log.statuses["expire", reply.status_code] += 1
                    if reply.status_code == 200:
                        log.expired[uuid] = time.time()
                    else:
                        log.unexpected.append(reply.text)
                    continue
                first, second = rng.sample(PARTIES, 2)
                body = {
                    "first_party": first,
                    "second_party": second,
                    "session_expiry": 3600,
                    "virtual_number_cooloff_period": rng.choice([0, 2]),
                }
                reply = await http.post(base, json=body)
                log.statuses["create", reply.status_code] += 1
                if reply.status_code == 201:
                    uuid = reply.json()["session_uuid"]
                    log.created[uuid] = (sent, time.time())
                    mine.append(uuid)
                elif reply.status_code == 400 and reply.json()["error"] == EXHAUSTED:
                    log.refused.append((first, second, sent, time.time()))
                else:
                    log.unexpected.append(reply.text)

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))


def test_racing_processes_keep_the_allocation_invariant(postgres: str) -> None:
    url = postgres
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=url)
    maskline("number", "add", *POOL, "--account", AUTH_ID, database=url)
    servers = [ServerProcess(url, "--workers", "2"), ServerProcess(url)]  # three processes
    log = Log()
    try:
        asyncio.run(drive([s.url for s in servers], log))
    finally:
        for server in servers:
            server.stop()
    assert log.unexpected == []
    assert sum(log.statuses.values()) == OPERATIONS
    assert log.statuses["create", 201] > 500 and log.statuses["expire", 200] > 500
    assert len(log.refused) > 0  # the pool was tight enough to be exhausted at times

    rows = query(
        url,
        "SELECT uuid, first_party, second_party, virtual_number, created, expiry, cooloff_until"
        " FROM sessions",
    )
    sessions = {r[0]: r for r in rows}
    assert set(sessions) == set(log.created)  # every acknowledged create is there, and no other
    for uuid, answered in log.expired.items():  # every acknowledged expiry stuck
        assert sessions[uuid][5] <= answered
    # No party has two sessions on one number whose holds overlap. A session certainly holds its
    # parties on its number from the moment its create was answered until its cool-off ends
    # (``created`` is no bound: it is read before the transaction, which waits on a busy machine).
    holds: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for uuid, first, second, number, _, _, cooloff_until in rows:
        for party in (first, second):
            holds[party, number].append((log.created[uuid][1], cooloff_until))
    for spans in holds.values():
        held_until = 0.0
        for start, end in sorted(span for span in spans if span[0] < span[1]):
            assert start >= held_until
            held_until = max(held_until, end)
    assert sessions_without_holds(url, time.time()) == []
    # A refusal is legitimate only if, while it was being decided, every number of the pool was
    # taken by one of the two parties (a live session or one in its cool-off).
    for first, second, sent, answered in log.refused:
        taken = {
            number
            for _, a, b, number, created, _, cooloff_until in rows
            if {a, b} & {first, second} and created <= answered + 1 and cooloff_until > sent - 1
        }
        assert taken == set(POOL), (first, second, sorted(set(POOL) - taken))


def stores(url: str, n: int) -> list[SqlStore]:
    """``n`` stores on one database, as ``n`` processes would have."""

    async def opened() -> list[SqlStore]:
        return [await open_store(url, pool_size=2) for _ in range(n)]  # type: ignore[misc]

    return asyncio.run(opened())


def test_two_sweepers_announce_each_timeout_once(postgres: str) -> None:
    clock = FakeClock(START)
    owner = Account(AUTH_ID, None)

    async def scenario() -> tuple[Counter[str], int]:
        first, second = [await open_store(postgres, pool_size=2) for _ in range(2)]
        assert isinstance(first, SqlStore) and isinstance(second, SqlStore)
        enqueued: Counter[str] = Counter()
        for store in (first, second):
            original = store.outbox.enqueue

            async def counting(db: Any, events: Any, original: Any = original) -> None:
                enqueued.update(e.session_uuid for e in events if e.fields["EventName"] == "SessionTimeout")
                await original(db, events)

            store.outbox.enqueue = counting  # type: ignore[method-assign]
        config = Config(database_url=postgres, allow_private_callbacks=True)
        services = [
            SessionService(store.sessions, store.accounts, clock, session_config(config), COUNTERS)
            for store in (first, second)
        ]
        await first.accounts.create_account(owner, "not used", START)
        await first.numbers.add_numbers(AUTH_ID, AUTH_ID, [(n, "US") for n in WIDE], START)
        rng = random.Random(7)
        for i in range(120):
            a, b = rng.sample(PARTIES, 2)
            body = {
                "first_party": a,
                "second_party": b,
                "session_expiry": 60 + i,
                "callback_url": "http://127.0.0.1:9/events",
            }
            await services[i % 2].create(owner, body)
            clock.advance(0)
        for _ in range(90):
            clock.advance(2)
            await asyncio.gather(services[0].sweep(), services[1].sweep())
        await first.close()
        await second.close()
        return enqueued, 120

    enqueued, created = asyncio.run(scenario())
    assert len(enqueued) == created and set(enqueued.values()) == {1}
    rows = query(postgres, "SELECT session_uuid, COUNT(*) FROM events GROUP BY session_uuid")
    assert len(rows) == created and {count for _, count in rows} == {1}


class Recording:
    """A callback transport that notes what it was asked to send (the receivers' side)."""

    def __init__(self) -> None:
        self.sent: Counter[int] = Counter()

    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        self.sent[event.id] += 1
        await asyncio.sleep(0.001)  # a network round trip: the other process gets its turn
        return "", False


def test_two_deliverers_send_each_event_once(postgres: str) -> None:
    clock = FakeClock(START)
    owner = Account(AUTH_ID, None)

    async def scenario() -> tuple[Recording, int]:
        first, second = [await open_store(postgres, pool_size=2) for _ in range(2)]
        config = Config(database_url=postgres, allow_private_callbacks=True)
        service = SessionService(first.sessions, first.accounts, clock, session_config(config), COUNTERS)
        await first.accounts.create_account(owner, "not used", START)
        await first.numbers.add_numbers(AUTH_ID, AUTH_ID, [(n, "US") for n in WIDE], START)
        for i in range(100):
            a, b = PARTIES[i % 4], PARTIES[4 + i % 4]
            body = {"first_party": a, "second_party": b, "session_expiry": 60, "callback_url": "http://x/e"}
            await service.create(owner, body)
        clock.advance(120)
        await service.sweep()  # 100 SessionTimeout events in the outbox
        transport = Recording()
        deliverers = [
            EventDeliverer(store.outbox, store.accounts, clock, transport, COUNTERS, batch=7)
            for store in (first, second)
        ]
        while sum(await asyncio.gather(*(d.deliver_due() for d in deliverers))):
            await asyncio.gather(*(d.wait_idle() for d in deliverers))
        await first.close()
        await second.close()
        return transport, 100

    transport, created = asyncio.run(scenario())
    assert len(transport.sent) == created and set(transport.sent.values()) == {1}
    assert query(postgres, "SELECT COUNT(*) FROM events WHERE pending") == [(0,)]
