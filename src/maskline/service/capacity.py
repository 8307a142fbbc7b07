"""The capacity plan of the pools: made from the store's history by ``plan_pools`` (for
``maskline pool plan`` and for the metrics endpoint), and kept fresh for the latter.

Sizing a pool replays its recent history through the production policy (``maskline.sim.plan``),
which costs CPU in proportion to the sessions in the window. So the plan is computed at most
once per ``refresh`` seconds, in a worker thread, and only when someone asks for it; an asker
gets the last plan at once while a newer one is being made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from maskline.domain.allocation import Policy
from maskline.domain.ports import Clock, Counters, NumberStore, SessionStore, StoreUnavailable
from maskline.sim.plan import PlanRow, plan

log = logging.getLogger("maskline")


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


class CapacityPlanner:
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
        self._sessions = sessions
        self._numbers = numbers
        self._clock = clock
        self._policy = policy
        self._counters = counters
        self._window = window  # seconds of history the peak and the needed pool are taken from
        self._refresh = refresh
        self._plan: list[PlanRow] = []
        self._made = -float("inf")
        self._making: asyncio.Task[None] | None = None

    async def make(self) -> list[PlanRow]:
        """A new plan of every pool, now."""
        now = int(self._clock())
        made = await plan_pools(self._sessions, self._numbers, None, now, self._window, self._policy)
        self._plan, self._made = made, self._clock()
        return made

    async def current(self) -> Sequence[PlanRow]:
        """The last plan (made now if there is none yet); a stale one starts a newer one."""
        if self._made == -float("inf"):
            return await self.make()
        if self._clock() - self._made >= self._refresh and (self._making is None or self._making.done()):
            self._making = asyncio.create_task(self._make_logged())
        return self._plan

    async def _make_logged(self) -> None:
        try:
            await self.make()
        except StoreUnavailable as error:
            self._counters.skipped(error)
        except Exception:
            log.exception("capacity plan failed")

    async def close(self) -> None:
        if self._making is not None and not self._making.done():
            self._making.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._making
