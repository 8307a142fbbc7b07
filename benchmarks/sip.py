"""SIP benchmark: calls through Kamailio and maskline's routing with 1,000 and 100,000 live sessions.

    .venv/bin/python benchmarks/sip.py

Starts two ``maskline serve`` processes on 127.0.0.1 (free ports, temporary SQLite databases), set
up and seeded as benchmarks/routing.py does: ``maskline account create`` and ``maskline number
add`` (a pool of --pool numbers), then --small live sessions in one store and --large in the other,
created through the Session API by benchmarks/loadgen.py, every create and the live session count
per number checked. Both run in SIP mode: MASKLINE_SIP_SECRET set, MASKLINE_SIP_TRUNK pointing at
the callee. In front of each runs its own Kamailio with the reference configuration,
sip/kamailio.cfg (copied, its settings given with -A: LISTEN, MASKLINE_URL, MASKLINE_SECRET,
TOPOH_KEY, CHILDREN, TRUSTED_SOURCES; --shm MB of shared memory), so the stores share only the
callee and the CPU. The callee is one SIPp UAS (benchmarks/sip_uas.xml) that answers every INVITE
at once, so the time measured is the proxy's and maskline's, not ringing; it counts as failed any
call whose INVITE or BYE carries a caller's number, and must end with status 0.

Before measuring, --checks calls per store go through the test suite's scenarios in full
(tests/sip/uac.xml to tests/sip/uas.xml: the callee must be the second party and see only the
virtual number, the caller must get its own From back), and a caller in no session must be
refused with 403 (tests/sip/uac_refused.xml).

Every call is a SIPp UAC call of tests/sip/uac.xml: INVITE, 200, ACK, 100 ms, BYE, 200. The caller
is the first party of a live session drawn at random and the Request-URI its virtual number (a
fresh injection file per run). After a --warmup s warm-up per store, --rounds rounds alternate
between the stores; in each, a store gets --duration s of closed loop, --users calls at a time
(SIPp -users, stopped with SIGUSR1: calls/s and INVITE-to-200 under load), then --light-rate
calls/s for --light-duration s (open loop, SIPp -r: the INVITE-to-200 of a call that does not
queue). INVITE-to-200 is read from SIPp's message trace (-trace_shortmsg, microseconds); calls/s
is the successful calls over the time from the first INVITE to the last BYE's 200.

After every run the benchmark waits until Kamailio's reports to /sip/event (answered, ended) are
all in maskline's database or logged as dropped by Kamailio, so that no run pays for the one
before. A run is valid only if SIPp counts no failed call, every call made exactly one call row
(one routing decision) and the reports add up; otherwise the run is invalid (exit status 1, docs
left alone). Medians of the rounds and the large/small ratios are printed and written to the
section of docs/benchmarks.md between the markers below. maskline and Kamailio are pinned to one
CPU and SIPp to the other when there are two. Every process runs under a time limit (coreutils
timeout, or SIPp's own -timeout) and is stopped by its PID; the whole run is bounded by --budget.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ROOT, BenchError, run_main
from harness.loadclient import Client, children_cpu
from harness.numbers import make_parties, pool_numbers
from harness.pinning import pinned, split
from harness.report import (
    docs_options,
    docs_target,
    finish,
    fmt_us,
    load_text,
    machine,
    machine_line,
    markers,
    median,
    note_load,
    paired,
    produced,
)
from harness.servers import maskline_command, stop, udp_port, wait_for
from harness.stores import EXPIRY, Store, check_stores, comparison, layout, new_store, populate, store_options

HERE = Path(__file__).resolve().parent
CALLEE = HERE / "sip_uas.xml"
SCENARIOS = ROOT / "tests" / "sip"
CONFIG = ROOT / "sip" / "kamailio.cfg"
BEGIN, END = markers(__file__)

SECRET = "sip-benchmark-secret"
DROPPED = ("runaway while", "no more shm to add to: reports")  # Kamailio's log when a report is lost
LINES = 20_000  # calls per injection file; SIPp starts it over when a run places more
SETTLE = 90.0  # seconds the reports of one run may take to arrive


# -- processes --------------------------------------------------------------------------------------
def _udp_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _limited(cmd: list[str], seconds: float) -> list[str]:
    """``cmd`` under coreutils timeout, which relays SIGTERM: it ends even if this script dies."""
    return ["timeout", "-k", "5", str(math.ceil(seconds)), *cmd]


def _cpu_seconds(pid: int) -> float:
    """CPU time a live process has used so far (utime + stime from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _version(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0] if lines else "unknown version"


def _sip_options(port: int) -> bool:
    """Whether the Kamailio on ``port`` answers an OPTIONS to itself (a trunk's keepalive) with 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        here, tag = sock.getsockname()[1], secrets.token_hex(6)
        lines = [
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK{tag}",
            f"From: <sip:benchmark@127.0.0.1:{here}>;tag={tag}",
            f"To: <sip:127.0.0.1:{port}>",
            f"Call-ID: {tag}@127.0.0.1",
            "CSeq: 1 OPTIONS",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", port))
        try:
            return sock.recv(4096).startswith(b"SIP/2.0 200 ")
        except OSError:
            return False


@dataclass
class Proxy:
    """One Kamailio running sip/kamailio.cfg in front of one store's maskline."""

    label: str
    port: int
    rundir: Path
    process: subprocess.Popen[bytes] | None = None
    read: int = 0  # bytes of its log counted so far
    dropped: int = 0  # reports it has logged as lost so far

    @property
    def log(self) -> Path:
        return self.rundir / "kamailio.log"

    def start(self, maskline_url: str, children: int, shm: int, limit: float, cpus: set[int] | None) -> None:
        self.rundir.mkdir()
        config = self.rundir / "kamailio.cfg"
        shutil.copy(CONFIG, config)  # a copy: a site's maskline-local.cfg beside the original stays out
        settings = {
            "LISTEN": f"udp:127.0.0.1:{self.port}",
            "MASKLINE_URL": f'"{maskline_url}"',
            "MASKLINE_SECRET": f'"{SECRET}"',
            "TOPOH_KEY": f'"{secrets.token_hex(16)}"',
            "CHILDREN": str(children),
            "TRUSTED_SOURCES": '"127.0.0.1/32"',
        }
        args = ["-f", str(config), *(a for k, v in settings.items() for a in ("-A", f"{k}={v}"))]
        check = subprocess.run(["kamailio", "-c", *args], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise BenchError(
                f"kamailio -c refused sip/kamailio.cfg:\n{(check.stdout + check.stderr)[-2000:]}"
            )
        cmd = ["kamailio", "-DD", "-E", "-Y", str(self.rundir), "-m", str(shm), "-M", "8", *args]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                _limited(cmd, limit), stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpus)
            )

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise BenchError(f"kamailio ({self.label}) exited:\n{self.log.read_text()[-2000:]}")
            return _sip_options(self.port)

        wait_for(ready, f"kamailio ({self.label}) to answer OPTIONS", 20)

    def count_dropped(self) -> int:
        """Reports Kamailio has dropped so far, from the lines its log gained since the last call."""
        with open(self.log, "rb") as log:
            log.seek(self.read)
            text = log.read()
        whole = text[: text.rfind(b"\n") + 1]  # a line still being written is read next time
        self.read += len(whole)
        self.dropped += sum(whole.count(marker.encode()) for marker in DROPPED)
        return self.dropped

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


