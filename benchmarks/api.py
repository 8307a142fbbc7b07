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
import base64
import datetime as dt
import http.client
import json
import os
import platform
import random
import resource
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
LOADGEN = HERE / "loadgen.py"
BARE = HERE / "bare.py"
WRK_LUA = HERE / "wrk.lua"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- BEGIN benchmarks/api.py: generated, do not edit by hand -->"
END = "<!-- END benchmarks/api.py -->"

AUTH_ID = "MABENCHMARK000000001"
AUTH_TOKEN = "benchmark-token-not-a-secret-0001"
EXPIRY = 600
TARGETS = {"create": 0.60, "get": 0.70}


class BenchError(RuntimeError):
    pass


# -- processes ------------------------------------------------------------------------------------
def _pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def maskline_command() -> list[str]:
    """How to run the maskline CLI: the venv's script, else the module."""
    script = BIN / "maskline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "maskline"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: Sequence[str], timeout: float, cpus: set[int] | None = None) -> str:
    done = subprocess.run(
        list(cmd), capture_output=True, text=True, timeout=timeout, cwd=ROOT, preexec_fn=_pinned(cpus)
    )
    if done.returncode != 0:
        raise BenchError(f"{shlex.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    log: Path
    create_path: str
    id_field: str
    get_path: Callable[[str], str]
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    ids: list[str] = field(default_factory=list)

    def start(self, cpus: set[int] | None) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                preexec_fn=_pinned(cpus),
                env={**os.environ, **self.env},
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise BenchError(f"{self.name} exited early:\n{self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process this benchmark started (by its PID), however the run went."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# -- load clients ---------------------------------------------------------------------------------
@dataclass
class Result:
    rate: float
    p50_us: float
    p99_us: float
    requests: int
    non2xx: int
    errors: int
    capped: bool
    detail: str = ""
    client_cpu: float = 0.0  # CPU the load client used, per second of wall time


class Client:
    def __init__(
        self, use_wrk: bool, cpus: set[int] | None, connections: int, workdir: Path, parties_file: Path
    ) -> None:
        self.use_wrk = use_wrk
        self.cpus = cpus
        self.connections = connections
        self.workdir = workdir
        self.parties_file = parties_file
        self.jobs = 0

    def _loadgen(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.jobs += 1
        spec = self.workdir / f"job-{self.jobs}.json"
        spec.write_text(json.dumps(job))
        out = _run([sys.executable, str(LOADGEN), str(spec)], timeout=timeout, cpus=self.cpus)
        return dict(json.loads(out.strip().splitlines()[-1]))

    def seed(self, server: Server, pairs: list[tuple[str, str]]) -> list[str]:
        """Create one session per pair; the ids of the rows created, in order."""
        job = {
            "mode": "seed",
            "port": server.port,
            "connections": self.connections,
            "headers": server.headers,
            "path": server.create_path,
            "pairs": pairs,
            "expiry": EXPIRY,
            "id_field": server.id_field,
            "timeout": 30 + len(pairs) / 100,
        }
        result = self._loadgen(job, timeout=60 + len(pairs) / 100)
        if result["non2xx"] or result["errors"] or None in result["ids"]:
            raise BenchError(f"seeding {server.name} failed: {result['statuses']}, {result['errors']} errors")
        return list(result["ids"])

    def load(self, server: Server, kind: str, duration: float, seed: int, paths_file: Path) -> Result:
        """One bounded load run; notes how busy the client was (near 100%: client-bound)."""
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        result = self._load(server, kind, duration, seed, paths_file)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - start
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result.client_cpu = cpu / wall
        return result

    def _load(self, server: Server, kind: str, duration: float, seed: int, paths_file: Path) -> Result:
        max_requests = int(60_000 * duration)  # far above what one core serves: a safety bound
        if self.use_wrk:
            return self._wrk(server, kind, duration, seed, paths_file, max_requests)
        job: dict[str, Any] = {
            "mode": "load",
            "kind": kind,
            "port": server.port,
            "connections": self.connections,
            "headers": server.headers,
            "seed": seed,
            "duration": duration,
            "max_requests": max_requests,
        }
        if kind == "post":
            job.update(
                path=server.create_path,
                expiry=EXPIRY,
                parties=[line.split() for line in self.parties_file.read_text().splitlines()],
            )
        else:
            job["paths"] = paths_file.read_text().splitlines()
        r = self._loadgen(job, timeout=duration + 60)
        return Result(
            r["rate"],
            r["p50_us"],
            r["p99_us"],
            r["requests"],
            r["non2xx"],
            r["errors"],
            r["capped"],
            "" if not r["non2xx"] else json.dumps(r["statuses"]),
        )

    def _wrk(
        self, server: Server, kind: str, duration: float, seed: int, paths_file: Path, max_requests: int
    ) -> Result:
        auth = server.headers.get("Authorization", "-")
        data = self.parties_file if kind == "post" else paths_file
        cmd = [
            "wrk",
            "-t1",
            f"-c{self.connections}",
            f"-d{duration:g}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_LUA),
            f"http://127.0.0.1:{server.port}",
            "--",
            kind,
            str(data),
            str(max_requests),
            str(seed),
            auth,
            server.create_path,
            str(EXPIRY),
        ]
        out = _run(cmd, timeout=duration + 60, cpus=self.cpus)
        lines = [line for line in out.splitlines() if line.startswith("WRKJSON ")]
        if not lines:
            raise BenchError(f"wrk printed no result:\n{out[-2000:]}")
        r = json.loads(lines[-1][len("WRKJSON ") :])
        seconds = r["duration_us"] / 1e6
        return Result(
            r["requests"] / seconds,
            r["p50_us"],
            r["p99_us"],
            r["requests"],
            r["non2xx"],
            r["errors"],
            r["requests"] >= max_requests,
            r["bad_statuses"],
        )


# -- data ------------------------------------------------------------------------------------------
def _valid(e164: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))


def make_parties(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct valid first parties (+1415...) and second parties (+1628...)."""
    rng = random.Random(seed)

    def side(area: str) -> list[str]:
        numbers = [f"+1{area}{n:07d}" for n in rng.sample(range(2_000_000, 10_000_000), count * 2)]
        valid = [n for n in numbers if _valid(n)][:count]
        if len(valid) < count:
            raise BenchError(f"could not draw {count} valid +1{area} numbers")
        return valid

    return list(zip(side("415"), side("628"), strict=True))


def pool_numbers(size: int) -> list[str]:
    numbers = [f"+1650555{n:04d}" for n in range(100, 100 + size)]
    invalid = [n for n in numbers if not _valid(n)]
    if invalid:
        raise BenchError(f"pool numbers not valid: {invalid[:3]}")
    return numbers


# -- report ---------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = ""
    if shutil.which("wrk"):
        probe = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        wrk = (probe.stdout + probe.stderr).split("Copyright")[0].strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk,
        "revision": revision(),
    }


def revision() -> str:
    """The maskline commit measured, and whether src/ differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    if head.returncode != 0:
        return "unknown revision"
    changed = " plus uncommitted changes in src/" if dirty.stdout.strip() else ""
    return f"commit {head.stdout.strip()}{changed}"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)


def _fmt_us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def command_line() -> str:
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(ROOT))
    except ValueError:
        shown = str(exe)
    script = os.path.relpath(Path(sys.argv[0]).resolve(), ROOT)  # the benchmark that is running
    return shlex.join([shown, script, *sys.argv[1:]])


SERVERS = {
    "maskline": "maskline (`maskline serve`: uvicorn, its httptools protocol within the edge limits)",
    "maskline-granian": "maskline on granian (`granian --interface asgi --factory "
    "maskline.http.app:worker_app`)",
    "maskline-plain": "maskline on uvicorn without the edge limits (`uvicorn --factory --http httptools "
    "maskline.http.app:worker_app`)",
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
                f"| ≥ {TARGETS[op]:.0%}: {verdict} | {_fmt_us(statistics.median(r.p50_us for r in runs))} "
                f"| {_fmt_us(statistics.median(r.p99_us for r in runs))} |"
            )
        for name in results:
            per_round = ", ".join(f"{r.rate:,.0f}" for r in results[name][op])
            rounds.append(f"- {op}, {name}, req/s per round: {per_round}")
    busiest = max(r.client_cpu for ops in results.values() for rs in ops.values() for r in rs)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            BEGIN,
            "## Session API: maskline against a bare Starlette baseline",
            "",
            f"Produced on {date} by `{command_line()}` (also `make bench`), maskline at {info['revision']}.",
            "",
            f"Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['os']}; Python {info['python']}, "
            f"SQLite {info['sqlite']}.",
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


def write_docs(section: str, path: Path, begin: str = BEGIN, end: str = END) -> None:
    """Replace the text between ``begin`` and ``end`` in ``path`` (append it the first time)."""
    if path.exists():
        text = path.read_text()
    else:
        text = (
            "# Benchmarks\n\nFigures produced by the scripts in `benchmarks/`; each section names the "
            "command that produced it. Rerun it to refresh the section.\n"
        )
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- main -----------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="whole seconds of warm-up per server and operation")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--parties", type=int, default=8000, help="distinct first (and second) parties")
    p.add_argument("--pool", type=int, default=50, help="virtual numbers in maskline's pool")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--docs", type=Path, default=DOCS, help="file whose benchmark section is rewritten")
    p.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    p.add_argument(
        "--servers",
        default="maskline,bare-uvicorn,bare-granian",
        help=f"comma-separated, among {', '.join(SERVERS)} (at least one bare)",
    )
    return p


