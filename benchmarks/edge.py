"""The public edge under attack, on each HTTP server: the attacks of tests/integration/test_edge.py
against maskline served by ``maskline serve`` (uvicorn within the edge limits), by plain uvicorn
(its httptools protocol, ``--limit-concurrency 4000``: how maskline was served before) and by
granian (``--http1-header-read-timeout 10000``; ``maskline-granian-deep``: with a backlog and
backpressure of 16,384 as well), each attack on a fresh server process.

    .venv/bin/python benchmarks/edge.py [--servers maskline,maskline-plain,...]

* memory: twelve 50 MB webhook bodies and four 8 MB headers at once; the growth of the server's
  peak resident memory (VmHWM) over its resident memory before, and the statuses answered;
* slow heads: 5,000 connections from 127.0.0.2 sending a header line a second, and slow bodies:
  1,200 webhook POSTs from 127.0.0.2 sending a body byte a second; meanwhile a client on 127.0.0.1
  asks ``/healthz`` on a new connection every 0.1 s for 8 s: the share answered 200 within 3 s.

Writes the section of docs/benchmarks.md between the markers below.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness import ROOT, run_main
from harness.report import docs_options, docs_target, finish, machine, machine_line, markers, produced
from harness.servers import Server, free_port, granian_command, maskline_command, uvicorn_command

sys.path.insert(0, str(ROOT))  # the attacks are the edge tests'

from tests.integration.test_edge import (  # noqa: E402
    ATTACKER,
    MB,
    SLOW_BODIES,
    SLOW_HEADS,
    big_bodies_and_headers,
    siege,
)

BEGIN, END = markers(__file__)
SERVERS = {
    "maskline": lambda port: [*maskline_command(), "serve", "--port", str(port)],
    "maskline-plain": lambda port: uvicorn_command(port, "--limit-concurrency", "4000"),
    "maskline-granian": lambda port: granian_command(port, "--http1-header-read-timeout", "10000"),
    "maskline-granian-deep": lambda port: granian_command(
        port, "--http1-header-read-timeout", "10000", "--backlog", "16384", "--backpressure", "16384"
    ),
}


def served(name: str, workdir: Path) -> Server:
    """A fresh server process of ``name`` on a new database, answering."""
    port = free_port()
    env = {"MASKLINE_DATABASE_URL": f"sqlite:///{workdir}/{name}-{port}.db"}
    server = Server(name, SERVERS[name](port), port, workdir / f"{name}-{port}.log", env=env)
    server.start(None)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def attack_memory(server: Server) -> str:
    assert server.process is not None
    growth, replies = big_bodies_and_headers(server.port, server.process.pid, 30)
    statuses = [r[0] if isinstance(r, tuple) else type(r).__name__ for r in replies]
    bodies = Counter(str(s) for s in statuses[:12])
    headers = Counter(str(s) for s in statuses[12:])
    shown = lambda c: ", ".join(f"{n}× {s}" for s, n in c.items())  # noqa: E731
    return f"+{growth / MB:,.0f} MB | bodies: {shown(bodies)}; headers: {shown(headers)}"


def attack_slow(server: Server, kind: str) -> str:
    attack = SLOW_HEADS if kind == "heads" else SLOW_BODIES
    asked, answered, opened = asyncio.run(siege(server.port, *attack))
    return f"{answered / asked:.0%} ({answered} of {asked}) | {opened:,}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    docs_options(parser)
    args = parser.parse_args()
    began = time.monotonic()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    names = [n for n in args.servers.split(",") if n]
    workdir = Path(tempfile.mkdtemp(prefix="maskline-edge-"))
    rows = []
    for name in names:
        for attack, run in (
            ("12 × 50 MB webhook bodies + 4 × 8 MB headers", attack_memory),
            ("5,000 slow heads from one address", lambda s: attack_slow(s, "heads")),
            ("1,200 slow webhook bodies from one address", lambda s: attack_slow(s, "bodies")),
        ):
            server = served(name, workdir)
            try:
                result = run(server)
            finally:
                server.stop()
            print(f"{name:18} {attack:48} {result}", flush=True)
            rows.append(f"| {name} | {attack} | {result} |")
    info = machine()
    section = "\n".join(
        [
            BEGIN,
            "## The edge under attack, by HTTP server",
            "",
            produced(info["revision"]) + ".",
            "",
            f"{machine_line(info)}; open files: soft limit raised to {hard}. Attacker on {ATTACKER}, the "
            "legitimate client on 127.0.0.1 (a new connection per request, every 0.1 s for 8 s, after 4 s "
            "of attack), each attack on a fresh server process, nothing pinned.",
            "",
            "| server | attack | peak memory growth, or share of the legitimate requests answered 200 "
            "within 3 s | statuses, or connections the attacker opened |",
            "|---|---|---:|---|",
            *rows,
            "",
            "Servers: `maskline serve` (uvicorn within the edge limits, defaults); plain uvicorn "
            "(`--limit-concurrency 4000`, as maskline was served before); granian 2.8.9 "
            "(`--http1-header-read-timeout 10000`, other settings default; `-deep`: also "
            "`--backlog 16384 --backpressure 16384`). The application is the same in all of them, with "
            "its bodies capped before they are read.",
            END,
        ]
    )
    return finish(section, began, [], workdir, docs_target(args), BEGIN, END)


if __name__ == "__main__":
    run_main(main)