# -- SIPp -------------------------------------------------------------------------------------------
@dataclass
class Sipp:
    """How SIPp is run here: on 127.0.0.1 with ports of its own, its files in ``workdir``."""

    workdir: Path
    cpus: set[int] | None
    runs: int = 0

    def command(self, scenario: Path, name: str, *args: str, port: int | None = None) -> list[str]:
        return [
            "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port or udp_port()),
            "-cp", str(udp_port()), "-mp", str(udp_port()), "-nostdin",
            "-trace_err", "-error_file", str(self.workdir / f"{name}_errors.log"),
            *args,
        ]  # fmt: skip

    def start(self, cmd: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.out", "wb") as out:
            return subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, preexec_fn=pinned(self.cpus)
            )

    def failure(self, name: str, code: int | None) -> str:
        """What a failed SIPp run left behind, for the error message."""
        parts = [f"SIPp {name} exited {code}"]
        for path in (self.workdir / f"{name}.out", self.workdir / f"{name}_errors.log"):
            if path.exists():
                parts.append(f"--- {path}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def injection(self, name: str, calls: list[tuple[str, str]]) -> Path:
        """A SIPp injection file: one call a line, the caller then the number dialled."""
        path = self.workdir / f"{name}.csv"
        path.write_text("SEQUENTIAL\n" + "".join(f"{caller};{dialled};\n" for caller, dialled in calls))
        return path


def _finished(process: subprocess.Popen[bytes], seconds: float) -> int:
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        stop(process)
        raise BenchError(f"SIPp (pid {process.pid}) still running after {seconds:.0f} s") from None


def check_calls(sipp: Sipp, proxy: Proxy, trunk: int, sessions: list[tuple[str, str, str]]) -> None:
    """Place each session's call with the test suite's scenarios: tests/sip/uas.xml refuses any
    INVITE not masked as it should be, tests/sip/uac.xml any 200 without the caller's own From."""
    for first, second, virtual in sessions:
        name = f"check-{proxy.label}-{sipp.runs}"
        sipp.runs += 1
        callee_cmd = sipp.command(
            SCENARIOS / "uas.xml", f"{name}-uas", "-m", "1", "-set", "virtual", virtual,
            "-set", "callee", second, "-timeout", "30s", "-timeout_error", port=trunk,
        )  # fmt: skip
        callee = sipp.start(callee_cmd, f"{name}-uas")
        try:
            wait_for(lambda: _udp_taken(trunk), "the checking callee to bind its port", 10)
            caller = sipp.start(
                sipp.command(
                    SCENARIOS / "uac.xml", f"{name}-uac", f"127.0.0.1:{proxy.port}",
                    "-inf", str(sipp.injection(name, [(first, virtual)])), "-m", "1",
                    "-timeout", "30s", "-timeout_error",
                ),
                f"{name}-uac",
            )  # fmt: skip
            if _finished(caller, 40) != 0:
                raise BenchError(
                    f"{first} calling {virtual}:\n{sipp.failure(f'{name}-uac', caller.returncode)}"
                )
            if _finished(callee, 20) != 0:
                raise BenchError(
                    f"{second} reached as {virtual}:\n{sipp.failure(f'{name}-uas', callee.returncode)}"
                )
        finally:
            stop(callee)


def check_refused(sipp: Sipp, proxy: Proxy, stranger: str, virtual: str) -> None:
    """A caller in no session must get 403 from maskline's decision (nothing reaches the callee)."""
    name = f"refused-{proxy.label}"
    cmd = sipp.command(
        SCENARIOS / "uac_refused.xml", name, f"127.0.0.1:{proxy.port}",
        "-inf", str(sipp.injection(name, [(stranger, virtual)])), "-m", "1", "-set", "expected", "403",
        "-timeout", "30s", "-timeout_error",
    )  # fmt: skip
    caller = sipp.start(cmd, name)
    if _finished(caller, 40) != 0:
        raise BenchError(
            f"{stranger} (in no session) calling {virtual}:\n{sipp.failure(name, caller.returncode)}"
        )


# -- measured runs ----------------------------------------------------------------------------------
@dataclass
class Run:
    """One SIPp run of calls to one store, and what maskline recorded of it."""

    calls: int  # successful, as SIPp counts them
    failed: int
    retransmissions: int
    rate: float  # successful calls/s, first INVITE to the last BYE's 200
    p50_us: float  # INVITE to 200
    p99_us: float
    client_cpu: float  # CPU of SIPp (caller and callee) per second of the run
    timed: int = 0  # calls with an INVITE-to-200 in the trace
    rows: int = 0  # call rows maskline added: one routing decision each
    reports: int = 0  # answered and ended reports maskline recorded
    dropped: int = 0  # reports Kamailio logged as lost
    lag: float = 0.0  # seconds from the run's end until every report was in or dropped
    detail: str = ""

    def problems(self) -> list[str]:
        found = []
        if self.failed or self.detail:
            found.append(f"{self.failed} failed calls {self.detail}".strip())
        if self.timed != self.calls:
            found.append(f"{self.timed:,} INVITE-to-200 timings for {self.calls:,} calls")
        if self.rows != self.calls:
            found.append(f"{self.rows:,} call rows for {self.calls:,} calls")
        if self.reports + self.dropped != 2 * self.calls:
            found.append(
                f"{self.reports:,} reports recorded and {self.dropped:,} dropped for {self.calls:,} calls"
            )
        return found


def tally(database: Path) -> tuple[int, int]:
    """Call rows in a store, and the reports they hold: one for an answer, one for an end."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        rows, answered, ended = db.execute(
            "SELECT COUNT(*), COUNT(answered), COALESCE(SUM(state = 'ended'), 0) FROM calls"
        ).fetchone()
    finally:
        db.close()
    return int(rows), int(answered) + int(ended)


def sipp_stats(path: Path) -> dict[str, str]:
    """The last line of a SIPp statistics file (-trace_stat), by column."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        raise BenchError(f"SIPp wrote no statistics to {path}")
    return dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))


