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
import datetime as dt
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from api import DOCS, command_line, machine, write_docs  # noqa: E402
from tests.integration.test_edge import (  # noqa: E402
    ATTACKER,
    MB,
    SLOW_BODIES,
    SLOW_HEADS,
    big_bodies_and_headers,
    siege,
)

BIN = Path(sys.executable).parent
BEGIN = "<!-- BEGIN benchmarks/edge.py: generated, do not edit by hand -->"
END = "<!-- END benchmarks/edge.py -->"
APP = "maskline.http.app:worker_app"
SERVERS = {
    "maskline": lambda port: [str(BIN / "maskline"), "serve", "--port", str(port)],
    "maskline-plain": lambda port: [
        *(str(BIN / "uvicorn"), "--factory", "--loop", "uvloop", "--http", "httptools", "--no-access-log"),
        *("--limit-concurrency", "4000", "--port", str(port), APP),
    ],
    "maskline-granian": lambda port: [
        *(str(BIN / "granian"), "--interface", "asgi", "--factory", "--loop", "uvloop", "--http", "1"),
        *("--no-ws", "--workers", "1", "--http1-header-read-timeout", "10000", "--port", str(port), APP),
    ],
    "maskline-granian-deep": lambda port: [
        *SERVERS["maskline-granian"](port)[:-1],
        *("--backlog", "16384", "--backpressure", "16384", APP),
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """One server process on a new database; stopped by its PID."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.port = free_port()
        database = f"sqlite:///{workdir}/{name}-{self.port}.db"
        env = {**os.environ, "MASKLINE_DATABASE_URL": database}
        self.log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(SERVERS[name](self.port), env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def attack_memory(server: Served) -> str:
    growth, replies = big_bodies_and_headers(server.port, server.process.pid, 30)
    statuses = [r[0] if isinstance(r, tuple) else type(r).__name__ for r in replies]
    bodies = Counter(str(s) for s in statuses[:12])
    headers = Counter(str(s) for s in statuses[12:])
    shown = lambda c: ", ".join(f"{n}× {s}" for s, n in c.items())  # noqa: E731
    return f"+{growth / MB:,.0f} MB | bodies: {shown(bodies)}; headers: {shown(headers)}"


def attack_slow(server: Served, kind: str) -> str:
    attack = SLOW_HEADS if kind == "heads" else SLOW_BODIES
    asked, answered, opened = asyncio.run(siege(server.port, *attack))
    return f"{answered / asked:.0%} ({answered} of {asked}) | {opened:,}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
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
            server = Served(name, workdir)
            try:
                result = run(server)
            finally:
                server.stop()
            print(f"{name:18} {attack:48} {result}", flush=True)
            rows.append(f"| {name} | {attack} | {result} |")
    info = machine()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            BEGIN,
            "## The edge under attack, by HTTP server",
            "",
            f"Produced on {date} by `{command_line()}`, maskline at {info['revision']}.",
            "",
            f"Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['os']}; Python {info['python']}; "
            f"open files: soft limit raised to {hard}. Attacker on {ATTACKER}, the legitimate client on "
            "127.0.0.1 (a new connection per request, every 0.1 s for 8 s, after 4 s of attack), each "
            "attack on a fresh server process, nothing pinned.",
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
    print(section)
    if not args.no_docs:
        write_docs(section, DOCS, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