@dataclass(frozen=True)
class Setup:
    """The load client and the CPU split of a run; shared with benchmarks/routing.py."""

    use_wrk: bool
    server_cpus: set[int] | None
    client_cpus: set[int] | None
    pinning: str

    def client_name(self, info: dict[str, str]) -> str:
        return info["wrk"] + " (1 thread)" if self.use_wrk else "benchmarks/loadgen.py (Python, uvloop)"


def setup(client: str) -> Setup:
    """wrk when asked for or installed (else the Python client); servers on the first CPU."""
    if client == "wrk" and not shutil.which("wrk"):
        raise BenchError("--client wrk: wrk is not installed (apt-get install wrk)")
    use_wrk = client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return Setup(use_wrk, None, None, "not pinned (one CPU available)")
    rest = ",".join(map(str, available[1:]))
    pinning = f"servers pinned to CPU {available[0]}, client to CPU {rest}"
    return Setup(use_wrk, {available[0]}, set(available[1:]), pinning)


def _server(name: str, workdir: Path, pool: int, session_base: str, credentials: str) -> Server:
    """One of SERVERS on a free port, with a database of its own (maskline's: an account and a pool)."""
    port = _free_port()
    if name.startswith("bare"):
        kind = name.removeprefix("bare-")
        cmd = [sys.executable, str(BARE), "--port", str(port), "--database", str(workdir / f"{name}.db")]
        return Server(
            name,
            [*cmd, "--server", kind],
            port,
            workdir / f"{name}.log",
            "/rows",
            "id",
            lambda row: f"/rows/{row}",
        )
    maskline = maskline_command()
    database = f"sqlite:///{workdir / name}.db"
    create = ["account", "create", "--auth-id", AUTH_ID, "--auth-token", AUTH_TOKEN, "--database", database]
    _run([*maskline, *create], timeout=60)
    _run([*maskline, "number", "add", *pool_numbers(pool), "--account", AUTH_ID, "--database", database], 60)
    if name == "maskline":
        cmd = [*maskline, "serve", "--port", str(port), "--database", database]
    elif name == "maskline-plain":
        plain = [
            str(BIN / "uvicorn"),
            "--factory",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
        ]
        cmd = [*plain, "--port", str(port), "maskline.http.app:worker_app"]
    else:
        granian = [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            "--loop",
            "uvloop",
            "--http",
            "1",
        ]
        cmd = [*granian, "--no-ws", "--workers", "1", "--port", str(port), "maskline.http.app:worker_app"]
    return Server(
        name,
        cmd,
        port,
        workdir / f"{name}.log",
        session_base,
        "session_uuid",
        lambda uuid: f"{session_base}{uuid}/",
        {"Authorization": f"Basic {credentials}"},
        {"MASKLINE_DATABASE_URL": database},
    )