def invite_timings(trace: Path) -> tuple[list[float], float]:
    """From a SIPp short-message trace: each answered call's INVITE-to-200 in µs, and the seconds
    from the first message to the last."""
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    first = last = 0.0
    with open(trace, errors="replace") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 7:
                continue
            when, (direction, call_id, cseq, start) = float(fields[2]), fields[3:7]
            first, last = first or when, when
            if cseq != "CSeq:1 INVITE":
                continue
            if direction == "S":
                sent.setdefault(call_id, when)  # a retransmission keeps the first send
            elif start.startswith("SIP/2.0 200 "):
                answered.setdefault(call_id, when)
    return [(answered[c] - sent[c]) * 1e6 for c in answered if c in sent], last - first


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


@dataclass
class Bench:
    """What every run needs: the SIPp setup, the callee, the budget."""

    sipp: Sipp
    callee: subprocess.Popen[bytes]
    rng: random.Random
    budget_left: Callable[[], float]

    def calls(self, store: Store, count: int) -> list[tuple[str, str]]:
        """``count`` calls, each from the first party of a random live session to its virtual number."""
        return [
            (first, virtual) for first, _, virtual in (self.rng.choice(store.sessions) for _ in range(count))
        ]

    def place(
        self, store: Store, proxy: Proxy, load: list[str], calls: int, seconds: float, closed: bool
    ) -> Run:
        """One SIPp UAC run of ``load`` (SIPp options) against ``proxy``, about ``seconds`` long:
        a closed loop is stopped with SIGUSR1 then, an open one ends after its ``calls``. Then
        wait for maskline to have every report."""
        name = f"run-{self.sipp.runs}-{store.label}"
        self.sipp.runs += 1
        limit = seconds + 60
        if limit + SETTLE > self.budget_left():
            raise BenchError(f"no budget left for {name} (needs up to {limit + SETTLE:.0f} s)")
        if self.callee.poll() is not None:
            raise BenchError(self.sipp.failure("callee", self.callee.returncode))
        files = [self.sipp.workdir / f"{name}.{kind}" for kind in ("trace", "stats", "csv")]
        cmd = self.sipp.command(
            SCENARIOS / "uac.xml", name, f"127.0.0.1:{proxy.port}",
            "-inf", str(self.sipp.injection(name, self.calls(store, calls))),
            "-trace_shortmsg", "-shortmessage_file", str(files[0]),
            "-trace_stat", "-stf", str(files[1]), "-fd", "3600",
            "-timeout", f"{math.ceil(limit)}s", "-timeout_error", *load,
        )  # fmt: skip
        before = (*tally(store.database), proxy.count_dropped())
        code, client_cpu = self._call(cmd, name, seconds if closed else None, limit + 30)
        run = read_run(files[0], files[1], client_cpu)
        run.detail = "" if code == 0 else self.sipp.failure(name, code)[-1500:]
        settle(run, store, proxy, before)
        if not run.problems():
            for path in files:
                path.unlink(missing_ok=True)
        return run

    def _call(self, cmd: list[str], name: str, stop_after: float | None, limit: float) -> tuple[int, float]:
        """Run a SIPp UAC, with SIGUSR1 (no new calls; those under way finish) after ``stop_after``
        seconds if given; its exit status, and the CPU SIPp used per second (caller and callee)."""
        cpu, began = children_cpu() + _cpu_seconds(self.callee.pid), time.monotonic()
        caller = self.sipp.start(cmd, name)
        if stop_after is not None:
            try:
                caller.wait(timeout=stop_after)
            except subprocess.TimeoutExpired:
                caller.send_signal(signal.SIGUSR1)
        code = _finished(caller, limit)
        used = children_cpu() + _cpu_seconds(self.callee.pid) - cpu
        return code, used / (time.monotonic() - began)


