"""Runs of the simulator over workloads and policies, and the table they print."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from maskline.domain.allocation import CooloffScope
from maskline.sim.misroutes import DELAYS, SIDES, Misroutes, misroutes
from maskline.sim.replay import POLICIES, k_star, replay, trace_sizing
from maskline.sim.tables import markdown
from maskline.sim.trace import Trace, pools

SLACK = 1.2  # late calls are measured at this many times first-fit's K*, unless a pool size is given
Rates = dict[tuple[str | None, int], float | None]  # (side or None for both, delay): misroute rate


@dataclass(frozen=True)
class LateCalls:
    """Late-call misroutes of one workload and policy: medians over the seeds."""

    workload: str
    policy: str
    numbers: int  # the pool they were measured at (summed over the trace's pools)
    rates: Rates
    cases: dict[int, int]  # per delay, the late calls counted over both sides (median of seeds)


@dataclass(frozen=True)
class Row:
    workload: str
    policy: str
    sessions: int
    delta: int
    delta_held: int
    k_star: int
    refusal_rate: float | None  # at the pool size asked for, if any
    optimum: int | None = None  # the fewest numbers any fixed assignment needs, if asked for
    late: LateCalls | None = None  # late-call misroutes, if asked for

    @property
    def ratio(self) -> float:
        return self.k_star / self.delta if self.delta else 0.0

    @property
    def bound(self) -> int:
        return 2 * self.delta_held - 1


def simulate(
    workloads: dict[str, Callable[[int], Trace]],
    policies: Sequence[str],
    seeds: Sequence[int],
    scope: CooloffScope,
    pool_size: int | None = None,
    cooloff: int | None = None,
    optimum: bool = False,
    progress: Callable[[int, int], object] | None = None,
    late_calls: bool = False,
) -> list[Row]:
    """One row per workload and policy: medians over the seeds (each seed a new trace); with
    ``optimum``, also the exact optimum (small traces only: it solves a SAT problem per size);
    with ``late_calls``, the late-call misroute rates at ``pool_size`` numbers per pool, or else
    at SLACK × first-fit's K* of each pool. ``progress`` is told (rows done, rows in all) as each
    row is done."""
    rows = []
    for name, make in workloads.items():
        traces = _traces(make, seeds, cooloff)
        best = None
        if optimum:
            from maskline.sim.optimum import optimum as solve

            best = int(
                statistics.median_low(sum(solve(part, scope) for part in pools(t).values()) for t in traces)
            )
        for policy in policies:
            sized = [
                trace_sizing(t, POLICIES[policy], scope, (seed,))
                for t, seed in zip(traces, seeds, strict=True)
            ]
            refusals = None
            if pool_size is not None:
                refusals = statistics.median(
                    _refusal_rate(t, policy, scope, pool_size, seed)
                    for t, seed in zip(traces, seeds, strict=True)
                )
            rows.append(
                Row(
                    name,
                    policy,
                    int(statistics.median(len(t) for t in traces)),
                    int(statistics.median_low(s.delta for s in sized)),
                    int(statistics.median_low(s.delta_held for s in sized)),
                    int(statistics.median_low(s.k_star for s in sized)),
                    refusals,
                    best,
                    _late(name, policy, traces, seeds, scope, pool_size) if late_calls else None,
                )
            )
            if progress is not None:
                progress(len(rows), len(workloads) * len(policies))
    return rows


def _refusal_rate(trace: Trace, policy: str, scope: CooloffScope, size: int, seed: int) -> float:
    """Refusals at ``size`` numbers per pool."""
    refused = placed = 0
    for part in pools(trace).values():
        outcome = replay(part, size, POLICIES[policy], scope, seed)
        refused, placed = refused + outcome.refused, placed + outcome.placed
    return refused / (refused + placed) if refused + placed else 0.0


def _traces(make: Callable[[int], Trace], seeds: Sequence[int], cooloff: int | None) -> list[Trace]:
    """A workload's trace per seed, every session given ``cooloff`` if it is set."""
    traces = [make(seed) for seed in seeds]
    if cooloff is None:
        return traces
    return [[s.with_cooloff(cooloff) for s in trace] for trace in traces]


