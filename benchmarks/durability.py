"""What durable acknowledgements cost: creates/s with ``MASKLINE_SQLITE_SYNC=full`` (the default:
the write-ahead log is synced before each group commit is answered) against ``normal`` (synced at
checkpoints only), in the same run.

    .venv/bin/python benchmarks/durability.py

Two ``maskline serve`` processes on temporary databases, set up and loaded as
benchmarks/api.py loads maskline (same client, pinning, seeding and warm-up); rounds of creates
alternate between them. Medians go to the section of docs/benchmarks.md between the markers below.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness import run_main
from harness.loadclient import Client, Result, choose_wrk, client_option
from harness.numbers import make_parties, pool_numbers
from harness.pinning import split
from harness.report import docs_options, docs_target, finish, fmt_us, machine, markers, produced
from harness.servers import BENCHMARK, Server, free_port, maskline_command

BEGIN, END = markers(__file__)
MODES = ("full", "normal")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per measured run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--parties", type=int, default=8000)
    p.add_argument("--pool", type=int, default=100)  # more than the creates of a run need
    client_option(p)
    p.add_argument("--seed", type=int, default=20240601)
    docs_options(p)
    return p


def main() -> int:
    args = _parser().parse_args()
    began = time.monotonic()
    use_wrk = choose_wrk(args.client)
    pinning = split()
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="maskline-durability-"))
    pairs = make_parties(args.parties, args.seed)
    maskline = maskline_command()
    servers = []
    for mode in MODES:
        database = f"sqlite:///{workdir / f'{mode}.db'}"
        BENCHMARK.create(database, pool_numbers(args.pool))
        port = free_port()
        command = [*maskline, "serve", "--port", str(port), "--database", database]
        log, env = workdir / f"{mode}.log", {"MASKLINE_SQLITE_SYNC": mode}
        servers.append(Server(mode, command, port, log, BENCHMARK.rows(), env))
    client = Client(use_wrk, pinning.client, args.connections, workdir, pairs)
    results: dict[str, list[Result]] = {mode: [] for mode in MODES}
    try:
        for server in servers:
            server.start(pinning.servers)
        for server in servers:
            server.wait_ready()
            client.seed(server, pairs)
            client.load(server, "post", args.warmup, args.seed, workdir / "unused")
        for rnd in range(args.rounds):
            for server in servers if rnd % 2 == 0 else servers[::-1]:
                r = client.load(server, "post", args.duration, args.seed + 1 + rnd, workdir / "unused")
                results[server.name].append(r)
                print(f"round {rnd + 1} {server.name:6} {r.rate:8,.0f} creates/s  p99 {fmt_us(r.p99_us)}")
    finally:
        for server in servers:
            server.stop()
    bad = [f"{m} round {i + 1}" for m, rs in results.items() for i, r in enumerate(rs) if r.bad]
    rates = {m: statistics.median(r.rate for r in rs) for m, rs in results.items()}
    p99 = {m: statistics.median(r.p99_us for r in rs) for m, rs in results.items()}
    per_round = ", ".join(
        f"{f.rate:,.0f}/{n.rate:,.0f}" for f, n in zip(results["full"], results["normal"], strict=True)
    )
    section = "\n".join(
        [
            BEGIN,
            "## Durable acknowledgements: what syncing each commit costs",
            "",
            produced(info["revision"]) + ".",
            f"Machine: {info['nproc']} CPUs, {info['cpu']}, {info['os']}; SQLite {info['sqlite']}. "
            f"{args.connections} keep-alive connections; {pinning.text}; {args.rounds} rounds of "
            f"{args.duration} s of creates per server, alternating; medians.",
            "",
            "| `MASKLINE_SQLITE_SYNC` | creates/s | p99 |",
            "|---|---:|---:|",
            *(f"| `{m}` | {rates[m]:,.0f} | {fmt_us(p99[m])} |" for m in MODES),
            "",
            f"- `full` serves {rates['full'] / rates['normal']:.0%} of `normal`'s creates. "
            f"Per round, full/normal: {per_round}.",
            "- With `full` (the default) a thread of its own syncs the write-ahead log after each "
            "group commit while the event loop goes on, and the group's requests are answered once "
            "the sync is done; one sync covers every group that committed while the one before it ran.",
            END,
        ]
    )
    return finish(section, began, bad, workdir, docs_target(args), BEGIN, END)


if __name__ == "__main__":
    run_main(main)