def read_run(trace: Path, stats: Path, client_cpu: float) -> Run:
    """A run's figures from SIPp's statistics (calls, failures, retransmissions) and message trace
    (INVITE-to-200 of each call; calls/s over the time from the first message to the last)."""
    if not trace.exists() or not stats.exists():
        raise BenchError(f"SIPp wrote no {trace.name} or {stats.name}; see {trace.parent}")
    counted = sipp_stats(stats)
    latencies, span = invite_timings(trace)
    calls = int(counted["SuccessfulCall(C)"])
    return Run(
        calls=calls,
        failed=int(counted["FailedCall(C)"]),
        retransmissions=int(counted["Retransmissions(C)"]),
        rate=calls / span if span > 0 else 0.0,
        p50_us=statistics.median(latencies) if latencies else 0.0,
        p99_us=_p99(latencies) if latencies else 0.0,
        client_cpu=client_cpu,
        timed=len(latencies),
    )


def settle(run: Run, store: Store, proxy: Proxy, before: tuple[int, int, int]) -> None:
    """Wait until the reports of ``run``'s calls are all recorded or dropped (or stop coming), and
    note them; ``before``: the store's call rows, reports recorded and reports dropped before."""
    started, expected = time.monotonic(), 2 * run.calls
    seen, still_since = (-1, -1), started
    while time.monotonic() - started < SETTLE:
        rows, reports = tally(store.database)
        dropped = proxy.count_dropped()
        run.rows, run.reports, run.dropped = rows - before[0], reports - before[1], dropped - before[2]
        if run.reports + run.dropped >= expected:
            break
        if (run.reports, run.dropped) != seen:
            seen, still_since = (run.reports, run.dropped), time.monotonic()
        elif time.monotonic() - still_since > 5:
            break  # nothing for 5 s: Kamailio sends every 50 ms, so what is missing is lost
        time.sleep(0.1)
    run.lag = time.monotonic() - started


