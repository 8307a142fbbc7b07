"""Routing benchmark: Plivo answer webhooks with 1,000 and with 100,000 live sessions, in one run.

    .venv/bin/python benchmarks/routing.py

Starts two ``maskline serve`` processes on 127.0.0.1 (free ports, temporary databases), each set
up with the CLI alone: ``maskline account create``, ``maskline number add`` (a pool of --pool
numbers) and ``maskline carrier set --carrier plivo`` whose public URL is exactly the base URL the
load client posts to (Plivo's V3 signature covers the URL). One store gets --small live sessions,
the other --large, all created through the Session API (``session_expiry`` 86400) by
benchmarks/loadgen.py; every party is in --per-party sessions, so with a pool of at least
2 x per-party - 1 numbers no create can be refused. Every create is checked, and so is the live
session count maskline reports per number.

The load is what a carrier sends when a registered caller dials: ``POST
/webhooks/plivo/{auth_id}/answer`` with the form fields CallUUID, From (digits, no '+'), To,
CallStatus, Direction and the ``X-Plivo-Signature-V3`` headers, computed up front with the plivo
package's own ``construct_post_url`` and ``get_signature_v3``. The caller is the first party of a
live session drawn at random and To is that session's virtual number. Every request carries a
fresh CallUUID, so each one is a new call (one routing decision, one call row written); each run
gets its own fresh requests and stops when they run out or its time is up. Before measuring, a few
answers per store are checked in full (the <Dial> reaches the second party and shows the virtual
number) and a tampered signature must be refused.

Servers are pinned to one CPU and the load client to another when there are two. The client is
wrk (benchmarks/routing.lua) when installed, else benchmarks/loadgen.py (replay mode). Each store
first gets a warm-up in which every registered caller calls once (the phone-number parse cache is
keyed by the text received, so a caller's first webhook parses their number again), always sent by
loadgen.py as it stops when its requests run out (wrk runs for its whole -d); then --rounds
rounds alternate between the stores, each giving a store --duration seconds over --connections
connections (throughput, latency under load) and --single-duration seconds over one connection
(latency of one call). Every response must be a 200 holding a <Dial>: any other status, body or
socket error makes the run invalid (exit status 1, docs left alone). Medians of the rounds and the
large/small ratios are printed and written to the section of docs/benchmarks.md between the markers
below. Every loop is bounded in count and time, and the whole run by --budget.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import math
import os
import random
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from api import (
    DOCS,
    LOADGEN,
    ROOT,
    BenchError,
    Server,
    _fmt_us,
    _free_port,
    _pinned,
    _run,
    command_line,
    finish,
    machine,
    make_parties,
    maskline_command,
    pool_numbers,
    setup,
)
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

HERE = Path(__file__).resolve().parent
WRK_LUA = HERE / "routing.lua"
BEGIN = "<!-- BEGIN benchmarks/routing.py: generated, do not edit by hand -->"
END = "<!-- END benchmarks/routing.py -->"

AUTH_ID = "MAROUTINGBENCH000001"
AUTH_TOKEN = "routing-benchmark-token-0001"
CARRIER_TOKEN = "plivo-benchmark-token-not-a-secret"
CARRIER_AUTH_ID = "MAPLIVOBENCHMARK0001"
EXPIRY = 86400
SEED_CHUNK = 10_000  # sessions per seeding job: bounds the client's memory and each job's time
ANSWER = f"/webhooks/plivo/{AUTH_ID}/answer"
SESSIONS = f"/v1/Account/{AUTH_ID}/Masking/Session/"
NUMBERS = f"/v1/Account/{AUTH_ID}/Masking/Number/"

Request = tuple[str, dict[str, str], str]  # path, headers, form-encoded body


# -- stores -----------------------------------------------------------------------------------------
@dataclass
class Store:
    """One maskline server and the live sessions it holds: (first, second, virtual), E.164."""

    label: str
    size: int
    server: Server
    database: Path
    sessions: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


def layout(size: int, per_party: int, firsts: list[str], seconds: list[str]) -> list[tuple[str, str]]:
    """``size`` (first, second) pairs over ceil(size / per_party) parties a side, each party in at
    most ``per_party`` sessions, no pair twice while per_party <= the parties a side."""
    side = -(-size // per_party)
    if side > min(len(firsts), len(seconds)):
        raise BenchError(f"need {side} parties a side, have {len(firsts)}")
    return [(firsts[r], seconds[(q + r) % side]) for q, r in (divmod(i, side) for i in range(size))]


def _authorization() -> dict[str, str]:
    credentials = base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def _loadgen(job: dict[str, Any], workdir: Path, name: str, timeout: float, cpus: set[int] | None) -> dict:
    """Run one loadgen job. Its result line (half a megabyte for a seeding chunk) goes to a file:
    read back through a pipe, such lines were seen cut short at a 4 KiB page boundary."""
    spec, result = workdir / f"{name}.json", workdir / f"{name}.out"
    spec.write_text(json.dumps(job))
    cmd = [sys.executable, str(LOADGEN), str(spec)]
    try:
        with open(result, "wb") as out:
            done = subprocess.run(
                cmd, stdout=out, stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT, preexec_fn=_pinned(cpus)
            )
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace")[-2000:]
            raise BenchError(f"{shlex.join(cmd)} exited {done.returncode}:\n{stderr}")
        lines = result.read_text().strip().splitlines()
        try:
            parsed = dict(json.loads(lines[-1]))
        except (ValueError, IndexError) as error:
            raise BenchError(f"loadgen printed no result ({error}); its output is in {result}") from None
        result.unlink()
        return parsed
    finally:
        spec.unlink(missing_ok=True)


def seed(
    store: Store, pairs: list[tuple[str, str]], connections: int, workdir: Path, cpus: set[int] | None
) -> None:
    """Create one session per pair through the Session API; keep each with its virtual number."""
    for start in range(0, len(pairs), SEED_CHUNK):
        part = pairs[start : start + SEED_CHUNK]
        job = {
            "mode": "seed",
            "port": store.server.port,
            "connections": connections,
            "headers": _authorization(),
            "path": SESSIONS,
            "pairs": part,
            "expiry": EXPIRY,
            "id_field": "session_uuid",
            "fields": ["virtual_number"],
            "timeout": 30 + len(part) / 100,
        }
        result = _loadgen(job, workdir, f"seed-{store.label}-{start}", 60 + len(part) / 100, cpus)
        records = result.get("records") or []
        if result["non2xx"] or result["errors"] or len(records) != len(part) or None in records:
            raise BenchError(
                f"seeding the {store.label} store failed at {start:,}: statuses {result['statuses']},"
                f" {result['errors']} socket errors"
            )
        for (first, second), (virtual,) in zip(part, records, strict=True):
            store.sessions.append((first, second, "+" + str(virtual).lstrip("+")))


def create_account(maskline: list[str], database: str, numbers: list[str]) -> None:
    """The benchmark account and its pool of ``numbers``, made with the CLI alone."""
    _run([*maskline, "account", "create", "--auth-id", AUTH_ID, "--auth-token", AUTH_TOKEN,
          "--database", database], timeout=60)  # fmt: skip
    _run([*maskline, "number", "add", *numbers, "--account", AUTH_ID, "--database", database], timeout=60)


def populate(
    store: Store,
    pairs: list[tuple[str, str]],
    connections: int,
    workdir: Path,
    cpus: set[int] | None,
    pool: int,
) -> dict[str, Any]:
    """Seed ``store`` with one session per pair and check the live sessions maskline counts on
    its ``pool`` numbers; where they live: {"numbers": in use, "per_number": the most on one}."""
    seed(store, pairs, connections, workdir, cpus)
    counts = live_counts(store, pool)
    if sum(counts.values()) != store.size or len(store.sessions) != store.size:
        raise BenchError(f"{store.label}: {sum(counts.values()):,} live sessions, not {store.size:,}")
    return {"numbers": len(+counts), "per_number": max(counts.values())}


def count_calls(database: Path) -> int:
    """Call rows in a store, read through a read-only connection (the server is the only writer)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    finally:
        db.close()


