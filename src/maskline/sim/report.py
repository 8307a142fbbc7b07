"""Runs of the simulator over workloads and policies, and the table they print."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from maskline.domain.allocation import CooloffScope
from maskline.sim.replay import POLICIES, replay, trace_sizing
from maskline.sim.tables import markdown
from maskline.sim.trace import Trace, pools


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
) -> list[Row]:
    """One row per workload and policy: medians over the seeds (each seed a new trace); with
    ``optimum``, also the exact optimum (small traces only: it solves a SAT problem per size).
    ``progress`` is told (rows done, rows in all) as each row is done."""
    rows = []
    for name, make in workloads.items():
        traces = [make(seed) for seed in seeds]
        if cooloff is not None:
            traces = [[s.with_cooloff(cooloff) for s in trace] for trace in traces]
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
    cells = []
    for r in rows:
        line = [r.workload, r.policy, f"{r.sessions:,}", str(r.delta), str(r.delta_held), str(r.k_star)]
        line += [f"{r.ratio:.2f}", str(r.bound)]
        if optimum:
            line.append("" if r.optimum is None else str(r.optimum))
        if refusals:
            line.append("" if r.refusal_rate is None else f"{r.refusal_rate:.2%}")
        cells.append(line)
    return markdown(columns, cells)
