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
import http.client
import math
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from harness import BenchError, run_main
from harness.loadclient import Client, Request, Result, choose_wrk, client_name, client_option
from harness.numbers import make_parties, pool_numbers
from harness.pinning import split
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
    spread,
)
from harness.servers import maskline_command, run
from harness.stores import (
    ACCOUNT,
    EXPIRY,
    Store,
    check_stores,
    comparison,
    layout,
    new_store,
    populate,
    store_options,
)
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

BEGIN, END = markers(__file__)
CARRIER_TOKEN = "plivo-benchmark-token-not-a-secret"
CARRIER_AUTH_ID = "MAPLIVOBENCHMARK0001"
ANSWER = f"/webhooks/plivo/{ACCOUNT.auth_id}/answer"


def count_calls(database: Path) -> int:
    """Call rows in a store, read through a read-only connection (the server is the only writer)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    finally:
        db.close()


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
    url = store.server.base_url + ANSWER
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
    url = store.server.base_url + ANSWER
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


# -- report -----------------------------------------------------------------------------------------
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
    rate = median(g, "rate") / median(s, "rate")
    p50 = median(g1, "p50_us") / median(s1, "p50_us")
    ratios = paired(s, g)
    noise = max(spread(s), spread(g), 0.05)
    figures = (
        f"With {large.size:,} live sessions maskline made {median(g, 'rate'):,.0f} routing decisions/s "
        f"against {median(s, 'rate'):,.0f}/s with {small.size:,} (×{rate:.2f}; round by round "
        f"×{min(ratios):.2f} to ×{max(ratios):.2f}, while the rounds of one store differ by up to "
        f"{noise:.0%}), and one call at a time took {fmt_us(median(g1, 'p50_us'))} at the median "
        f"against {fmt_us(median(s1, 'p50_us'))} (×{p50:.2f})."
    )
    lookups = (
        "a registered caller's route is a few index probes (the carrier by account, the call by "
        "CallUUID, the caller's held allocation by party and virtual number through the allocation "
        "guard's unique index, the session by primary key), then one call row inserted and one "
        "session row updated, and a probe's depth grows with the logarithm of the rows"
    )
    mb = (extra[small.label]["db_mb"], extra[large.label]["db_mb"])
    typical = statistics.median(ratios)  # large/small within a round: the machine's drift cancels
    lower = sum(x < 1 for x in ratios)
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
            f"ratios; slower in {lower} of {len(ratios)} rounds), {per_call}: a "
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
    busiest = max(median(g, "rate"), median(s, "rate"))
    queueing = (
        f"Under load the latency is mostly queueing ({connections} busy connections at "
        f"{busiest:,.0f} answers/s wait about {connections / busiest * 1000:.0f} ms each, by Little's "
        "law); the single-connection figures are the cost of one decision: signature check, routing, "
        "call row and commit, XML."
    )
    return f"{figures} {verdict} {queueing}"


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
    return "\n".join(
        [
            BEGIN,
            f"## Routing: Plivo answer webhooks with {small.size:,} and {large.size:,} live sessions",
            "",
            produced(info["revision"]) + ".",
            "",
            f"{machine_line(info)}, SQLite {info['sqlite']}; {load_text(info)}.",
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
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    store_options(p)
    p.add_argument("--duration", type=int, default=5, help="whole seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="whole seconds of warm-up per store, at least")
    p.add_argument("--single-duration", type=int, default=2, help="whole seconds over one connection")
    p.add_argument("--requests", type=int, default=20_000, help="fresh signed requests per run")
    p.add_argument("--connections", type=int, default=32)
    client_option(p)
    p.add_argument("--seed", type=int, default=20240607)
    p.add_argument("--budget", type=int, default=330, help="seconds: give up past this")
    docs_options(p)
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

    use_wrk = choose_wrk(args.client)
    pinning = split()
    info = machine()
    note_load(info)
    label = client_name(use_wrk, info)
    print(f"client: {label}; {pinning.text}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="maskline-routing-"))
    side = -(-args.large // args.per_party)
    parties = make_parties(side, args.seed)
    firsts, seconds = [a for a, _ in parties], [b for _, b in parties]
    numbers = pool_numbers(args.pool)
    maskline = maskline_command()

    stores: list[Store] = []
    for name, size in (("small", args.small), ("large", args.large)):
        store = new_store(
            name, size, workdir, numbers,
            lambda port, database: [*maskline, "serve", "--port", str(port), "--database", database],
        )  # fmt: skip
        # Plivo's signature covers the URL: the public URL is the one the client posts to.
        run([*maskline, "carrier", "set", "--account", ACCOUNT.auth_id, "--carrier", "plivo", "--auth-token",
             CARRIER_TOKEN, "--public-url", store.server.base_url, "--carrier-auth-id", CARRIER_AUTH_ID,
             "--database", store.url], timeout=60)  # fmt: skip
        stores.append(store)

    client = Client(use_wrk, pinning.client, args.connections, workdir, expiry=EXPIRY)
    busy: dict[str, list[Result]] = {store.label: [] for store in stores}
    single: dict[str, list[Result]] = {store.label: [] for store in stores}
    extra: dict[str, dict[str, Any]] = {}
    rng = random.Random(args.seed)
    try:
        for store in stores:
            store.server.start(pinning.servers)
        for store in stores:
            store.server.wait_ready()
        for store in stores:
            t0 = time.monotonic()
            pairs = layout(store.size, args.per_party, firsts, seconds)
            where = populate(store, client, pairs, args.seed_connections, args.pool)
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
            r = client.replay(
                store.server, requests, args.warmup + math.ceil(len(callers) / 200), python=True
            )
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
                r = client.replay(store.server, signed_requests(store, args.requests, rng), args.duration)
                r1 = client.replay(
                    store.server,
                    signed_requests(store, args.requests // 4, rng),
                    args.single_duration,
                    connections=1,
                )
                busy[store.label].append(r)
                single[store.label].append(r1)
                print(
                    f"round {rnd + 1}/{args.rounds} {store.size:>9,} live {r.rate:7,.0f} decisions/s"
                    f"  p50 {fmt_us(r.p50_us):>9}  p99 {fmt_us(r.p99_us):>9}"
                    f"  | 1 conn p50 {fmt_us(r1.p50_us):>9}  p99 {fmt_us(r1.p99_us):>9}"
                    f"  | client cpu {r.client_cpu:4.0%}  bad {r.bad + r1.bad}"
                    f"{'  EXHAUSTED' if r.exhausted or r1.exhausted else ''}"
                    f"{'  ' + r.detail if r.detail else ''}{'  ' + r1.detail if r1.detail else ''}",
                    flush=True,
                )
        for store in stores:
            store.server.check_alive()
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
        f"{store.size:,} store round {i + 1}: {r.bad_status} non-200 {r.detail}, {r.mismatched} without"
        f" <Dial>, {r.errors} socket errors"
        for store, i, r in runs
        if r.bad
    ]
    short = [f"{store.size:,} store round {i + 1}" for store, i, r in runs if r.exhausted]
    section = report(stores, busy, single, info, args, label, pinning.text, extra)
    if short:
        print(f"note: the requests ran out before --duration in {', '.join(short)}; raise --requests")
    return finish(section, began, bad, workdir, docs_target(args), BEGIN, END)


if __name__ == "__main__":
    run_main(main)