def _get_json(store: Store, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", store.server.port, timeout=10)
    try:
        conn.request("GET", path, headers=_authorization())
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    if reply.status != 200:
        raise BenchError(f"GET {path}: {reply.status} {body[:300]!r}")
    return json.loads(body)


def live_counts(store: Store, pool: int) -> Counter[str]:
    """Live sessions per virtual number, as maskline's Number resource reports them."""
    counts: Counter[str] = Counter()
    for offset in range(0, pool, 20):
        page = _get_json(store, f"{NUMBERS}?limit=20&offset={offset}")
        for number in page["response"]["objects"]:
            counts["+" + number["number"].lstrip("+")] += int(number["live_session_count"])
    return counts


def one_each(store: Store, rng: random.Random) -> list[tuple[str, str, str]]:
    """One session per distinct first party, shuffled: a call from every registered caller."""
    firsts: dict[str, tuple[str, str, str]] = {}
    for session in store.sessions:
        firsts.setdefault(session[0], session)
    chosen = list(firsts.values())
    rng.shuffle(chosen)
    return chosen


# -- signed webhooks --------------------------------------------------------------------------------
def answer_form(rng: random.Random, caller: str, number: str) -> dict[str, str]:
    return {
        "CallUUID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "From": caller.lstrip("+"),
        "To": number.lstrip("+"),
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def sign(url: str, form: dict[str, str], nonce: str) -> dict[str, str]:
    """The headers Plivo sends: V3 signature over the URL, the sorted form and the nonce."""
    signature = get_signature_v3(CARRIER_TOKEN, construct_post_url(url, dict(form)).decode(), nonce)
    return {"X-Plivo-Signature-V3": signature.decode(), "X-Plivo-Signature-V3-Nonce": nonce}


def signed_requests(
    store: Store, count: int, rng: random.Random, calls: list[tuple[str, str, str]] | None = None
) -> list[Request]:
    """Answer webhooks, each a fresh call from a session's first party to its virtual number:
    one per session of ``calls`` if given, else ``count`` from sessions drawn at random."""
    url = store.base_url + ANSWER
    requests = []
    for first, _second, virtual in (
        calls if calls is not None else (rng.choice(store.sessions) for _ in range(count))
    ):
        form = answer_form(rng, first, virtual)
        requests.append((ANSWER, sign(url, form, "%020d" % rng.getrandbits(64)), urlencode(form)))
    return requests


def _post(store: Store, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", store.server.port, timeout=10)
    try:
        conn.request(
            "POST",
            ANSWER,
            body=urlencode(form),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        reply = conn.getresponse()
        return reply.status, reply.read().decode("utf-8", "replace")
    finally:
        conn.close()


def probe(store: Store, rng: random.Random, count: int = 20) -> None:
    """Check a few answers in full, and that a tampered signature is refused."""
    url = store.base_url + ANSWER
    for first, second, virtual in rng.sample(store.sessions, min(count, len(store.sessions))):
        form = answer_form(rng, first, virtual)
        status, body = _post(store, form, sign(url, form, "%020d" % rng.getrandbits(64)))
        dial = ET.fromstring(body).find("Dial") if status == 200 else None
        number = dial.find("Number") if dial is not None else None
        if (
            dial is None
            or number is None
            or number.text != second
            or dial.get("callerId") != virtual
            or first.lstrip("+") in body
        ):
            raise BenchError(
                f"{store.label}: {first} calling {virtual} should reach {second}: {status} {body}"
            )
    form = answer_form(rng, first, virtual)
    headers = sign(url, form, "%020d" % rng.getrandbits(64))
    status, body = _post(store, {**form, "From": second.lstrip("+")}, headers)
    if status != 403:
        raise BenchError(f"{store.label}: a tampered webhook was answered {status}: {body[:300]}")


# -- load -------------------------------------------------------------------------------------------
@dataclass
class Result:
    rate: float
    p50_us: float
    p99_us: float
    requests: int
    non200: int
    mismatched: int  # 200 without a <Dial>
    errors: int
    exhausted: bool
    detail: str = ""
    client_cpu: float = 0.0  # CPU the load client used, per second of wall time

    @property
    def bad(self) -> int:
        return self.non200 + self.mismatched + self.errors


class Client:
    def __init__(self, use_wrk: bool, cpus: set[int] | None, connections: int, workdir: Path) -> None:
        self.use_wrk = use_wrk
        self.cpus = cpus
        self.connections = connections
        self.workdir = workdir
        self.jobs = 0

    def load(
        self,
        store: Store,
        requests: list[Request],
        duration: float,
        connections: int | None = None,
        python: bool = False,
    ) -> Result:
        """Post each request once (or until ``duration`` passes) over ``connections`` (default:
        the client's); notes how busy the client was. ``python``: use loadgen.py whatever the
        client, as it stops once the requests run out (wrk always runs for its whole -d)."""
        self.jobs += 1
        conns = connections or self.connections
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        if self.use_wrk and not python:
            result = self._wrk(store, requests, duration, conns)
        else:
            result = self._loadgen(store, requests, duration, conns)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - start
        result.client_cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall
        return result

    def _loadgen(self, store: Store, requests: list[Request], duration: float, connections: int) -> Result:
        job = {
            "mode": "replay",
            "port": store.server.port,
            "connections": connections,
            "requests": requests,
            "duration": duration,
            "expect": "<Dial",
        }
        r = _loadgen(job, self.workdir, f"load-{self.jobs}", duration + 60, self.cpus)
        non200 = sum(n for status, n in r["statuses"].items() if status != "200")
        return Result(
            r["rate"],
            r["p50_us"],
            r["p99_us"],
            r["requests"],
            non200,
            r["mismatched"],
            r["errors"],
            r["exhausted"],
            "" if not non200 else json.dumps(r["statuses"]),
        )

    def _wrk(self, store: Store, requests: list[Request], duration: float, connections: int) -> Result:
        data = self.workdir / f"requests-{self.jobs}.tsv"
        data.write_text(
            "".join(
                f"{path}\t{h['X-Plivo-Signature-V3']}\t{h['X-Plivo-Signature-V3-Nonce']}\t{body}\n"
                for path, h, body in requests
            )
        )
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_LUA),
            store.base_url,
            "--",
            str(data),
        ]
        try:
            out = _run(cmd, timeout=duration + 60, cpus=self.cpus)
        finally:
            data.unlink(missing_ok=True)
        lines = [line for line in out.splitlines() if line.startswith("WRKJSON ")]
        if not lines:
            raise BenchError(f"wrk printed no result:\n{out[-2000:]}")
        r = json.loads(lines[-1][len("WRKJSON ") :])
        # wrk's duration is always the full -d; when the requests ran out before, the span counts.
        seconds = (r["span_us"] if r["exhausted"] else r["duration_us"]) / 1e6
        return Result(
            r["requests"] / seconds,
            r["p50_us"],
            r["p99_us"],
            r["requests"],
            r["non200"],
            r["nodial"],
            r["errors"],
            bool(r["exhausted"]),
            r["bad_statuses"],
        )


# -- report -----------------------------------------------------------------------------------------
class Rated(Protocol):
    """A measured run as the helpers below read it (benchmarks/sip.py's runs too)."""

    rate: float
    p50_us: float
    p99_us: float


def _median(results: Sequence[Rated], key: str) -> float:
    return float(statistics.median(getattr(r, key) for r in results))


def _spread(results: Sequence[Rated]) -> float:
    """(max - min) / median of the rounds' rates: how noisy one store's figures were."""
    rates = [r.rate for r in results]
    return (max(rates) - min(rates)) / statistics.median(rates)


def _paired(s: Sequence[Rated], g: Sequence[Rated], key: str = "rate") -> list[float]:
    """Large-store figure over small-store figure, round by round (measured back to back)."""
    return [getattr(b, key) / getattr(a, key) for a, b in zip(s, g, strict=True)]


def _reading(
    small: Store,
    large: Store,
    busy: dict[str, list[Result]],
    single: dict[str, list[Result]],
    connections: int,
    extra: dict[str, dict[str, Any]],
) -> str:
    s, g = busy[small.label], busy[large.label]
    s1, g1 = single[small.label], single[large.label]
    rate = _median(g, "rate") / _median(s, "rate")
    p50 = _median(g1, "p50_us") / _median(s1, "p50_us")
    paired = _paired(s, g)
    noise = max(_spread(s), _spread(g), 0.05)
    figures = (
        f"With {large.size:,} live sessions maskline made {_median(g, 'rate'):,.0f} routing decisions/s "
        f"against {_median(s, 'rate'):,.0f}/s with {small.size:,} (×{rate:.2f}; round by round "
        f"×{min(paired):.2f} to ×{max(paired):.2f}, while the rounds of one store differ by up to "
        f"{noise:.0%}), and one call at a time took {_fmt_us(_median(g1, 'p50_us'))} at the median "
        f"against {_fmt_us(_median(s1, 'p50_us'))} (×{p50:.2f})."
    )
    lookups = (
        "a registered caller's route is a few index probes (the carrier by account, the call by "
        "CallUUID, the caller's held allocation by party and virtual number through the allocation "
        "guard's unique index, the session by primary key), then one call row inserted and one "
        "session row updated, and a probe's depth grows with the logarithm of the rows"
    )
    mb = (extra[small.label]["db_mb"], extra[large.label]["db_mb"])
    typical = statistics.median(paired)  # large/small within a round: the machine's drift cancels
    lower = sum(x < 1 for x in paired)
    if typical >= 0.95:
        verdict = (
            f"There is no difference beyond noise: routing cost does not grow with the number of live "
            f"sessions, as the code predicts: {lookups}."
        )
    elif typical >= 1 - max(noise, 0.15):
        per_call = (
            "but no slower per call beyond noise"
            if p50 <= 1 + noise
            else f"and {p50 - 1:.0%} slower per call"
        )
        verdict = (
            f"The larger store is about {1 - typical:.0%} slower under load (the median of the same-round "
            f"ratios; slower in {lower} of {len(paired)} rounds), {per_call}: a "
            f"constant factor rather than routing work that grows with the sessions, since {lookups}. "
            f"What {large.size / small.size:,.0f} times the sessions add is a database of {mb[1]:.0f} MB "
            f"rather than {mb[0]:.0f} MB, "
            "so the pages those probes and the commit touch come less often from CPU caches (profiled "
            "when this benchmark was written: the extra time is spread over the SQLite statements and "
            "the commit, not the Python routing code)."
        )
    else:
        verdict = (
            "That is more than noise: routing got slower with more live sessions, though "
            f"{lookups}; profile both servers (py-spy) to see where the time goes."
        )
    busiest = max(_median(g, "rate"), _median(s, "rate"))
    queueing = (
        f"Under load the latency is mostly queueing ({connections} busy connections at "
        f"{busiest:,.0f} answers/s wait about {connections / busiest * 1000:.0f} ms each, by Little's "
        "law); the single-connection figures are the cost of one decision: signature check, routing, "
        "call row and commit, XML."
    )
    return f"{figures} {verdict} {queueing}"


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
            f"| {store.size:,} | {_median(rs, 'rate'):,.0f} | {_fmt_us(_median(rs, 'p50_us'))} "
            f"| {_fmt_us(_median(rs, 'p99_us'))} | {_fmt_us(_median(r1, 'p50_us'))} "
            f"| {_fmt_us(_median(r1, 'p99_us'))} "
            f"| {e['numbers']} numbers, up to {e['per_number']:,} sessions on one | {e['db_mb']:.0f} MB |"
        )

    def ratio(results: Mapping[str, Sequence[Rated]], key: str) -> str:
        return f"×{_median(results[large.label], key) / _median(results[small.label], key):.2f}"

    rows.append(
        f"| {large.size:,} / {small.size:,} | {ratio(busy, 'rate')} | {ratio(busy, 'p50_us')} "
        f"| {ratio(busy, 'p99_us')} | {ratio(quiet, 'p50_us')} | {ratio(quiet, 'p99_us')} | | |"
    )
    lines = [
        f"- {store.size:,} live sessions, {unit}/s per round: "
        + ", ".join(f"{r.rate:,.0f}" for r in busy[store.label])
        + f" (spread {_spread(busy[store.label]):.0%}); {quietly}, p50 per round: "
        + ", ".join(_fmt_us(r.p50_us) for r in quiet[store.label])
        for store in stores
    ]
    paired = _paired(busy[small.label], busy[large.label])
    lines.append(
        f"- {large.size:,} / {small.size:,}, {unit}/s in the same round: "
        + ", ".join(f"{x:.2f}" for x in paired)
        + f" (median {statistics.median(paired):.2f})"
    )
    return rows, lines


def report(
    stores: list[Store],
    busy: dict[str, list[Result]],
    single: dict[str, list[Result]],
    info: dict[str, str],
    args: argparse.Namespace,
    client: str,
    pinning: str,
    extra: dict[str, dict[str, Any]],
) -> str:
    small, large = stores
    rows, lines = comparison(stores, busy, single, extra, "decisions", "one connection")
    every = [r for results in (busy, single) for rs in results.values() for r in rs]
    measured = sum(r.requests for r in every)
    busiest = max(r.client_cpu for r in every)
    calls = {store.label: extra[store.label]["calls"] for store in stores}
    warm = {store.label: extra[store.label]["warm"] for store in stores}
    wal = {store.label: extra[store.label]["wal_mb"] for store in stores}
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            BEGIN,
            f"## Routing: Plivo answer webhooks with {small.size:,} and {large.size:,} live sessions",
            "",
            f"Produced on {date} by `{command_line()}`, maskline at {info['revision']}.",
            "",
            f"Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['os']}; Python {info['python']}, "
            f"SQLite {info['sqlite']}; load average {info['load']} in the minute before the run (other work "
            "on the machine makes the figures noisier).",
            f"Load: {client}, closed loop; {pinning}. Two `maskline serve` processes, one per store. "
            f"After a warm-up in which every registered caller calls once, {args.rounds} rounds alternate "
            f"between the stores; in each, a store gets {args.duration:g} s over {args.connections} "
            f"keep-alive connections (decisions/s, p50, p99 under load) then {args.single_duration:g} s "
            "over one connection (p50, p99 of a single call). Medians of the rounds.",
            "",
            f"| live sessions | decisions/s ({args.connections} conns) | p50 | p99 | p50, 1 conn "
            "| p99, 1 conn | where they live | database |",
            "|---:|---:|---:|---:|---:|---:|---|---:|",
            *rows,
            "",
            *lines,
            f"- every one of the {measured:,} measured answers was a 200 with a `<Dial>` (no other status, "
            f"no socket error); the load client used at most {busiest:.0%} of a CPU (near 100% would mean "
            "client-bound).",
            "- warm-up, right after the creates (each registered caller's first call, then random calls): "
            f"{warm[small.label].requests:,} calls at {warm[small.label].rate:,.0f}/s in the {small.size:,} "
            f"store ({extra[small.label]['callers']:,} callers), {warm[large.label].requests:,} at "
            f"{warm[large.label].rate:,.0f}/s in the {large.size:,} store "
            f"({extra[large.label]['callers']:,} callers).",
            f"- call rows by the end (checks, warm-up, rounds): {calls[small.label]:,} in the "
            f"{small.size:,} store, {calls[large.label]:,} in the {large.size:,} store. The database "
            f"column is the main file; the write-ahead log beside it was {wal[small.label]:.0f} MB and "
            f"{wal[large.label]:.0f} MB at the end.",
            "",
            "What runs: each request is what Plivo sends when a registered caller dials: `POST "
            "/webhooks/plivo/{auth_id}/answer` with CallUUID, From, To, CallStatus and Direction, signed "
            "with the plivo package's `construct_post_url` and `get_signature_v3` (X-Plivo-Signature-V3, "
            "checked by maskline with `validate_v3_signature`). The caller is the first party of a live "
            "session drawn uniformly at random and To is its virtual number; every CallUUID is fresh, so "
            "each request is a new call: one routing decision, one call row inserted and the session's "
            "counters updated, committed. The sessions were created through the Session API "
            f"(`session_expiry` {EXPIRY}) on a pool of {args.pool} numbers, first-fit, every party in "
            f"{args.per_party} sessions. The warm-up covers every caller because the phone-number parse "
            "cache is keyed by the text received, and Plivo's From has no '+': a caller's first call "
            "parses their number again (about 50 µs) though creating the session parsed it already.",
            "",
            _reading(small, large, busy, single, args.connections, extra),
            END,
        ]
    )


