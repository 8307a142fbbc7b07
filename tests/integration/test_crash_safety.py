"""Crash safety: a server killed with SIGKILL at random moments loses nothing it acknowledged,
and one stopped with SIGTERM finishes the requests it has taken, then exits cleanly."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field

import httpx

from tests.databases import query, sessions_without_holds
from tests.support import ServerProcess, maskline

AUTH_ID, TOKEN = "MA" + "K" * 18, "crash-safety-token"
SESSION = f"/v1/Account/{AUTH_ID}/Masking/Session/"
POOL = [f"+1628564{i:04d}" for i in range(8)]
PARTIES = [f"+1415206{i:04d}" for i in range(12)]


@dataclass
class Acknowledged:
    created: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # uuid: parties, number
    expired: dict[str, float] = field(default_factory=dict)  # uuid: when the expiry was answered
    answered: int = 0  # requests answered at all


async def drive(url: str, seconds: float, seen: Acknowledged, rng: random.Random) -> None:
    """Creates and expires from 8 clients until ``seconds`` pass or the server is gone."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, auth=(AUTH_ID, TOKEN), timeout=10, trust_env=False) as client:

        async def client_loop() -> None:
            while time.monotonic() < deadline:
                live = [u for u in seen.created if u not in seen.expired]
                try:
                    if live and rng.random() < 0.4:
                        uuid = rng.choice(live)
                        reply = await client.delete(f"{SESSION}{uuid}/")
                        if reply.status_code == 200:
                            seen.expired[uuid] = time.time()
                    else:
                        first, second = rng.sample(PARTIES, 2)
                        body = {"first_party": first, "second_party": second, "session_expiry": 3600}
                        reply = await client.post(SESSION, json=body)
                        if reply.status_code == 201:
                            made = reply.json()
                            seen.created[made["session_uuid"]] = (first, second, made["virtual_number"])
                except httpx.TransportError:
                    return  # the server is gone: whatever was in flight is unknown, not acknowledged
                assert reply.status_code in (200, 201, 400), reply.text
                seen.answered += 1

        await asyncio.gather(*(client_loop() for _ in range(8)))


async def killed_while_busy(server: ServerProcess, seen: Acknowledged, rng: random.Random, sig: int) -> int:
    """Drive the server, and send it ``sig`` at a random moment once it is busy answering;
    returns how many requests it answered in all."""
    before = seen.answered
    driving = asyncio.create_task(drive(server.url, 60, seen, rng))
    deadline = time.monotonic() + 30
    while seen.answered < before + 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(rng.uniform(0, 0.5))
    server.process.send_signal(sig)
    await driving
    return seen.answered - before


def test_sigkill_at_random_moments_loses_nothing_acknowledged(database: str) -> None:
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    maskline("number", "add", *POOL, "--account", AUTH_ID, database=database)
    rng = random.Random(7)
    seen = Acknowledged()
    for _ in range(3):
        server = ServerProcess(database)
        try:
            assert asyncio.run(killed_while_busy(server, seen, rng, signal.SIGKILL)) >= 20
        finally:
            server.stop()
        assert server.process.returncode == -signal.SIGKILL
    assert len(seen.created) > 20 and seen.expired

    server = ServerProcess(database)  # starts on what the killed ones left
    server.stop()
    stored = {
        u: (f, s, n, e)
        for u, f, s, n, e in query(
            database, "SELECT uuid, first_party, second_party, virtual_number, expiry FROM sessions"
        )
    }
    for uuid, (first, second, number) in seen.created.items():
        assert stored[uuid][:3] == (first, second, number)  # every acknowledged create is there
    for uuid, answered in seen.expired.items():
        assert stored[uuid][3] <= answered + 1  # every acknowledged expiry stuck
    now = time.time()
    live = [(f, s, n) for f, s, n, e in stored.values() if e > now]
    per_party = [(p, n) for f, s, n in live for p in (f, s)]
    assert len(per_party) == len(set(per_party))  # no party twice on one number
    assert sessions_without_holds(database, now) == []


def test_sigterm_finishes_what_it_took_and_exits_cleanly(database: str) -> None:
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    maskline("number", "add", *POOL, "--account", AUTH_ID, database=database)
    server = ServerProcess(database)
    seen = Acknowledged()
    try:
        answered = asyncio.run(killed_while_busy(server, seen, random.Random(3), signal.SIGTERM))
    finally:
        output = server.stop()
    assert server.process.returncode == 0, output
    assert answered > 0 and "Finished server process" in output
    stored = {row[0] for row in query(database, "SELECT uuid FROM sessions")}
    assert set(seen.created) <= stored