def main() -> int:
    args = _parser().parse_args()
    began = time.monotonic()
    run = setup(args.client)
    use_wrk, server_cpus, client_cpus, pinning = run.use_wrk, run.server_cpus, run.client_cpus, run.pinning
    info = machine()
    client_name = run.client_name(info)
    print(f"client: {client_name}; {pinning}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="maskline-bench-"))
    pairs = make_parties(args.parties, args.seed)
    parties_file = workdir / "parties.txt"
    parties_file.write_text("".join(f"{a} {b}\n" for a, b in pairs))

    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVERS]
    if unknown or not any(name.startswith("bare") for name in names):
        raise BenchError(f"--servers: unknown {unknown}, or no bare server")
    if any(name.endswith("granian") for name in names) and shutil.which(str(BIN / "granian")) is None:
        raise BenchError("granian is not installed: pip install -e '.[bench]', or leave out *-granian")
    credentials = base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
    session_base = f"/v1/Account/{AUTH_ID}/Masking/Session/"
    servers = [_server(name, workdir, args.pool, session_base, credentials) for name in names]
    client = Client(use_wrk, client_cpus, args.connections, workdir, parties_file)
    results: dict[str, dict[str, list[Result]]] = {s.name: {"create": [], "get": []} for s in servers}
    measured = 0
    try:
        for server in servers:
            server.start(server_cpus)
        for server in servers:
            server.wait_ready()
        paths_files = {}
        for server in servers:
            t0 = time.monotonic()
            server.ids = client.seed(server, pairs)
            paths_files[server.name] = workdir / f"{server.name}-paths.txt"
            paths_files[server.name].write_text("".join(server.get_path(i) + "\n" for i in server.ids))
            print(
                f"seeded {len(server.ids):,} sessions on {server.name} in {time.monotonic() - t0:.1f} s",
                flush=True,
            )
        for server in servers:
            for kind in ("post", "get"):
                warm = client.load(server, kind, args.warmup, args.seed, paths_files[server.name])
                if warm.non2xx or warm.errors:
                    raise BenchError(f"warm-up of {server.name} {kind}: {warm.non2xx} non-2xx {warm.detail}")
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
                        f"  p50 {_fmt_us(r.p50_us):>9}  p99 {_fmt_us(r.p99_us):>9}"
                        f"  client cpu {r.client_cpu:4.0%}"
                        f"  non-2xx {r.non2xx}  errors {r.errors}{'  CAPPED' if r.capped else ''}"
                        f"{'  ' + r.detail if r.detail else ''}",
                        flush=True,
                    )
        for server in servers:
            if server.process is None or server.process.poll() is not None:
                raise BenchError(f"{server.name} died during the run:\n{server.log.read_text()[-2000:]}")
    finally:
        for server in servers:
            server.stop()

    bad = [
        f"{name} {op} round {i + 1}: {r.non2xx} non-2xx {r.detail}, {r.errors} socket errors"
        + (", request cap reached" if r.capped else "")
        for name, ops in results.items()
        for op, rs in ops.items()
        for i, r in enumerate(rs)
        if r.non2xx or r.errors or r.capped
    ]
    section = report(results, info, args, client_name, pinning, measured)
    return finish(section, began, bad, workdir, None if args.no_docs else args.docs, BEGIN, END)


def finish(
    section: str, began: float, bad: list[str], workdir: Path, docs: Path | None, begin: str, end: str
) -> int:
    """Print a run's section; write it to ``docs`` only if no measurement went wrong (``bad``)."""
    print()
    print(section)
    print(f"\ntotal time {time.monotonic() - began:.0f} s")
    if bad:
        print(
            f"INVALID RUN (docs not written; logs and databases kept in {workdir}):\n  " + "\n  ".join(bad),
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    if docs is not None:
        write_docs(section, docs, begin, end)
        print(f"wrote {os.path.relpath(docs, ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
