"""Session traces: what a simulation replays, and the degrees that bound any allocation.

A trace file is JSON Lines, one session per line, in any order::

    {"start": 0, "end": 600, "first": "+14155550100", "second": "+14155550101",
     "cooloff": 0, "pool": "US", "expiry": 900}

``start`` and ``end`` are seconds (the session is live in [start, end)); ``end`` is when it ended,
by expiry or DELETE. ``expiry`` is what the allocator was told at creation (default ``end``).
``cooloff`` is the session's virtual_number_cooloff_period (default 0) and ``pool`` names the pool
it draws from: an account or subaccount, and with geomatch a country (default "default").
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO


@dataclass(frozen=True, slots=True)
class TraceSession:
    start: int
    end: int
    first: str
    second: str
    cooloff: int = 0
    pool: str = "default"
    expiry: int | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a session must end after it starts: {self}")
        if self.first == self.second:
            raise ValueError(f"a session needs two different parties: {self}")
        if self.cooloff < 0:
            raise ValueError(f"cool-off cannot be negative: {self}")

    def with_cooloff(self, seconds: int) -> TraceSession:
        return replace(self, cooloff=seconds)


Trace = list[TraceSession]


def read_trace(lines: Iterable[str]) -> Trace:
    trace = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            trace.append(TraceSession(**fields))
        except (ValueError, TypeError) as error:
            raise ValueError(f"line {n}: {error}") from None
    return sorted(trace, key=lambda s: s.start)


def load_trace(path: Path) -> Trace:
    with path.open() as lines:
        return read_trace(lines)


def write_trace(trace: Iterable[TraceSession], out: IO[str]) -> None:
    for session in trace:
        fields = {k: v for k, v in asdict(session).items() if v is not None}
        out.write(json.dumps(fields) + "\n")


def pools(trace: Trace) -> dict[str, Trace]:
    split: dict[str, Trace] = defaultdict(list)
    for session in trace:
        split[session.pool].append(session)
    return dict(split)


def max_degree(trace: Trace, held: bool = False) -> int:
    """Δ: the most sessions any one party has at once; with ``held``, a session counts until its
    cool-off ends too (Δ_held, what a per-party cool-off makes the allocator respect)."""
    events: list[tuple[int, int, str]] = []
    for s in trace:
        until = s.end + (s.cooloff if held else 0)
        for party in (s.first, s.second):
            events.append((s.start, 1, party))
            events.append((until, -1, party))
    # At one instant, ends come before starts: a hold that ends at t does not block t.
    events.sort(key=lambda e: (e[0], e[1]))
    degree: dict[str, int] = defaultdict(int)
    best = 0
    for _, change, party in events:
        degree[party] += change
        best = max(best, degree[party])
    return best
