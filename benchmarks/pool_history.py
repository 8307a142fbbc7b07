"""The operator's pool reads on 100,000 sessions: the history series of a pool (live sessions
and Δ at each hourly step over 7 days, one query counted by the database) and the pools at a
glance (the capacity plan's replay, the number list, number health).

    .venv/bin/python benchmarks/pool_history.py

The sessions are written straight into a migrated SQLite database (making 100,000 through the
service would measure the service): one pool of 500 numbers, sessions starting uniformly over
the last 7 days, 60% lasting 15 min to 2 h, 30% 2 to 12 h, 10% 1 to 2 days; parties drawn from
20,000, one session in ten with one of 20 busy parties (whose Δ is the pool's). Each figure is
the median of --runs runs, through the store the server opens. Writes the section of
docs/benchmarks.md between the markers below.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from harness.report import docs_options, docs_target, machine, markers, produced, publish

from maskline.domain.allocation import Policy
from maskline.domain.model import Account, Scope
from maskline.domain.series import DAY, HOUR
from maskline.service.capacity import plan_pools
from maskline.service.health import number_health
from maskline.service.pool_status import overview_of
from maskline.store.migrate import upgrade
from maskline.store.open import open_store

BEGIN, END = markers(__file__)
MAIN = Account("MAHISTORY00000000001", None)
NOW = 1_767_225_600


def fill(path: Path, sessions: int, pool: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    numbers = [f"+1628555{i:04d}" for i in range(pool)]
    db = sqlite3.connect(path)
    db.execute("INSERT INTO accounts VALUES (?, NULL, 'x', 0)", (MAIN.auth_id,))
    db.executemany(
        "INSERT INTO numbers (number, main_id, pool_id, country, state, added, last_used)"
        " VALUES (?, ?, ?, 'US', 'in_service', 0, 0)",
        [(n, MAIN.auth_id, MAIN.auth_id) for n in numbers],
    )
    rows = []
    for i in range(sessions):
        created = NOW - 7 * DAY + rng.randrange(7 * DAY)
        kind = rng.random()
        if kind < 0.6:
            length = rng.randrange(900, 2 * HOUR)
        elif kind < 0.9:
            length = rng.randrange(2 * HOUR, 12 * HOUR)
        else:
            length = rng.randrange(DAY, 2 * DAY)
        first = f"+1415{rng.randrange(20) if rng.random() < 0.1 else 1000 + rng.randrange(20_000):07d}"
        second = f"+1650{rng.randrange(20_000):07d}"
        rows.append(
            (f"{i:08d}-0000-4000-8000-000000000000", MAIN.auth_id, MAIN.auth_id, first, second,
             numbers[i % pool], created, created, created + length, created + length, "{}")
        )  # fmt: skip
    db.executemany(
        "INSERT INTO sessions (uuid, account_id, main_id, first_party, second_party, virtual_number,"
        " created, modified, expiry, cooloff_until, calls_live, total_call_count,"
        " total_call_billed_duration, settings) VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0,?)",
        rows,
    )
    db.commit()
    db.close()


async def measure(path: Path, runs: int) -> tuple[list[float], list[float], int, int]:
    store = await open_store(f"sqlite:///{path}")
    series_times, overview_times = [], []
    try:
        for _ in range(runs):
            began = time.perf_counter()
            week = NOW - 7 * DAY
            series = await store.sessions.live_series(MAIN.auth_id, MAIN.auth_id, "US", week, NOW, HOUR)
            series_times.append(time.perf_counter() - began)
            began = time.perf_counter()  # what the console's pools page makes, the first time
            plan = await plan_pools(store.sessions, store.numbers, MAIN.auth_id, NOW, DAY, Policy.FIRST_FIT)
            judged = await number_health(store.calls, MAIN.auth_id, NOW)
            held = await store.numbers.list_numbers(Scope.of(MAIN), NOW)
            pools = overview_of(MAIN, plan, judged, held)
            overview_times.append(time.perf_counter() - began)
    finally:
        await store.close()
    return series_times, overview_times, max(p.delta for p in series), pools[0].needed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--pool", type=int, default=500)
    p.add_argument("--runs", type=int, default=5)
    docs_options(p)
    args = p.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="maskline-history-") as directory:
        path = Path(directory) / "history.db"
        upgrade(f"sqlite:///{path}")
        fill(path, args.sessions, args.pool)
        series, overview, delta, needed = asyncio.run(measure(path, args.runs))
    med_series, med_overview = statistics.median(series), statistics.median(overview)
    print(f"series {med_series * 1000:,.0f} ms, overview {med_overview * 1000:,.0f} ms")
    section = "\n".join(
        [
            BEGIN,
            "## The operator's pool reads on 100,000 sessions",
            "",
            produced(info["revision"])
            + f"; {info['nproc']} CPUs, Python {info['python']}, SQLite {info['sqlite']}.",
            "",
            f"{args.sessions:,} sessions over 7 days in one pool of {args.pool} numbers on the embedded "
            "SQLite store (written straight into the database; see the script for their lengths and "
            f"parties); the busiest party's Δ over the week peaks at {delta}. Medians of {args.runs} runs.",
            "",
            "| read | what it does | time |",
            "|---|---|---:|",
            f"| a pool's history, 7 days hourly (169 points) | one query: each session spread over the"
            f" points it was live at, counted per point and per party | {med_series * 1000:,.0f} ms |",
            f"| the pools' overview, a 1-day window | the capacity plan (first-fit replay, K* = {needed}),"
            f" the number list, number health | {med_overview * 1000:,.0f} ms |",
            "",
            END,
        ]
    )
    publish(section, docs_target(args), BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
