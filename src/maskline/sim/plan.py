"""The capacity planner: per pool (account or subaccount, and country), how many numbers the
traffic needs now and at its peak, against the 2Δ−1 rule and the numbers in service."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from maskline.domain.allocation import WILDCARD, CooloffScope, Policy
from maskline.domain.model import HistoryRow
from maskline.sim.replay import POLICIES, k_star
from maskline.sim.tables import markdown
from maskline.sim.trace import Trace, TraceSession


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
) -> list[PlanRow]:
    """Per pool and country: what the history of ``rows`` needed of the server's ``policy``;
    ``progress`` is told (pools done, pools in all) as each is sized."""
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
        plans.append(
            PlanRow(
                pool=key[0],
                country=key[1],
                sessions=len(trace),
                in_service=None if in_service is None else in_service.get(key, 0),
                in_use=len(in_use[key]),
                delta_now=max(now_live[key].values(), default=0),
                delta_peak=sizing.delta if sizing else 0,
                held_peak=sizing.delta_held if sizing else 0,
                needed=sizing.k_star if sizing else 0,
                rule=sizing.bound if sizing else 0,
            )
        )
        if progress is not None:
            progress(done, len(keys))
    return plans


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


def plan_table(rows: Sequence[PlanRow]) -> str:
    return markdown(
        PLAN_COLUMNS,
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
            for r in rows
        ],
    )
