"""The true lower bound on small traces: the fewest numbers any fixed assignment could use.

Knowing the whole trace in advance, and still never moving a live session, the best assignment
is a colouring of the *conflict graph*: one vertex per session, an edge between two sessions that
may not share a number (they share a party while both hold it, or, under a global cool-off, one
starts while the other's number is frozen). Its chromatic number is found exactly with a SAT
solver (python-sat, a test and benchmark dependency only), deciding "K numbers suffice?" from the
lower bound Δ_held upwards. Meant for traces of a few hundred sessions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

from maskline.domain.allocation import CooloffScope
from maskline.sim.replay import POLICIES, k_star
from maskline.sim.trace import TraceSession, max_degree


def conflicts(trace: Sequence[TraceSession], scope: CooloffScope) -> set[tuple[int, int]]:
    """Pairs of session indexes (i < j) that may not share a number."""
    per_party = scope is CooloffScope.PER_PARTY

    def held(s: TraceSession) -> tuple[int, int]:
        return s.start, s.end + (s.cooloff if per_party else 0)

    pairs: set[tuple[int, int]] = set()
    by_party: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(trace):
        by_party[s.first].append(i)
        by_party[s.second].append(i)
    for sessions in by_party.values():
        for i, j in combinations(sessions, 2):
            (a0, a1), (b0, b1) = held(trace[i]), held(trace[j])
            if a0 < b1 and b0 < a1:
                pairs.add((min(i, j), max(i, j)))
    if not per_party:
        for i, j in combinations(range(len(trace)), 2):
            s, t = trace[i], trace[j]
            if s.end <= t.start < s.end + s.cooloff or t.end <= s.start < t.end + t.cooloff:
                pairs.add((i, j))
    return pairs


def colourable(size: int, count: int, pairs: set[tuple[int, int]]) -> bool:
    """Whether ``count`` sessions with these conflicts fit in ``size`` numbers."""
    try:
        from pysat.solvers import Solver  # type: ignore[import-untyped]
    except ImportError as missing:  # an optional extra (maskline sim --optimum checks first)
        raise ImportError("the exact optimum needs python-sat: pip install 'maskline[optimum]'") from missing

    def var(session: int, number: int) -> int:
        return session * size + number + 1

    with Solver(name="cd15") as solver:
        for s in range(count):
            solver.add_clause([var(s, k) for k in range(size)])
        for i, j in pairs:
            for k in range(size):
                solver.add_clause([-var(i, k), -var(j, k)])
        if count:  # symmetry: the first session takes the first number
            solver.add_clause([var(0, 0)])
        return bool(solver.solve())


def optimum(trace: Sequence[TraceSession], scope: CooloffScope = CooloffScope.PER_PARTY) -> int:
    """The fewest numbers that serve ``trace`` (one pool) with a fixed assignment."""
    trace = sorted(trace, key=lambda s: s.start)
    pairs = conflicts(trace, scope)
    low = max_degree(trace, held=scope is CooloffScope.PER_PARTY)
    high = k_star(trace, POLICIES["first_fit"], scope).k_star  # first-fit's is a valid assignment
    for size in range(max(low, 1), high):
        if colourable(size, len(trace), pairs):
            return size
    return high