# -- report -----------------------------------------------------------------------------------------
def _variation(values: list[float]) -> float:
    """(max - min) / median: how far the rounds of one store differ."""
    return (max(values) - min(values)) / statistics.median(values)


def _verdict(busy: tuple[list[Run], list[Run]], light: tuple[list[Run], list[Run]], light_rate: int) -> str:
    """Whether the larger store (second of each pair) differs by more than the rounds of one store."""
    rate = statistics.median(paired(*busy))
    p50 = statistics.median(paired(*light, key="p50_us"))
    rate_noise = max(*(_variation([r.rate for r in runs]) for runs in busy), 0.05)
    p50_noise = max(*(_variation([r.p50_us for r in runs]) for runs in light), 0.10)
    slower = []
    if rate < 1 - rate_noise:
        slower.append(f"{1 - rate:.0%} fewer calls/s under load")
    if p50 > 1 + p50_noise:
        slower.append(f"{p50 - 1:.0%} more time to answer at {light_rate} calls/s")
    if not slower:
        return (
            "No difference beyond noise: the lookup each INVITE waits for is the one benchmarks/routing.py "
            "measures (a few index probes, one call row inserted and committed), whose cost does not grow "
            "with the live sessions."
        )
    if len(busy[0]) < 3:
        rounds = len(busy[0])
        return (
            f"The larger store shows {' and '.join(slower)}, but {rounds} rounds cannot tell that from noise."
        )
    return (
        f"The larger store shows {' and '.join(slower)} (medians of the same-round ratios), more than the "
        "rounds of one store differ: profile both servers (py-spy) to see where the time goes."
    )


def _reading(
    small: Store,
    large: Store,
    busy: dict[str, list[Run]],
    light: dict[str, list[Run]],
    args: argparse.Namespace,
) -> str:
    s, g = busy[small.label], busy[large.label]
    s1, g1 = median(light[small.label], "p50_us"), median(light[large.label], "p50_us")
    ratios = paired(s, g)
    figures = (
        f"With {large.size:,} live sessions the proxy completed {median(g, 'rate'):,.0f} calls/s against "
        f"{median(s, 'rate'):,.0f}/s with {small.size:,} (×{median(g, 'rate') / median(s, 'rate'):.2f}; "
        f"round by round ×{min(ratios):.2f} to ×{max(ratios):.2f}), and at {args.light_rate} calls/s an "
        f"INVITE was answered in {fmt_us(g1)} at the median against {fmt_us(s1)} (×{g1 / s1:.2f})."
    )
    verdict = _verdict((s, g), (light[small.label], light[large.label]), args.light_rate)
    cost = (
        "Per call maskline answers three requests: `/sip/route` while the INVITE waits, then the answered "
        "and ended reports, each on a new connection (Kamailio's `http_client` keeps none open). The "
        f"{args.children} Kamailio workers each wait for `/sip/route` in turn, and the reports go out one "
        "at a time from each of two timer processes, behind the calls when the load is high. Under the "
        f"closed loop the INVITE-to-200 is mostly queueing: {args.users} calls at a time, each 100 ms of "
        "talk plus its two transactions."
    )
    return f"{figures} {verdict} {cost}"


