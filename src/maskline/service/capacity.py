"""The capacity plan of the pools: made from the store's history by ``plan_pools`` (for
``maskline pool plan`` and for the metrics endpoint), and kept fresh for the latter.

Sizing a pool replays its recent history through the production policy (``maskline.sim.plan``),
which costs CPU in proportion to the sessions in the window. So the plan is made in a worker
thread, and kept (``maskline.service.kept``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from maskline.domain.allocation import Policy
from maskline.domain.ports import Clock, Counters, NumberStore, SessionStore
from maskline.service.kept import Kept
from maskline.sim.plan import PlanRow, plan


async def plan_pools(
    sessions: SessionStore,
    numbers: NumberStore,
    main_id: str | None,
    now: int,
    window: int,
    policy: Policy,
    progress: Callable[[int, int], object] | None = None,
    late_calls: bool = False,
) -> list[PlanRow]:
    """The plan of ``main_id``'s pools (None: every account's) from the sessions held in the
    last ``window`` seconds, against the numbers in service; sized in a worker thread.
    ``progress`` is told (pools done, pools in all) as each pool is sized; with ``late_calls``,
    late-call misroutes are planned too (several more replays per pool)."""
    history = await sessions.session_history(main_id, now - window)
    in_service = await numbers.numbers_in_service(main_id)
    return await asyncio.to_thread(plan, history, in_service, now, policy, progress, late_calls)


class CapacityPlanner(Kept[list[PlanRow]]):
    """The plan of every pool, kept for ``/metrics``."""

    what = "capacity plan"

    def __init__(
        self,
        sessions: SessionStore,
        numbers: NumberStore,
        clock: Clock,
        policy: Policy,
        counters: Counters,
        window: int = 86400,
        refresh: float = 300.0,
    ) -> None:
        super().__init__(clock, counters, refresh)
        self._sessions = sessions
        self._numbers = numbers
        self._policy = policy
        self._window = window  # seconds of history the peak and the needed pool are taken from

    async def _new(self) -> list[PlanRow]:
        now = int(self._clock())
        return await plan_pools(self._sessions, self._numbers, None, now, self._window, self._policy)
