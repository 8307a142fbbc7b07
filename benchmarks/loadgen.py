"""A small closed-loop HTTP/1.1 load generator for benchmarks/api.py and benchmarks/routing.py (the
fallback when wrk is not installed, and the seeding client in every run).

Raw asyncio protocols (uvloop when importable), keep-alive connections, one request in flight per
connection, so the client costs little CPU per request. Only 127.0.0.1 is ever contacted. Every
run is bounded by a request count and a deadline, and stops by itself.

    loadgen.py SPEC.json   reads a job, prints one JSON line with the result

A job: {"port", "connections", "mode": "load" | "seed" | "replay", "headers": {...}, ...}
  load, "kind": "post": "path", "parties": [[first, second], ...], "expiry", "seed",
                         "duration", "max_requests"; bodies draw first and second at random
  load, "kind": "get":  "paths": [...], "seed", "duration", "max_requests"
  seed: "path", "pairs": [[first, second], ...], "expiry", "id_field": every pair is created
        once and the value of id_field in each response is returned, in order; with "fields":
        [...] also "records": those top-level fields of each response, in order
  replay: "requests": [[path, {header: value}, body], ...] (POSTed as given, each at most once,
        in order), "duration", optional "expect": a string every 2xx response body must contain
        (the ones without it are counted in "mismatched"); "exhausted" tells whether the
        requests ran out before the deadline
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"


class _Run:
    """Shared state of one run: the request source, the bounds and the tallies."""

    def __init__(
        self,
        next_request: Callable[[], tuple[int, bytes] | None],
        keep_bodies: bool,
        expect: bytes | None = None,
    ) -> None:
        self.next_request = next_request
        self.keep_bodies = keep_bodies
        self.expect = expect
        self.mismatched = 0
        self.latencies: list[int] = []
        self.statuses: dict[int, int] = {}
        self.bodies: dict[int, bytes] = {}
        self.errors = 0
        self.last_done = time.perf_counter()


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run, finished: asyncio.Future[None]) -> None:
        self.run = run
        self.finished = finished
        self.buffer = b""
        self.started = 0
        self.tag = -1
        self.waiting = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self._guarded(self._send)

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run a step; a failure counts as an error and closes the connection (never hangs)."""
        try:
            step()
        except Exception as error:
            self.run.errors += 1
            self.waiting = False
            print(f"loadgen: {error!r}", file=sys.stderr)
            assert self.transport is not None
            self.transport.close()

    def _send(self) -> None:
        assert self.transport is not None
        item = self.run.next_request()
        if item is None:
            self.transport.close()
            return
        self.tag, data = item
        self.waiting = True
        self.started = time.perf_counter_ns()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._guarded(self._parse)

    def _parse(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        marker = head.find(b"\r\ncontent-length:")
        if marker < 0:
            raise ValueError("response without content-length")
        stop = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        run = self.run
        self.waiting = False
        run.latencies.append(time.perf_counter_ns() - self.started)
        status = int(head[9:12])
        run.statuses[status] = run.statuses.get(status, 0) + 1
        if run.keep_bodies:
            run.bodies[self.tag] = self.buffer[end + 4 : total]
        if (
            run.expect is not None
            and 200 <= status < 300
            and self.buffer.find(run.expect, end + 4, total) < 0
        ):
            run.mismatched += 1
        run.last_done = time.perf_counter()
        self.buffer = self.buffer[total:]
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or self.waiting:  # reset, or closed with a request unanswered
            self.run.errors += 1
        if not self.finished.done():
            self.finished.set_result(None)


def _head(
    method: str,
    path: str,
    port: int,
    headers: dict[str, str],
    body: bytes,
    content_type: str = "application/json",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if method == "POST":
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _body(first: str, second: str, expiry: int) -> bytes:
    return json.dumps(
        {"first_party": first, "second_party": second, "session_expiry": expiry}, separators=(",", ":")
    ).encode()


def _bounded(
    limit: int, deadline: float, make: Callable[[int], bytes]
) -> Callable[[], tuple[int, bytes] | None]:
    """A request source: ``make(0)``, ``make(1)``, ... until ``limit`` requests or the deadline."""
    counter = {"sent": 0}

    def next_request() -> tuple[int, bytes] | None:
        i = counter["sent"]
        if i >= limit or time.perf_counter() >= deadline:
            return None
        counter["sent"] = i + 1
        return i, make(i)

    return next_request


def _source(job: dict[str, Any]) -> tuple[Callable[[], tuple[int, bytes] | None], float]:
    """The request source of a job and its deadline (perf_counter seconds)."""
    port, headers = job["port"], job.get("headers", {})
    if job["mode"] == "seed":
        pairs, expiry = job["pairs"], job["expiry"]
        deadline = time.perf_counter() + job.get("timeout", 120)

        def seed_request(i: int) -> bytes:
            first, second = pairs[i]
            return _head("POST", job["path"], port, headers, _body(first, second, expiry))

        return _bounded(len(pairs), deadline, seed_request), deadline

    if job["mode"] == "replay":
        form = "application/x-www-form-urlencoded"
        prepared = [
            _head("POST", path, port, {**headers, **extra}, body.encode(), form)
            for path, extra, body in job["requests"]
        ]
        deadline = time.perf_counter() + job["duration"]
        return _bounded(len(prepared), deadline, prepared.__getitem__), deadline

    rng = random.Random(job.get("seed", 1))
    deadline = time.perf_counter() + job["duration"]
    if job["kind"] == "post":
        parties, path, expiry = job["parties"], job["path"], job["expiry"]
        firsts = [p[0] for p in parties]
        seconds = [p[1] for p in parties]

        def make(_: int) -> bytes:
            body = _body(rng.choice(firsts), rng.choice(seconds), expiry)
            return _head("POST", path, port, headers, body)

    else:
        requests = [_head("GET", p, port, headers, b"") for p in job["paths"]]

        def make(_: int) -> bytes:
            return rng.choice(requests)

    return _bounded(job["max_requests"], deadline, make), deadline


def _percentile(ordered: list[int], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index] / 1000.0  # ns -> µs


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    next_request, deadline = _source(job)
    expect = job.get("expect")
    run = _Run(next_request, keep_bodies=job["mode"] == "seed", expect=expect.encode() if expect else None)
    loop = asyncio.get_running_loop()
    finished: list[asyncio.Future[None]] = []
    started = time.perf_counter()
    for _ in range(job["connections"]):
        done: asyncio.Future[None] = loop.create_future()
        finished.append(done)
        await loop.create_connection(lambda done=done: _Connection(run, done), HOST, job["port"])
    # Connections close themselves once the source runs dry; the grace period bounds a stuck one.
    grace = max(0.0, deadline - time.perf_counter()) + 10.0
    _, pending = await asyncio.wait(finished, timeout=grace)
    run.errors += len(pending)
    elapsed = max(run.last_done - started, 1e-9)
    ordered = sorted(run.latencies)
    count = len(ordered)
    result: dict[str, Any] = {
        "requests": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "p50_us": _percentile(ordered, 0.50),
        "p99_us": _percentile(ordered, 0.99),
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "non2xx": sum(v for k, v in run.statuses.items() if not 200 <= k < 300),
        "errors": run.errors,
        "capped": job["mode"] == "load" and count >= job["max_requests"],
    }
    if job["mode"] == "replay":
        result["mismatched"] = run.mismatched
        result["exhausted"] = count >= len(job["requests"])
    if job["mode"] == "seed":
        field = job["id_field"]
        ids = []
        for i in range(len(job["pairs"])):
            raw = run.bodies.get(i)
            ids.append(json.loads(raw).get(field) if raw else None)
        result["ids"] = ids
        if job.get("fields"):
            names = job["fields"]
            records: list[list[Any] | None] = []
            for i in range(len(job["pairs"])):
                raw = run.bodies.get(i)
                decoded = json.loads(raw) if raw else None
                records.append([decoded.get(name) for name in names] if isinstance(decoded, dict) else None)
            result["records"] = records
    return result


def main() -> None:
    with open(sys.argv[1]) as handle:
        job = json.load(handle)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run_job(job))
    else:
        result = uvloop.run(run_job(job))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