def _checks_line(runs: list[Run], busy: list[Run], args: argparse.Namespace) -> list[str]:
    calls = sum(r.calls for r in runs)
    retrans = sum(r.retransmissions for r in runs)
    reports = sum(r.reports + r.dropped for r in runs)
    dropped = sum(r.dropped for r in runs)
    lags = [r.lag for r in busy]
    lines = [
        f"- every one of the {calls:,} measured calls succeeded (SIPp: no failed call, {retrans:,} "
        f"retransmissions) and made one call row in maskline; before measuring, {args.checks} calls per "
        "store passed the test suite's masking checks (tests/sip/uas.xml) and a caller in no session was "
        f"refused with 403. SIPp used at most {max(r.client_cpu for r in runs):.0%} of a CPU (near 100% "
        "would mean client-bound).",
        "- reports to `/sip/event`: after a closed-loop run maskline had them all "
        f"{statistics.median(lags):.1f} s later (median; at most {max(lags):.1f} s), as Kamailio's two "
        "reporting processes send them one at a time each; "
        + (
            f"Kamailio dropped {dropped:,} of {reports:,} ({dropped / reports:.2%}), logged as "
            "`runaway while` (more than 100 queued at one 50 ms tick: `max_while_loops`) or `no more shm`."
            if dropped
            else f"none of the {reports:,} was dropped."
        ),
    ]
    return lines


def report(
    stores: list[Store],
    busy: dict[str, list[Run]],
    light: dict[str, list[Run]],
    info: dict[str, str],
    args: argparse.Namespace,
    extra: dict[str, dict[str, Any]],
) -> str:
    small, large = stores
    rows, rounds = comparison(stores, busy, light, extra, "calls", f"at {args.light_rate} calls/s")
    every = [r for results in (busy, light) for runs in results.values() for r in runs]
    all_busy = [r for runs in busy.values() for r in runs]
    return "\n".join(
        [
            BEGIN,
            f"## SIP: calls through Kamailio with {small.size:,} and {large.size:,} live sessions",
            "",
            produced(info["revision"]) + f"; {info['kamailio']}, {info['sipp']}.",
            "",
            f"{machine_line(info)}, SQLite {info['sqlite']}; {load_text(info)}.",
            f"Load: SIPp; {info['pinning']}. Two `maskline serve` processes, one per store, each behind its "
            f"own Kamailio (`sip/kamailio.cfg`, CHILDREN={args.children}, {args.shm} MB of shared memory); "
            f"one SIPp callee answers at once. After a {args.warmup} s warm-up per store, {args.rounds} "
            f"rounds alternate between the stores; in each, a store gets {args.duration} s of closed loop, "
            f"{args.users} calls at a time (calls/s; INVITE-to-200 p50, p99 under load), then "
            f"{args.light_rate} calls/s for {args.light_duration} s (INVITE-to-200 of a call that does not "
            "queue). Medians of the rounds.",
            "",
            f"| live sessions | calls/s ({args.users} at a time) | p50 | p99 | p50 at {args.light_rate}/s "
            f"| p99 at {args.light_rate}/s | where they live | database |",
            "|---:|---:|---:|---:|---:|---:|---|---:|",
            *rows,
            "",
            *rounds,
            *_checks_line(every, all_busy, args),
            f"- call rows by the end (checks, warm-up, rounds): {extra[small.label]['rows']:,} in the "
            f"{small.size:,} store, {extra[large.label]['rows']:,} in the {large.size:,} store.",
            "",
            "What runs: each call is SIPp's `tests/sip/uac.xml`: INVITE, 200, ACK, 100 ms, BYE, 200, from "
            "the first party of a live session drawn uniformly at random to its virtual number. Kamailio "
            "posts the caller, the number and the Call-ID to maskline's `/sip/route` (with "
            "`X-Maskline-Secret`), which routes it as it routes a carrier's answer webhook and records the "
            "call; Kamailio then relays the INVITE masked (From and P-Asserted-Identity the virtual number, "
            "topology hidden) to the callee, a SIPp UAS (`benchmarks/sip_uas.xml`) that answers at once, and "
            "reports the answer and the end to `/sip/event`. INVITE-to-200 is timed by the caller from "
            "SIPp's message trace; calls/s counts successful calls from the first INVITE to the last BYE's "
            "200. The sessions were created through the Session API (`session_expiry` 86400) on a pool of "
            f"{args.pool} numbers, first-fit, every party in {args.per_party} sessions.",
            "",
            _reading(small, large, busy, light, args),
            END,
        ]
    )


# -- main -------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    store_options(p)
    p.add_argument("--duration", type=int, default=8, help="whole seconds of closed loop per run")
    p.add_argument("--users", type=int, default=64, help="calls at a time in the closed loop")
    p.add_argument("--light-rate", type=int, default=50, help="calls/s of the light, open-loop runs")
    p.add_argument("--light-duration", type=int, default=4, help="whole seconds per light run")
    p.add_argument("--warmup", type=int, default=3, help="whole seconds of closed loop per store first")
    p.add_argument("--checks", type=int, default=3, help="calls per store checked in full before")
    p.add_argument("--children", type=int, default=4, help="Kamailio's SIP workers (CHILDREN)")
    p.add_argument("--shm", type=int, default=256, help="MB of shared memory for each Kamailio (-m)")
    p.add_argument("--seed", type=int, default=20240611)
    p.add_argument("--budget", type=int, default=900, help="seconds: give up past this")
    docs_options(p)
    return p