def late_calls(
    workloads: dict[str, Callable[[int], Trace]],
    policies: Sequence[str],
    seeds: Sequence[int],
    scope: CooloffScope,
    pool_size: int | None = None,
    cooloff: int | None = None,
    slack: float = SLACK,
) -> list[LateCalls]:
    """Late-call misroutes alone (no K* search), per workload and policy, as ``simulate`` finds
    them with ``late_calls``; without ``pool_size``, at ``slack`` × first-fit's K* of each pool."""
    found = []
    for name, make in workloads.items():
        traces = _traces(make, seeds, cooloff)
        found += [_late(name, policy, traces, seeds, scope, pool_size, slack) for policy in policies]
    return found


def _late(
    name: str,
    policy: str,
    traces: Sequence[Trace],
    seeds: Sequence[int],
    scope: CooloffScope,
    size: int | None,
    slack: float = SLACK,
) -> LateCalls:
    counted = [_misroutes(t, policy, scope, seed, size, slack) for t, seed in zip(traces, seeds, strict=True)]
    rates: Rates = {}
    for side in (None, *SIDES):
        for delay in DELAYS:  # the median over the seeds whose traces have traffic that late
            known = [r for _, m in counted if (r := m.rate(delay, side)) is not None]
            rates[side, delay] = statistics.median(known) if known else None
    cases = {
        d: int(statistics.median_low(m.cases["busy", d] + m.cases["other", d] for _, m in counted))
        for d in DELAYS
    }
    return LateCalls(name, policy, int(statistics.median_low(n for n, _ in counted)), rates, cases)


def _misroutes(
    trace: Trace, policy: str, scope: CooloffScope, seed: int, size: int | None, slack: float = SLACK
) -> tuple[int, Misroutes]:
    """The late calls of ``trace`` replayed through ``policy`` at ``size`` numbers per pool, or
    at ``slack`` × first-fit's K* of each pool: the numbers used (summed over pools) and the counts."""
    used, found = 0, Misroutes()
    for part in pools(trace).values():
        part = sorted(part, key=lambda s: s.start)  # as replay places them
        numbers = size or math.ceil(slack * k_star(part, POLICIES["first_fit"], scope).k_star)
        used += numbers
        found += misroutes(part, replay(part, numbers, POLICIES[policy], scope, seed).numbers)
    return used, found


def _delay(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min"


def _share(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.2%}"


def misroute_table(rows: Sequence[LateCalls], sides: Sequence[str | None] = (None,)) -> str:
    """Late calls misrouted per workload and policy, at each delay after a session's end: one line
    per side of ``sides`` (None: both sides together)."""
    split = tuple(sides) != (None,)
    columns = [("workload", "left"), ("policy", "left"), ("numbers", "right")]
    if split:
        columns.append(("side", "left"))
    columns += [(_delay(d), "right") for d in DELAYS]
    cells = []
    for r in rows:
        for side in sides:
            line = [r.workload, r.policy, str(r.numbers)]
            if split:
                line.append(side or "both")
            cells.append(line + [_share(r.rates[side, d]) for d in DELAYS])
    return markdown(columns, cells)


def table(rows: Sequence[Row]) -> str:
    columns = [("workload", "left"), ("policy", "left")] + [
        (heading, "right") for heading in ("sessions", "Δ", "Δ_held", "K*", "K*/Δ", "2Δ_held−1")
    ]
    optimum = any(r.optimum is not None for r in rows)
    refusals = any(r.refusal_rate is not None for r in rows)
    if optimum:
        columns.append(("optimum", "right"))
    if refusals:
        columns.append(("refused at the pool size", "right"))
    late = any(r.late is not None for r in rows)
    if late:
        columns += [(f"misrouted {_delay(d)}", "right") for d in DELAYS]
    cells = []
    for r in rows:
        line = [r.workload, r.policy, f"{r.sessions:,}", str(r.delta), str(r.delta_held), str(r.k_star)]
        line += [f"{r.ratio:.2f}", str(r.bound)]
        if optimum:
            line.append("" if r.optimum is None else str(r.optimum))
        if refusals:
            line.append("" if r.refusal_rate is None else f"{r.refusal_rate:.2%}")
        if late:
            line += [_share(None if r.late is None else r.late.rates[None, d]) for d in DELAYS]
        cells.append(line)
    return markdown(columns, cells)
