"""A figure that costs much to make (a plan of every pool, the health of every number), kept for
``/metrics``: made at most once per ``refresh`` seconds, in the background once a first one is
made, and only when someone asks; an asker gets the last one at once while a newer one is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic, TypeVar

from maskline.domain.ports import Clock, Counters, StoreUnavailable

log = logging.getLogger("maskline")

T = TypeVar("T")


class Kept(Generic[T]):
    """Subclasses say how the figure is made (``_new``) and what it is (``what``, for the log)."""

    what = "figure"

    def __init__(self, clock: Clock, counters: Counters, refresh: float) -> None:
        self._clock = clock
        self._counters = counters
        self._refresh = refresh
        self._kept: T | None = None
        self._made = -float("inf")
        self._making: asyncio.Task[None] | None = None

    async def _new(self) -> T:
        raise NotImplementedError

    @property
    def made(self) -> float | None:
        """When the kept figure was made (by the clock); None before the first."""
        return None if self._kept is None else self._made

    async def make(self) -> T:
        """A new figure, now."""
        made = await self._new()
        self._kept, self._made = made, self._clock()
        return made

    async def current(self) -> T:
        """The last figure (made now if there is none yet); a stale one starts a newer one."""
        if self._kept is None:
            return await self.make()
        if self._clock() - self._made >= self._refresh and (self._making is None or self._making.done()):
            self._making = asyncio.create_task(self._make_logged())
        return self._kept

    async def _make_logged(self) -> None:
        try:
            await self.make()
        except StoreUnavailable as error:
            self._counters.skipped(error)
        except Exception:
            log.exception("%s failed", self.what)

    async def close(self) -> None:
        if self._making is not None and not self._making.done():
            self._making.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._making