def _check(args: argparse.Namespace) -> None:
    check_stores(args)
    if min(args.rounds, args.duration, args.users, args.light_rate, args.light_duration, args.checks) < 1:
        raise BenchError("--rounds, --duration, --users, --light-* and --checks must be positive")
    missing = [tool for tool in ("kamailio", "sipp", "timeout") if shutil.which(tool) is None]
    if missing:
        raise BenchError(
            f"{', '.join(missing)} not found (Debian: kamailio kamailio-utils-modules kamailio-extra-modules "
            "sip-tester)"
        )


@dataclass
class Rig:
    """What a run starts: both stores' servers, a Kamailio for each, and the callee."""

    args: argparse.Namespace
    workdir: Path
    stores: list[Store]
    proxies: list[Proxy]
    sipp: Sipp
    trunk: int  # the callee's port: maskline's MASKLINE_SIP_TRUNK
    limit: float  # seconds any process started here may live
    cpus: set[int] | None  # for maskline and Kamailio
    callee: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, args: argparse.Namespace, workdir: Path, cpus: set[int] | None, sipp: Sipp) -> Rig:
        """Both stores' databases and servers, in SIP mode towards the callee, and a Kamailio for
        each; nothing started yet."""
        rig = cls(args, workdir, [], [], sipp, udp_port(), args.budget + 120, cpus)
        maskline, numbers = maskline_command(), pool_numbers(args.pool)
        env = {"MASKLINE_SIP_TRUNK": f"127.0.0.1:{rig.trunk}", "MASKLINE_SIP_SECRET": SECRET}

        def serve(port: int, database: str) -> list[str]:
            cmd = [*maskline, "serve", "--host", "127.0.0.1", "--port", str(port), "--database", database]
            return _limited(cmd, rig.limit)

        for label, size in (("small", args.small), ("large", args.large)):
            rig.stores.append(new_store(label, size, workdir, numbers, serve, env))
            rig.proxies.append(Proxy(label, udp_port(), workdir / f"kamailio-{label}"))
        return rig

    def pairs(self) -> list[tuple[Store, Proxy]]:
        return list(zip(self.stores, self.proxies, strict=True))

    def start(self, firsts: list[str], seconds: list[str], seeders: set[int] | None) -> dict[str, Any]:
        """Start the servers, seed them (``seeders``: the CPUs of the seeding client), then start
        the Kamailios; where each store's sessions live."""
        args, where = self.args, {}
        seeding = Client(False, seeders, args.seed_connections, self.workdir, expiry=EXPIRY)
        for store in self.stores:
            store.server.start(self.cpus)
        for store in self.stores:
            store.server.wait_ready()
        for store in self.stores:
            t0 = time.monotonic()
            pairs = layout(store.size, args.per_party, firsts, seconds)
            where[store.label] = populate(store, seeding, pairs, args.seed_connections, args.pool)
            print(f"seeded {store.size:,} live sessions in {time.monotonic() - t0:.1f} s", flush=True)
        for store, proxy in self.pairs():
            proxy.start(store.server.base_url, args.children, args.shm, self.limit, self.cpus)
        for proxy in self.proxies:
            proxy.wait_ready()
        return where

    def check(self, stranger: str, rng: random.Random) -> None:
        """The checks before measuring: a refused stranger, then calls checked in full."""
        for store, proxy in self.pairs():
            check_refused(self.sipp, proxy, stranger, store.sessions[0][2])
            before = (*tally(store.database), proxy.count_dropped())
            check_calls(self.sipp, proxy, self.trunk, rng.sample(store.sessions, self.args.checks))
            checked = Run(self.args.checks, 0, 0, 0, 0, 0, client_cpu=0, timed=self.args.checks)
            settle(checked, store, proxy, before)
            if checked.problems():
                raise BenchError(f"checks of the {store.label} store: {'; '.join(checked.problems())}")
        print(
            f"checked {self.args.checks} calls per store in full; a caller in no session refused", flush=True
        )

    def start_callee(self) -> subprocess.Popen[bytes]:
        cmd = self.sipp.command(CALLEE, "callee", "-timeout", f"{math.ceil(self.limit)}s", port=self.trunk)
        self.callee = self.sipp.start(cmd, "callee")
        wait_for(lambda: _udp_taken(self.trunk), "the callee to bind its port", 10)
        return self.callee

    def measure(self, bench: Bench) -> tuple[dict[str, list[Run]], dict[str, list[Run]]]:
        """The warm-up, then the rounds: closed-loop runs and light runs, by store."""
        args = self.args
        busy: dict[str, list[Run]] = {store.label: [] for store in self.stores}
        light: dict[str, list[Run]] = {store.label: [] for store in self.stores}
        users = ["-users", str(args.users)]
        count = args.light_rate * args.light_duration
        rate = ["-r", str(args.light_rate), "-m", str(count), "-l", str(max(10, args.light_rate))]
        for store, proxy in self.pairs():
            r = bench.place(store, proxy, users, LINES, args.warmup, closed=True)
            _print_run("warm-up  ", store, r)
            if r.problems():
                raise BenchError(f"warm-up of the {store.label} store: {'; '.join(r.problems())}")
        for rnd in range(args.rounds):
            for store, proxy in self.pairs()[:: 1 if rnd % 2 == 0 else -1]:
                busy[store.label].append(bench.place(store, proxy, users, LINES, args.duration, closed=True))
                light[store.label].append(bench.place(store, proxy, rate, count, args.light_duration, False))
                _print_run(f"round {rnd + 1}/{args.rounds}", store, busy[store.label][-1])
                _print_run(f"   at {args.light_rate}/s", store, light[store.label][-1])
        return busy, light

    def final_counts(self, extra: dict[str, dict[str, Any]]) -> None:
        """Check every process lived through the run; note each store's call rows and size."""
        for store, proxy in self.pairs():
            if not store.server.alive() or not proxy.alive():
                raise BenchError(f"the {store.label} store's maskline or Kamailio died during the run")
            extra[store.label].update(
                rows=tally(store.database)[0], db_mb=store.database.stat().st_size / 1e6
            )

    def stop(self) -> None:
        """Stop what was started, by PID; the callee with SIPp's soft exit, as its status tells
        whether it counted a failed call."""
        if self.callee is not None and self.callee.poll() is None:
            self.callee.send_signal(signal.SIGUSR1)
            try:
                self.callee.wait(timeout=15)
            except subprocess.TimeoutExpired:
                stop(self.callee)
        for proxy in self.proxies:
            stop(proxy.process)
        for store in self.stores:
            store.server.stop()