# -- main -------------------------------------------------------------------------------------------
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    store_options(p)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="whole seconds of warm-up per store, at least")
    p.add_argument("--single-duration", type=int, default=2, help="whole seconds over one connection")
    p.add_argument("--requests", type=int, default=20_000, help="fresh signed requests per run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--seed", type=int, default=20240607)
    p.add_argument("--budget", type=int, default=330, help="seconds: give up past this")
    p.add_argument("--docs", type=Path, default=DOCS, help="file whose routing section is rewritten")
    p.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    return p


def _check(args: argparse.Namespace) -> None:
    check_stores(args)
    if args.rounds < 1 or args.duration < 1 or args.requests < 100:
        raise BenchError("--rounds and --duration must be positive, --requests at least 100")


def main() -> int:
    args = _parser().parse_args()
    _check(args)
    began = time.monotonic()

    def budget(what: str) -> None:
        if time.monotonic() - began > args.budget:
            raise BenchError(f"over the {args.budget} s budget before {what}")

    run = setup(args.client)
    use_wrk, server_cpus, client_cpus, pinning = run.use_wrk, run.server_cpus, run.client_cpus, run.pinning
    info = machine()
    info["load"] = f"{os.getloadavg()[0]:.2f}"
    if os.getloadavg()[0] > 0.5:
        print(f"note: load average {info['load']}: something else is running, figures will be noisy")
    client_name = run.client_name(info)
    print(f"client: {client_name}; {pinning}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="maskline-routing-"))
    side = -(-args.large // args.per_party)
    parties = make_parties(side, args.seed)
    firsts, seconds = [a for a, _ in parties], [b for _, b in parties]
    numbers = pool_numbers(args.pool)
    maskline = maskline_command()

    stores: list[Store] = []
    for label, size in (("small", args.small), ("large", args.large)):
        port, db = _free_port(), workdir / f"{label}.db"
        database = f"sqlite:///{db}"
        create_account(maskline, database, numbers)
        _run([*maskline, "carrier", "set", "--account", AUTH_ID, "--carrier", "plivo", "--auth-token",
              CARRIER_TOKEN, "--public-url", f"http://127.0.0.1:{port}", "--carrier-auth-id",
              CARRIER_AUTH_ID, "--database", database], timeout=60)  # fmt: skip
        server = Server(
            f"maskline ({size:,} sessions)",
            [*maskline, "serve", "--port", str(port), "--database", database],
            port,
            workdir / f"{label}.log",
            SESSIONS,
            "session_uuid",
            lambda session: f"{SESSIONS}{session}/",
            _authorization(),
        )
        stores.append(Store(label, size, server, db))

    client = Client(use_wrk, client_cpus, args.connections, workdir)
    busy: dict[str, list[Result]] = {store.label: [] for store in stores}
    single: dict[str, list[Result]] = {store.label: [] for store in stores}
    extra: dict[str, dict[str, Any]] = {}
    rng = random.Random(args.seed)
    try:
        for store in stores:
            store.server.start(server_cpus)
        for store in stores:
            store.server.wait_ready()
        for store in stores:
            t0 = time.monotonic()
            pairs = layout(store.size, args.per_party, firsts, seconds)
            where = populate(store, pairs, args.seed_connections, workdir, client_cpus, args.pool)
            extra[store.label] = where
            probe(store, rng)
            print(
                f"seeded {store.size:,} live sessions in {time.monotonic() - t0:.1f} s on"
                f" {where['numbers']} numbers (up to {where['per_number']:,} on one); answers checked",
                flush=True,
            )
            budget("the warm-up")
        for store in stores:
            # Every registered caller once (their numbers enter the parse cache), then random calls.
            callers = one_each(store, rng)
            extras = max(0, args.requests * args.warmup // args.duration - len(callers))
            requests = signed_requests(store, 0, rng, callers) + signed_requests(store, extras, rng)
            t0 = time.monotonic()
            r = client.load(store, requests, args.warmup + math.ceil(len(callers) / 200), python=True)
            if r.bad:
                raise BenchError(f"warm-up of the {store.label} store: {r}")
            extra[store.label].update(warm=r, callers=len(callers))
            print(
                f"warm-up of the {store.size:,} store: {r.requests:,} calls ({len(callers):,} callers)"
                f" in {time.monotonic() - t0:.1f} s",
                flush=True,
            )
        for rnd in range(args.rounds):
            budget(f"round {rnd + 1}")
            for store in stores if rnd % 2 == 0 else stores[::-1]:
                r = client.load(store, signed_requests(store, args.requests, rng), args.duration)
                r1 = client.load(
                    store,
                    signed_requests(store, args.requests // 4, rng),
                    args.single_duration,
                    connections=1,
                )
                busy[store.label].append(r)
                single[store.label].append(r1)
                print(
                    f"round {rnd + 1}/{args.rounds} {store.size:>9,} live {r.rate:7,.0f} decisions/s"
                    f"  p50 {_fmt_us(r.p50_us):>9}  p99 {_fmt_us(r.p99_us):>9}"
                    f"  | 1 conn p50 {_fmt_us(r1.p50_us):>9}  p99 {_fmt_us(r1.p99_us):>9}"
                    f"  | client cpu {r.client_cpu:4.0%}  bad {r.bad + r1.bad}"
                    f"{'  EXHAUSTED' if r.exhausted or r1.exhausted else ''}"
                    f"{'  ' + r.detail if r.detail else ''}{'  ' + r1.detail if r1.detail else ''}",
                    flush=True,
                )
        for store in stores:
            if store.server.process is None or store.server.process.poll() is not None:
                log = store.server.log.read_text()[-2000:]
                raise BenchError(f"{store.server.name} died during the run:\n{log}")
            extra[store.label]["calls"] = count_calls(store.database)
            extra[store.label]["db_mb"] = store.database.stat().st_size / 1e6
            wal = store.database.with_name(store.database.name + "-wal")
            extra[store.label]["wal_mb"] = wal.stat().st_size / 1e6 if wal.exists() else 0.0
    finally:
        for store in stores:
            store.server.stop()

    runs = [
        (store, i, r)
        for results in (busy, single)
        for store in stores
        for i, r in enumerate(results[store.label])
    ]
    bad = [
        f"{store.size:,} store round {i + 1}: {r.non200} non-200 {r.detail}, {r.mismatched} without"
        f" <Dial>, {r.errors} socket errors"
        for store, i, r in runs
        if r.bad
    ]
    short = [f"{store.size:,} store round {i + 1}" for store, i, r in runs if r.exhausted]
    section = report(stores, busy, single, info, args, client_name, pinning, extra)
    if short:
        print(f"note: the requests ran out before --duration in {', '.join(short)}; raise --requests")
    return finish(section, began, bad, workdir, None if args.no_docs else args.docs, BEGIN, END)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
