"""Allocation speed: one party with 500 live sessions, a pool of 10,000 numbers, and 1,000 or
100,000 other live sessions around it; and the same party in a pool of 520, where quarantine
comes to its last resort on every create.

    .venv/bin/python benchmarks/allocation_speed.py

Drives the session service on the embedded SQLite store directly (no HTTP): every measured
create is for the busy party (so first-fit has to pass over its 500 held numbers) and is expired
right after, so the party keeps 500 live sessions. Times are per create, from the call to the
session being committed, and of that the allocation (the store's transaction that picks the
number and claims it, with its commit); medians and 99th percentiles of --creates creates, for
each background size and policy, in one run, the two policies on stores alike in alternating
rounds. Writes the section of docs/benchmarks.md between the
markers below.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.report import docs_options, docs_target, machine, markers, produced, publish

from maskline.config import Config
from maskline.domain.allocation import Policy
from maskline.domain.model import Account
from maskline.http.app import session_config
from maskline.service.sessions import SessionService
from maskline.store.open import open_store
from maskline.telemetry import COUNTERS

BEGIN, END = markers(__file__)
MAIN = Account("MASPEED0000000000001", None)
HUB = "+14152000000"
BODY = {"session_expiry": 86400}


def party(prefix: str, n: int) -> str:
    return f"+1{prefix}{2_000_000 + n:07d}"


class Bench:
    """One store and its session service, its busy party's sessions and its background."""

    def __init__(self, directory: Path, background: int, pool: int, policy: Policy) -> None:
        self.path = directory / f"speed-{pool}-{background}-{policy}.db"
        self.policy = policy
        self.times: list[float] = []  # per create
        self.allocating: list[float] = []  # per allocation
        self.written = 0  # bytes the process wrote during the measured creates and expiries
        self.made = 0

    async def open(self, background: int, hub_sessions: int, pool: int) -> None:
        self.store = store = await open_store(f"sqlite:///{self.path}")
        config = Config(database_url="sqlite:///unused", policy=self.policy)
        service = SessionService(store.sessions, store.accounts, time.time, session_config(config), COUNTERS)
        self.service = service
        await store.accounts.create_account(MAIN, "not used", 0)
        numbers = [(f"+1650{2_000_000 + i:07d}", "US") for i in range(pool)]
        await store.numbers.add_numbers(MAIN.auth_id, MAIN.auth_id, numbers, 0)
        for i in range(hub_sessions):
            await service.create(MAIN, {**BODY, "first_party": HUB, "second_party": party("628", i)})
        batch = []
        for i in range(background):  # pairs of other parties, each pair in one session
            pair = {"first_party": party("415", 10 + i), "second_party": party("629", i)}
            batch.append(service.create(MAIN, {**BODY, **pair}))
            if len(batch) == 200:
                await asyncio.gather(*batch)
                batch = []
        await asyncio.gather(*batch)
        insert = store.sessions.insert_session

        async def timed_insert(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return await insert(*args, **kwargs)
            finally:
                self.allocating.append(time.perf_counter() - start)

        store.sessions.insert_session = timed_insert  # type: ignore[method-assign]

    async def round(self, creates: int) -> None:
        """``creates`` creates for the busy party, each expired right after."""
        for _ in range(creates):
            written = _written()
            start = time.perf_counter()
            second = party("630", self.made)
            session = await self.service.create(MAIN, {**BODY, "first_party": HUB, "second_party": second})
            self.times.append(time.perf_counter() - start)
            await self.service.expire(MAIN, session.uuid)
            self.written += _written() - written
            self.made += 1


def _written() -> int:
    """The bytes this process has written (Linux: the database's pages and its log)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("wchar:"))


async def measure(
    directory: Path, background: int, hub_sessions: int, pool: int, creates: int, rounds: int
) -> list[Bench]:
    """Both policies on stores alike, in alternating rounds of the busy party's creates."""
    benches = [Bench(directory, background, pool, policy) for policy in (Policy.FIRST_FIT, Policy.QUARANTINE)]
    opened: list[Bench] = []
    try:
        for bench in benches:
            opened.append(bench)
            await bench.open(background, hub_sessions, pool)
        for i in range(rounds):
            for bench in benches if i % 2 == 0 else benches[::-1]:
                await bench.round(creates // rounds)
        return benches
    finally:
        for bench in opened:
            if hasattr(bench, "store"):
                await bench.store.close()


def _p50_p99(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.99 * len(ordered))]


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--creates", type=int, default=2000)
    p.add_argument("--hub", type=int, default=500)
    p.add_argument("--pool", type=int, default=10_000)
    p.add_argument("--large", type=int, default=100_000, help="other live sessions in the large run")
    p.add_argument("--spare", type=int, default=20, help="numbers beyond the busy party's in the tight run")
    p.add_argument("--rounds", type=int, default=10, help="alternating rounds the creates are split into")
    docs_options(p)
    args = p.parse_args()
    info = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="maskline-speed-") as directory:
        tight = args.hub + args.spare  # the party leaves every free number within its first creates
        for background, pool in ((1_000, args.pool), (args.large, args.pool), (1_000, tight)):
            began = time.monotonic()
            benches = asyncio.run(
                measure(Path(directory), background, args.hub, pool, args.creates, args.rounds)
            )
            for bench in benches:
                row = (
                    pool,
                    background,
                    bench.policy.value,
                    *_p50_p99(bench.times),
                    *_p50_p99(bench.allocating),
                    bench.written / len(bench.times),
                )
                rows.append(row)
                print(
                    f"pool {pool:,}, {background:>7,} other live sessions, {bench.policy}:"
                    f" create p50 {row[3] * 1e6:,.0f} µs,"
                    f" allocation p50 {row[5] * 1e6:,.0f} µs ({time.monotonic() - began:.0f} s)",
                    flush=True,
                )
    section = "\n".join(
        [
            BEGIN,
            "## Allocation for a busy party",
            "",
            produced(info["revision"])
            + f"; {info['nproc']} CPUs, Python {info['python']}, SQLite {info['sqlite']}.",
            "",
            f"One party with {args.hub} live sessions, a pool of {args.pool:,} numbers (and of "
            f"{tight}: then the party has left every free number lately, and quarantine weighs "
            "them on every create), on the "
            "embedded SQLite store, driven through the session service without HTTP, one store per "
            f"policy, in {args.rounds} alternating rounds. Each of "
            f"{args.creates:,} creates is for the busy party (the policy passes over its {args.hub} "
            "held numbers) and is expired right after. *Create* runs from the call to the committed "
            "session (validation, allocation, commit); *allocation* is the store's part of it: the "
            "transaction that reads the parties' holds, picks the number and claims it, with its "
            "commit. *Written* is what the process wrote per create and its expiry, the pages of "
            "the write-ahead log above all: unlike the times, it does not move with the machine's load.",
            "",
            "| pool | other live sessions | policy | create p50 | create p99 | allocation p50"
            " | allocation p99 | written |",
            "|---:|---:|---|---:|---:|---:|---:|---:|",
            *[
                f"| {n:,} | {b:,} | {policy} | {_us(c50)} | {_us(c99)} | {_us(a50)} | {_us(a99)}"
                f" | {w / 1024:.1f} KiB |"
                for n, b, policy, c50, c99, a50, a99, w in rows
            ],
            "",
            END,
        ]
    )
    publish(section, docs_target(args), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
