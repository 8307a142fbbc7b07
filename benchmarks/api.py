"""Session API benchmark: maskline against a bare Starlette baseline, in the same run.

    .venv/bin/python benchmarks/api.py            (also: make bench)

Starts servers on 127.0.0.1 (free ports, temporary databases; --servers chooses):

* maskline itself: ``maskline serve`` after ``maskline account create`` and ``maskline number add``
  (a pool of --pool numbers), and, to compare HTTP servers, the same app on granian
  (``maskline-granian``, not run by default);
* benchmarks/bare.py: the same stack doing the least a create and a get can do (msgspec decode,
  two lru_cached phonenumbers validations, one SQLite insert; one primary-key select), on uvicorn
  and on granian (``bare-uvicorn``, ``bare-granian``). The baseline of each operation is the
  faster of the two, so that the ratios measure maskline against the best bare stack.

Every server runs uvloop, HTTP/1, one worker, no access log. With two or more CPUs the
servers are pinned to one CPU and the load client to another. Every party string is created once
on each server before measuring (which warms both phone-number caches and gives the rows that
gets read), then each server gets a short warm-up, then --rounds rounds alternate between the two
servers: creates of random first/second parties, then gets of random seeded sessions, --duration
seconds each. The load client is wrk (benchmarks/wrk.lua) when it is installed, else
benchmarks/loadgen.py; both keep --connections keep-alive connections busy, and both are bounded
in time and request count. Every status is checked: any non-2xx response or socket error makes
the run invalid (exit status 1, docs left alone).

Medians of the rounds, the maskline/bare ratios and the targets (creates >= 60% of bare, gets
>= 70%) are printed and written to the section of docs/benchmarks.md between the markers below.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import BenchError, run_main
from harness.loadclient import EXPIRY, Client, Result, choose_wrk, client_name, client_option
from harness.numbers import make_parties, pool_numbers
from harness.pinning import split
from harness.report import docs_options, docs_target, finish, fmt_us, machine, machine_line, markers, produced
from harness.servers import (
    BENCHMARK,
    BIN,
    Rows,
    Server,
    free_port,
    granian_command,
    maskline_command,
    uvicorn_command,
)

BARE = Path(__file__).resolve().parent / "bare.py"
BEGIN, END = markers(__file__)
TARGETS = {"create": 0.60, "get": 0.70}


SERVERS = {
    "maskline": "maskline (`maskline serve`: uvicorn, its httptools protocol within the edge limits)",
    "maskline-granian": "maskline on granian (`granian --interface asgi --factory "
    "maskline.http.app:worker_app`)",
    "maskline-plain": "maskline on uvicorn without the edge limits (`uvicorn --factory --http httptools "
    "maskline.http.app:worker_app`)",
    "maskline-first-fit": "maskline with the first-fit policy (`MASKLINE_ALLOCATION_POLICY=first_fit "
    "maskline serve`), to weigh the default policy against it",
    "bare-uvicorn": "bare on uvicorn",
    "bare-granian": "bare on granian",
}


def baseline(results: dict[str, dict[str, list[Result]]], op: str) -> tuple[str, float]:
    """The bare server with the higher median rate for ``op``, and that rate."""
    rates = {
        name: statistics.median(r.rate for r in ops[op])
        for name, ops in results.items()
        if name.startswith("bare")
    }
    best = max(rates, key=lambda name: rates[name])
    return best, rates[best]


def report(
    results: dict[str, dict[str, list[Result]]],
    info: dict[str, str],
    args: argparse.Namespace,
    client: str,
    pinning: str,
    total_requests: int,
) -> str:
    bares = [name for name in results if name.startswith("bare")]
    mines = [name for name in results if not name.startswith("bare")]
    header = (
        "| operation | server | req/s | "
        + " | ".join(f"{name} req/s" for name in bares)
        + " | against the faster bare | target | p50 | p99 |"
    )
    rows, rounds = [header, "|---|---|---:|" + "---:|" * len(bares) + "---:|---|---:|---:|"], []
    for op, label in (("create", "create (`POST …/Session/`)"), ("get", "get (`GET …/Session/{uuid}/`)")):
        best, b_rate = baseline(results, op)
        bare_cells = " | ".join(
            f"{statistics.median(r.rate for r in results[name][op]):,.0f}"
            + (" (baseline)" if name == best else "")
            for name in bares
        )
        for mine in mines:
            runs = results[mine][op]
            m_rate = statistics.median(r.rate for r in runs)
            ratio = m_rate / b_rate
            verdict = "met" if ratio >= TARGETS[op] else "**not met**"
            rows.append(
                f"| {label} | {mine} | {m_rate:,.0f} | {bare_cells} | **{ratio:.0%}** "
                f"| ≥ {TARGETS[op]:.0%}: {verdict} | {fmt_us(statistics.median(r.p50_us for r in runs))} "
                f"| {fmt_us(statistics.median(r.p99_us for r in runs))} |"
            )
        for name in results:
            per_round = ", ".join(f"{r.rate:,.0f}" for r in results[name][op])
            rounds.append(f"- {op}, {name}, req/s per round: {per_round}")
    busiest = max(r.client_cpu for ops in results.values() for rs in ops.values() for r in rs)
    if {"maskline", "maskline-first-fit"} <= set(results):

        def rate(name: str, op: str) -> float:
            return statistics.median(r.rate for r in results[name][op])

        rows += [
            "",
            "The default policy (quarantine) against first-fit, same run: "
            + ", ".join(
                f"{op}s at {rate('maskline', op) / rate('maskline-first-fit', op):.0%} of first-fit's rate"
                for op in ("create", "get")
            )
            + ".",
        ]
    return "\n".join(
        [
            BEGIN,
            "## Session API: maskline against a bare Starlette baseline",
            "",
            produced(info["revision"], " (also `make bench`)") + ".",
            "",
            f"{machine_line(info)}, SQLite {info['sqlite']}.",
            f"Load: {client}, {args.connections} keep-alive connections, closed loop; {pinning}. "
            f"Each cell: {args.rounds} rounds of {args.duration:g} s per server, alternating between the "
            f"servers, after seeding {args.parties:,} sessions and a {args.warmup:g} s warm-up per server "
            "and operation; medians of the rounds. The baseline of each operation is the faster of the "
            "bare app's servers.",
            "",
            *rows,
            "",
            *rounds,
            f"- non-2xx responses: 0 and socket errors: 0, of {total_requests:,} measured requests; "
            f"the load client used at most {busiest:.0%} of a CPU (near 100% would mean client-bound).",
            "",
            "What runs: "
            + "; ".join(SERVERS[name] for name in results)
            + f". maskline: one account, a pool of {args.pool} numbers, HTTP Basic auth, full Plivo "
            "create: allocation transaction and the 40-field session object. `benchmarks/bare.py`: "
            "msgspec decode, two lru_cached phonenumbers validations, an expiry range check, one SQLite "
            "insert (WAL, `synchronous=NORMAL`); get: one primary-key select. Every server runs uvloop, "
            "HTTP/1, one worker, no access log. Creates draw both parties at random "
            f"from {args.parties:,} + {args.parties:,} numbers, all seen once before measuring, with "
            f"`session_expiry` {EXPIRY}; gets read random sessions among those seeded. Machines are "
            "small and shared: compare the ratios within one run, not absolute figures across runs.",
            END,
        ]
    )


# -- main -----------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="whole seconds of warm-up per server and operation")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--parties", type=int, default=8000, help="distinct first (and second) parties")
    p.add_argument("--pool", type=int, default=50, help="virtual numbers in maskline's pool")
    client_option(p)
    p.add_argument("--seed", type=int, default=20240601)
    docs_options(p)
    p.add_argument(
        "--servers",
        default="maskline,bare-uvicorn,bare-granian",
        help=f"comma-separated, among {', '.join(SERVERS)} (at least one bare)",
    )
    return p


def _server(name: str, workdir: Path, pool: int) -> Server:
    """One of SERVERS on a free port, with a database of its own (maskline's: an account and a pool)."""
    port, log = free_port(), workdir / f"{name}.log"
    if name.startswith("bare"):
        kind = name.removeprefix("bare-")
        cmd = [sys.executable, str(BARE), "--port", str(port), "--database", str(workdir / f"{name}.db")]
        rows = Rows("/rows", "id", lambda row: f"/rows/{row}")
        return Server(name, [*cmd, "--server", kind], port, log, rows)
    maskline = maskline_command()
    database = f"sqlite:///{workdir / name}.db"
    BENCHMARK.create(database, pool_numbers(pool))
    env = {"MASKLINE_DATABASE_URL": database}
    if name in ("maskline", "maskline-first-fit"):
        cmd = [*maskline, "serve", "--port", str(port), "--database", database]
        if name == "maskline-first-fit":
            env["MASKLINE_ALLOCATION_POLICY"] = "first_fit"
    elif name == "maskline-plain":
        cmd = uvicorn_command(port)
    else:
        cmd = granian_command(port)
    return Server(name, cmd, port, log, BENCHMARK.rows(), env)


def main() -> int:
    args = _parser().parse_args()
    began = time.monotonic()
    use_wrk = choose_wrk(args.client)
    pinning = split()
    info = machine()
    label = client_name(use_wrk, info)
    print(f"client: {label}; {pinning.text}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="maskline-bench-"))
    pairs = make_parties(args.parties, args.seed)
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVERS]
    if unknown or not any(name.startswith("bare") for name in names):
        raise BenchError(f"--servers: unknown {unknown}, or no bare server")
    if any(name.endswith("granian") for name in names) and shutil.which(str(BIN / "granian")) is None:
        raise BenchError("granian is not installed: pip install -e '.[bench]', or leave out *-granian")
    servers = [_server(name, workdir, args.pool) for name in names]
    client = Client(use_wrk, pinning.client, args.connections, workdir, pairs)
    results: dict[str, dict[str, list[Result]]] = {s.name: {"create": [], "get": []} for s in servers}
    measured = 0
    try:
        for server in servers:
            server.start(pinning.servers)
        for server in servers:
            server.wait_ready()
        paths_files = {}
        for server in servers:
            t0 = time.monotonic()
            ids = client.seed(server, pairs)["ids"]
            assert server.rows is not None
            paths_files[server.name] = workdir / f"{server.name}-paths.txt"
            paths_files[server.name].write_text("".join(server.rows.get_path(i) + "\n" for i in ids))
            print(
                f"seeded {len(ids):,} sessions on {server.name} in {time.monotonic() - t0:.1f} s", flush=True
            )
        for server in servers:
            for kind in ("post", "get"):
                warm = client.load(server, kind, args.warmup, args.seed, paths_files[server.name])
                if warm.bad_status or warm.errors:
                    raise BenchError(
                        f"warm-up of {server.name} {kind}: {warm.bad_status} non-2xx {warm.detail}"
                    )
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else servers[::-1]
            for op, kind in (("create", "post"), ("get", "get")):
                for server in order:
                    r = client.load(
                        server, kind, args.duration, args.seed + 1 + rnd, paths_files[server.name]
                    )
                    results[server.name][op].append(r)
                    measured += r.requests
                    print(
                        f"round {rnd + 1}/{args.rounds} {op:6} {server.name:16} {r.rate:9,.0f} req/s"
                        f"  p50 {fmt_us(r.p50_us):>9}  p99 {fmt_us(r.p99_us):>9}"
                        f"  client cpu {r.client_cpu:4.0%}"
                        f"  non-2xx {r.bad_status}  errors {r.errors}{'  CAPPED' if r.capped else ''}"
                        f"{'  ' + r.detail if r.detail else ''}",
                        flush=True,
                    )
        for server in servers:
            server.check_alive()
    finally:
        for server in servers:
            server.stop()

    bad = [
        f"{name} {op} round {i + 1}: {r.bad_status} non-2xx {r.detail}, {r.errors} socket errors"
        + (", request cap reached" if r.capped else "")
        for name, ops in results.items()
        for op, rs in ops.items()
        for i, r in enumerate(rs)
        if r.bad or r.capped
    ]
    section = report(results, info, args, label, pinning.text, measured)
    return finish(section, began, bad, workdir, docs_target(args), BEGIN, END)


if __name__ == "__main__":
    run_main(main)