def _print_run(what: str, store: Store, r: Run) -> None:
    print(
        f"{what} {store.size:>9,} live {r.rate:6,.0f} calls/s  p50 {fmt_us(r.p50_us):>9}"
        f"  p99 {fmt_us(r.p99_us):>9}  | {r.calls:,} calls, failed {r.failed}, retrans {r.retransmissions},"
        f" reports in {r.lag:.1f} s, dropped {r.dropped}  | sipp cpu {r.client_cpu:4.0%}",
        flush=True,
    )


def _machine(pinning: str) -> dict[str, str]:
    info = machine()
    note_load(info)
    info.update(
        pinning=pinning,
        kamailio=_version(["kamailio", "-v"]).removeprefix("version: "),
        sipp=_version(["sipp", "-v"]).rstrip("."),
    )
    return info


def main() -> int:
    args = _parser().parse_args()
    _check(args)
    began = time.monotonic()
    cpus = split("maskline and Kamailio", "SIPp")
    info = _machine(cpus.text)
    print(f"{info['kamailio']}; {info['sipp']}; {info['pinning']}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="maskline-sip-"))
    side = -(-args.large // args.per_party)
    parties = make_parties(side + 1, args.seed)  # the last first party is in no session
    sipp = Sipp(workdir, cpus.client)
    rig = Rig.create(args, workdir, cpus.servers, sipp)
    rng = random.Random(args.seed)
    try:
        extra = rig.start([a for a, _ in parties], [b for _, b in parties], cpus.client)
        rig.check(parties[side][0], rng)
        bench = Bench(sipp, rig.start_callee(), rng, lambda: args.budget - (time.monotonic() - began))
        busy, light = rig.measure(bench)
        rig.final_counts(extra)
    finally:
        rig.stop()

    bad = [
        f"{store.size:,} store, {kind} run {i + 1}: {problem}"
        for kind, results in (("closed-loop", busy), ("light", light))
        for store in rig.stores
        for i, r in enumerate(results[store.label])
        for problem in r.problems()
    ]
    if rig.callee is not None and rig.callee.returncode != 0:
        bad.append(sipp.failure("callee", rig.callee.returncode))
    section = report(rig.stores, busy, light, info, args, extra)
    return finish(section, began, bad, workdir, docs_target(args), BEGIN, END)


if __name__ == "__main__":
    run_main(main)
