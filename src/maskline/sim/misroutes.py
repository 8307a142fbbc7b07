"""Late calls: how often a party calling a number after its session ended reaches a stranger.

A call is routed by (caller, virtual number). When a session {A, B} on V ends and A calls V
``delay`` seconds later, the call reaches B's replacement if A then holds a live session on V with
someone other than B: a misroute. For every ended session and each of its parties, at each delay,
the case is counted if the trace still has traffic then (its end plus the delay is no later than
the last session start of its pool), and it is a misroute if the party then holds a live session
on the same number with another party.

Sides: in a session, the busy side is the party with more sessions in its pool's trace (the
first party on a tie), the other side is its counterpart. In the generated workloads the busy
side is the driver, courier or agent; in the marketplace the seller, except where a little-known
seller has fewer sessions than its buyer (7% of sessions). The wildcard key of an open
single-party session is not a caller.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from maskline.domain.allocation import WILDCARD
from maskline.sim.trace import TraceSession

MINUTE, HOUR = 60, 3600
DELAYS = (10 * MINUTE, HOUR, 6 * HOUR, 24 * HOUR)
SIDES = ("busy", "other")


@dataclass
class Misroutes:
    """Late calls counted per (side, delay): how many were looked at and how many misrouted."""

    cases: Counter[tuple[str, int]] = field(default_factory=Counter)
    misrouted: Counter[tuple[str, int]] = field(default_factory=Counter)

    def rate(self, delay: int, side: str | None = None) -> float | None:
        """The share of late calls after ``delay`` that reach a stranger (of one side, or of both);
        None when the trace has no traffic that long after any end."""
        sides = SIDES if side is None else (side,)
        cases = sum(self.cases[s, delay] for s in sides)
        return sum(self.misrouted[s, delay] for s in sides) / cases if cases else None

    def __add__(self, other: Misroutes) -> Misroutes:
        return Misroutes(self.cases + other.cases, self.misrouted + other.misrouted)


def busy_sides(trace: Iterable[TraceSession]) -> list[str]:
    """Per session, its busy side: the party with more sessions in ``trace``, the first on a tie."""
    sessions = list(trace)
    count = Counter(p for s in sessions for p in (s.first, s.second))
    return [s.second if count[s.second] > count[s.first] else s.first for s in sessions]


def misroutes(
    trace: Sequence[TraceSession], numbers: Sequence[str | None], delays: Sequence[int] = DELAYS
) -> Misroutes:
    """Late-call misroutes of one pool's ``trace``, each session on its number in ``numbers``
    (None: refused, never placed), as a replay gives them. A party never holds two live sessions
    on one number, so at any instant it has at most one on each."""
    if len(trace) != len(numbers):
        raise ValueError("one number per session")
    found = Misroutes()
    if not trace:
        return found
    horizon = max(s.start for s in trace)
    # (party, number): its sessions there as (start, end, counterpart), by start.
    spans: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for s, number in zip(trace, numbers, strict=True):
        if number is not None:
            spans[s.first, number].append((s.start, s.end, s.second))
            spans[s.second, number].append((s.start, s.end, s.first))
    starts = {}
    for key, mine in spans.items():
        mine.sort()
        starts[key] = [start for start, _, _ in mine]
    for s, number, busy in zip(trace, numbers, busy_sides(trace), strict=True):
        if number is None:
            continue
        for party, counterpart in ((s.first, s.second), (s.second, s.first)):
            if party == WILDCARD:
                continue
            side = "busy" if party == busy else "other"
            mine, begun = spans[party, number], starts[party, number]
            for delay in delays:
                at = s.end + delay
                if at > horizon:
                    continue
                found.cases[side, delay] += 1
                i = bisect_right(begun, at) - 1  # the last of its sessions there begun by then
                if i >= 0 and mine[i][1] > at and mine[i][2] != counterpart:
                    found.misrouted[side, delay] += 1
    return found
