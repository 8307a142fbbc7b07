"""maskline stores holding many live sessions, compared small against large (benchmarks/routing.py
and benchmarks/sip.py): each store is one ``maskline serve`` on its own SQLite database, its
sessions created through the Session API, every party in --per-party sessions."""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import BenchError
from harness.loadclient import Client
from harness.report import Rated, fmt_us, median, paired, spread
from harness.servers import Account, Server, free_port

ACCOUNT = Account("MAROUTINGBENCH000001", "routing-benchmark-token-0001")
NUMBERS = f"/v1/Account/{ACCOUNT.auth_id}/Masking/Number/"
EXPIRY = 86400
SEED_CHUNK = 10_000  # sessions per seeding job: bounds the client's memory and each job's time


@dataclass
class Store:
    """One maskline server and the live sessions it holds: (first, second, virtual), E.164."""

    label: str
    size: int
    server: Server
    database: Path
    sessions: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The store's database, as maskline takes it."""
        return f"sqlite:///{self.database}"


def new_store(
    label: str,
    size: int,
    workdir: Path,
    numbers: list[str],
    command: Callable[[int, str], list[str]],
    env: dict[str, str] | None = None,
) -> Store:
    """A store on a new database in ``workdir``, with the benchmark account and its pool of
    ``numbers``, and its server, not started: ``command(port, database)`` runs it."""
    port, db = free_port(), workdir / f"{label}.db"
    database = f"sqlite:///{db}"
    ACCOUNT.create(database, numbers)
    name, log = f"maskline ({size:,} sessions)", workdir / f"{label}.log"
    server = Server(name, command(port, database), port, log, ACCOUNT.rows(), env or {})
    return Store(label, size, server, db)


def layout(size: int, per_party: int, firsts: list[str], seconds: list[str]) -> list[tuple[str, str]]:
    """``size`` (first, second) pairs over ceil(size / per_party) parties a side, each party in at
    most ``per_party`` sessions, no pair twice while per_party <= the parties a side."""
    side = -(-size // per_party)
    if side > min(len(firsts), len(seconds)):
        raise BenchError(f"need {side} parties a side, have {len(firsts)}")
    return [(firsts[r], seconds[(q + r) % side]) for q, r in (divmod(i, side) for i in range(size))]


def populate(
    store: Store, client: Client, pairs: list[tuple[str, str]], connections: int, pool: int
) -> dict[str, Any]:
    """Seed ``store`` with one session per pair, kept with its virtual number, and check the live
    sessions maskline counts on its ``pool`` numbers; where they live: {"numbers": in use,
    "per_number": the most on one}."""
    for start in range(0, len(pairs), SEED_CHUNK):
        part = pairs[start : start + SEED_CHUNK]
        records = client.seed(store.server, part, connections, fields=("virtual_number",))["records"]
        for (first, second), (virtual,) in zip(part, records, strict=True):
            store.sessions.append((first, second, "+" + str(virtual).lstrip("+")))
    counts = live_counts(store, pool)
    if sum(counts.values()) != store.size or len(store.sessions) != store.size:
        raise BenchError(f"{store.label}: {sum(counts.values()):,} live sessions, not {store.size:,}")
    return {"numbers": len(+counts), "per_number": max(counts.values())}


def live_counts(store: Store, pool: int) -> Counter[str]:
    """Live sessions per virtual number, as maskline's Number resource reports them."""
    counts: Counter[str] = Counter()
    for offset in range(0, pool, 20):
        page = _get_json(store, f"{NUMBERS}?limit=20&offset={offset}")
        for number in page["response"]["objects"]:
            counts["+" + number["number"].lstrip("+")] += int(number["live_session_count"])
    return counts


def _get_json(store: Store, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", store.server.port, timeout=10)
    try:
        conn.request("GET", path, headers=ACCOUNT.authorization())
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    if reply.status != 200:
        raise BenchError(f"GET {path}: {reply.status} {body[:300]!r}")
    return json.loads(body)


def store_options(p: argparse.ArgumentParser) -> None:
    """The options of a small/large store comparison: the stores' sizes and how they are seeded."""
    p.add_argument("--small", type=int, default=1_000, help="live sessions in the small store")
    p.add_argument("--large", type=int, default=100_000, help="live sessions in the large store")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed-connections", type=int, default=64, help="connections that create sessions")
    p.add_argument("--pool", type=int, default=200, help="virtual numbers in each store's pool")
    p.add_argument("--per-party", type=int, default=10, help="sessions each party is in")


def check_stores(args: argparse.Namespace) -> None:
    if not 0 < args.small < args.large:
        raise BenchError("--small must be positive and below --large")
    if args.pool < 2 * args.per_party - 1:
        raise BenchError("--pool must be at least 2 x --per-party - 1, or creates could be refused")


def comparison(
    stores: list[Store],
    busy: Mapping[str, Sequence[Rated]],
    quiet: Mapping[str, Sequence[Rated]],
    extra: Mapping[str, Mapping[str, Any]],
    unit: str,
    quietly: str,
) -> tuple[list[str], list[str]]:
    """The small and large stores side by side: the table's rows (rate and latency under load,
    latency of ``quiet`` runs, where the sessions live, the database's size, then the large/small
    ratios) and the lines of per-round figures; ``unit``: what is counted per second."""
    small, large = stores
    rows = []
    for store in stores:
        rs, r1, e = busy[store.label], quiet[store.label], extra[store.label]
        rows.append(
            f"| {store.size:,} | {median(rs, 'rate'):,.0f} | {fmt_us(median(rs, 'p50_us'))} "
            f"| {fmt_us(median(rs, 'p99_us'))} | {fmt_us(median(r1, 'p50_us'))} "
            f"| {fmt_us(median(r1, 'p99_us'))} "
            f"| {e['numbers']} numbers, up to {e['per_number']:,} sessions on one | {e['db_mb']:.0f} MB |"
        )

    def ratio(results: Mapping[str, Sequence[Rated]], key: str) -> str:
        return f"×{median(results[large.label], key) / median(results[small.label], key):.2f}"

    rows.append(
        f"| {large.size:,} / {small.size:,} | {ratio(busy, 'rate')} | {ratio(busy, 'p50_us')} "
        f"| {ratio(busy, 'p99_us')} | {ratio(quiet, 'p50_us')} | {ratio(quiet, 'p99_us')} | | |"
    )
    lines = [
        f"- {store.size:,} live sessions, {unit}/s per round: "
        + ", ".join(f"{r.rate:,.0f}" for r in busy[store.label])
        + f" (spread {spread(busy[store.label]):.0%}); {quietly}, p50 per round: "
        + ", ".join(fmt_us(r.p50_us) for r in quiet[store.label])
        for store in stores
    ]
    ratios = paired(busy[small.label], busy[large.label])
    lines.append(
        f"- {large.size:,} / {small.size:,}, {unit}/s in the same round: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + f" (median {statistics.median(ratios):.2f})"
    )
    return rows, lines
