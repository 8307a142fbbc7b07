"""A pool's history as a series: at fixed steps, its live sessions and Δ (the most live
sessions any one party had at that instant), as the store counts them from the sessions kept.

A session is live at ``t`` when ``created <= t < expiry`` (``Session.is_live``). The store counts
at the step points ``since + k * step`` for ``k`` from 0 to ``steps(since, until, step) - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    at: int
    live: int  # sessions live at ``at``
    delta: int  # the most of them any one party is in


def steps(since: int, until: int, step: int) -> int:
    """How many step points lie in ``[since, until]``."""
    if step <= 0:
        raise ValueError("the step must be positive")
    return 0 if until < since else (until - since) // step + 1


def fill(since: int, count: int, step: int, found: dict[int, tuple[int, int]]) -> list[SeriesPoint]:
    """Every step point, with the counts ``found`` by step index (none: nothing live)."""
    return [SeriesPoint(since + k * step, *found.get(k, (0, 0))) for k in range(count)]
