"""The capacity plan of every pool, kept fresh for the metrics endpoint.

Sizing a pool replays its recent history through the production policy (``maskline.sim.plan``),
which costs CPU in proportion to the sessions in the window. So the plan is computed at most
once per ``refresh`` seconds, in a worker thread, and only when someone asks for it; an asker
gets the last plan at once while a newer one is being made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from maskline import telemetry
from maskline.domain.allocation import Policy
from maskline.domain.ports import Clock, Store, StoreUnavailable
from maskline.sim.plan import HistoryRow, PlanRow, plan

log = logging.getLogger("maskline")


class CapacityPlanner:
    def __init__(
        self, store: Store, clock: Clock, policy: Policy, window: int = 86400, refresh: float = 300.0
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._window = window  # seconds of history the peak and the needed pool are taken from
        self._refresh = refresh
        self._plan: list[PlanRow] = []
        self._made = -float("inf")
        self._making: asyncio.Task[None] | None = None

    async def make(self) -> list[PlanRow]:
        """A new plan of every pool, now."""
        now = int(self._clock())
        history = [HistoryRow(*row) for row in await self._store.session_history(None, now - self._window)]  # type: ignore[arg-type]
        in_service = await self._store.numbers_in_service(None)
        made = await asyncio.to_thread(plan, history, in_service, now, self._policy)
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
            telemetry.OUTAGE.skipped(error)
        except Exception:
            log.exception("capacity plan failed")

    async def close(self) -> None:
        if self._making is not None and not self._making.done():
            self._making.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._making
