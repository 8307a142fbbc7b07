"""A pool at a glance: its numbers, what its traffic needs of them (the capacity plan's figures,
``maskline.sim.plan.PlanRow``), each number's live sessions and health, and which pool runs out
first.

Pure: the service gathers the plan, the numbers and their health; ``running_out_first`` orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from maskline.domain.health import NumberHealth
from maskline.domain.model import NumberState


@dataclass(frozen=True, slots=True)
class NumberStatus:
    """One number of a pool: in service or retired (a retired one is listed while sessions
    still live on it), its live sessions now, and its health when it was judged (numbers in
    service only)."""

    number: str
    state: NumberState
    live_sessions: int
    health: NumberHealth | None = None

    @property
    def flagged(self) -> bool:
        return self.health is not None and self.health.flagged


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """A pool (an account's or subaccount's numbers in one country) now and over the window
    the plan was made from.

    ``needed`` is K*: the fewest numbers with which the server's allocation policy, replayed over
    the window's sessions, refuses none (for first-fit, the highest number it used). ``rule`` is
    2Δ_held−1 at the peak, the greedy bound the sizing rule asks for; ``rule_live`` the same
    from Δ of live sessions alone (2Δ−1), without the per-party cool-off holds."""

    pool: str
    country: str
    in_service: int
    in_use: int  # numbers holding a live or cooling session now
    live_sessions: int  # live sessions on the pool's numbers now
    delta_now: int  # the most live sessions any one party has now
    delta_peak: int  # ... at the window's peak
    held_peak: int  # Δ_held at the peak: live sessions plus per-party cool-off holds
    needed: int
    rule: int
    sessions: int  # sessions in the window
    numbers: tuple[NumberStatus, ...] = ()

    @property
    def rule_live(self) -> int:
        return max(2 * self.delta_peak - 1, 0)

    @property
    def headroom(self) -> int:
        """Numbers in service beyond what the window's traffic needed (negative: short)."""
        return self.in_service - self.needed

    @property
    def spare(self) -> float | None:
        """``headroom`` as a share of ``needed``: how much the window's busiest traffic could
        grow before the pool would have refused a session; None for a pool with no traffic."""
        return self.headroom / self.needed if self.needed else None


def running_out_first(pools: Iterable[PoolStatus]) -> list[PoolStatus]:
    """The pools, the one nearest to running out first.

    The rule: least ``spare`` first, that is the least growth of the window's traffic (as a
    share of what it needs now) that would use up the pool's headroom. A pool of 100 numbers
    needing 90 (11% spare) comes before one of 10 needing 8 (25% spare): 11% more traffic
    exhausts the larger one. A pool already short (negative headroom) comes before any pool
    with some; pools with no traffic in the window come last, smallest first. Ties: the smaller
    headroom, then pool and country, so that the order is stable.
    """

    def key(p: PoolStatus) -> tuple[int, float, int, str, str]:
        if p.spare is None:
            return (1, float(p.in_service), p.headroom, p.pool, p.country)
        return (0, p.spare, p.headroom, p.pool, p.country)

    return sorted(pools, key=key)
