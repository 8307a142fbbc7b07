"""The capacity planner: per pool (account or subaccount, and country), how many numbers the
traffic needs now and at its peak, against the 2Δ−1 rule and the numbers in service; and, if
asked, how many late calls an hour after a session's end reach someone else, and the pool that
would bring them under 1%."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from maskline.domain.allocation import WILDCARD, CooloffScope, Policy
from maskline.domain.model import HistoryRow
from maskline.sim.misroutes import HOUR, misroutes
from maskline.sim.replay import POLICIES, Order, k_star, replay
from maskline.sim.tables import markdown
from maskline.sim.trace import Trace, TraceSession

LATE = HOUR  # the late call the plan sizes pools for
TARGET = 0.01  # ... and the share of them that may reach someone else
REACH = 4  # the pool for late calls is sought up to this many times the needed pool


@dataclass(frozen=True, slots=True)
class PlanRow:
    pool: str
    country: str
    sessions: int  # in the window
    in_service: int | None  # numbers in service (None: unknown, as for a trace file)
    in_use: int  # numbers with a live or cooling session now
    delta_now: int
    delta_peak: int
    held_peak: int  # Δ_held at the peak: live sessions plus per-party cool-off holds
    needed: int  # K* of the production policy over the window
    rule: int  # 2Δ_held−1 at the peak: what the sizing rule asks for
    # Late calls, if asked for: the share misrouted an hour after the end with the numbers in
    # service (or the needed pool, when that is unknown), and the pool that brings it under 1%
    # (None: not within REACH × needed; both None: no session ended an hour before the last start).
    misrouted: float | None = None
    late_pool: int | None = None
    late_searched: int | None = None  # the largest pool the search would try

    @property
    def headroom(self) -> int | None:
        return None if self.in_service is None else self.in_service - self.needed


def to_trace(rows: Iterable[HistoryRow]) -> dict[tuple[str, str], Trace]:
    """One trace per pool; a single-party session holds the number's wildcard key."""
    traces: dict[tuple[str, str], Trace] = defaultdict(list)
    for r in rows:
        if r.expiry <= r.created:
            continue  # expired at once: never held anything
        first, second = r.first or WILDCARD, r.second or WILDCARD
        traces[r.pool, r.country].append(
            TraceSession(r.created, r.expiry, first, second, cooloff=r.cooloff_until - r.expiry, pool=r.pool)
        )
    return dict(traces)


def plan(
    rows: Sequence[HistoryRow],
    in_service: Mapping[tuple[str, str], int] | None,
    now: int,
    policy: Policy = Policy.FIRST_FIT,
    progress: Callable[[int, int], object] | None = None,
    late_calls: bool = False,
) -> list[PlanRow]:
    """Per pool and country: what the history of ``rows`` needed of the server's ``policy``, and
    with ``late_calls`` its late-call misroutes; ``progress`` is told (pools done, pools in all) as
    each is sized."""
    by_pool = to_trace(rows)
    now_live: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    in_use: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        key = (r.pool, r.country)
        if r.created <= now < r.cooloff_until:
            in_use[key].add(r.number)
        if r.created <= now < r.expiry:
            now_live[key].update(p for p in (r.first, r.second) if p)
    keys = sorted(set(by_pool) | set(in_service or {}))
    plans = []
    for done, key in enumerate(keys, 1):
        trace = by_pool.get(key, [])
        sizing = k_star(trace, POLICIES[policy.value], CooloffScope.PER_PARTY) if trace else None
        numbers = None if in_service is None else in_service.get(key, 0)
        late: tuple[float | None, int | None, int | None] = (None, None, None)
        if late_calls and sizing is not None:
            late = late_call_plan(trace, POLICIES[policy.value], numbers or sizing.k_star, sizing.k_star)
        plans.append(
            PlanRow(
                pool=key[0],
                country=key[1],
                sessions=len(trace),
                in_service=numbers,
                in_use=len(in_use[key]),
                delta_now=max(now_live[key].values(), default=0),
                delta_peak=sizing.delta if sizing else 0,
                held_peak=sizing.delta_held if sizing else 0,
                needed=sizing.k_star if sizing else 0,
                rule=sizing.bound if sizing else 0,
                misrouted=late[0],
                late_pool=late[1],
                late_searched=late[2],
            )
        )
        if progress is not None:
            progress(done, len(keys))
    return plans


def late_rate(trace: Trace, size: int, order: Order) -> float | None:
    """The share of late calls an hour after a session's end that reach someone else, with ``size``
    numbers (None: no session ended an hour before the trace's last start)."""
    ordered = sorted(trace, key=lambda s: s.start)  # as replay places them
    return misroutes(ordered, replay(ordered, size, order).numbers, (LATE,)).rate(LATE)


def late_call_plan(
    trace: Trace, order: Order, now: int, needed: int
) -> tuple[float | None, int | None, int | None]:
    """Late calls misrouted with ``now`` numbers, the smallest pool from ``needed`` up to REACH ×
    ``needed`` that misroutes under TARGET of them (None if none does), and the largest pool tried.
    Doubling then bisection: it assumes a larger pool never misroutes more, which quarantine keeps
    and least_recent nearly (it wavers by a few points); first-fit gives the same numbers with any
    pool of at least ``needed``, so no pool helps it. All three are None when no late call can be counted."""
    current = late_rate(trace, now, order)
    if current is None:
        return None, None, None
    low = high = max(needed, 1)
    top = REACH * high
    while (rate := late_rate(trace, high, order)) is not None and rate >= TARGET:
        if high >= top:
            return current, None, top
        low, high = high + 1, min(2 * high, top)
    while low < high:
        middle = (low + high) // 2
        found = late_rate(trace, middle, order)
        if found is None or found < TARGET:
            high = middle
        else:
            low = middle + 1
    return current, high, top


PLAN_COLUMNS = [("pool", "left"), ("country", "left")] + [
    (heading, "right")
    for heading in (
        "sessions",
        "in service",
        "in use now",
        "Δ now",
        "Δ peak",
        "Δ_held peak",
        "needed",
        "2Δ_held−1",
        "headroom",
    )
]


LATE_COLUMNS = [("misrouted 1 h", "right"), ("pool for 1 h < 1%", "right")]


def _late_cells(r: PlanRow) -> list[str]:
    if r.misrouted is None:
        return ["–", "–"]
    return [f"{r.misrouted:.2%}", f"> {r.late_searched}" if r.late_pool is None else str(r.late_pool)]


def plan_table(rows: Sequence[PlanRow], late: bool = False) -> str:
    """The plan; with ``late``, the late-call columns too (– where no late call was counted)."""
    return markdown(
        PLAN_COLUMNS + (LATE_COLUMNS if late else []),
        [
            [
                r.pool,
                r.country,
                f"{r.sessions:,}",
                "–" if r.in_service is None else str(r.in_service),
                str(r.in_use),
                str(r.delta_now),
                str(r.delta_peak),
                str(r.held_peak),
                str(r.needed),
                str(r.rule),
                "–" if r.headroom is None else f"{r.headroom:+d}",
            ]
            + (_late_cells(r) if late else [])
            for r in rows
        ],
    )
