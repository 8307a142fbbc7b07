"""The pools of an account at a glance (``maskline.domain.pool_status``) and their history as a
series (``maskline.domain.series``).

The figures of each pool are the capacity plan's (``plan_pools``, as ``maskline pool plan`` and
``/metrics`` make it: a replay of the window's sessions through the allocation policy, in a
worker thread); the numbers' live sessions are the number list's, their health the number
health's (``number_health``). Nothing is computed twice. For pages viewed again and again,
``PoolFigures`` keeps both (``maskline.service.kept``).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from maskline.domain.health import NumberHealth
from maskline.domain.model import Account, Number, NumberState, Scope
from maskline.domain.pool_status import NumberStatus, PoolStatus, running_out_first
from maskline.domain.ports import Clock, Counters, NumberStore, SessionStore
from maskline.domain.series import DAY, HOUR, SeriesPoint
from maskline.service.capacity import CapacityPlanner
from maskline.service.health import HealthMonitor
from maskline.service.kept import Kept
from maskline.sim.plan import PlanRow

T = TypeVar("T")


def overview_of(
    account: Account, plan: Iterable[PlanRow], judged: Iterable[NumberHealth], held: Iterable[Number]
) -> list[PoolStatus]:
    """The pools of ``account`` from a capacity plan (of its main account, or of every
    account), number health, and the numbers it holds now (``NumberStore.list_numbers``).

    The plan may be older than the numbers: the numbers in service and their live sessions are
    the numbers' own, and a pool whose numbers the plan did not know yet is listed with no
    traffic. Only the pools of numbers ``account`` holds, and its own, are taken from the plan."""
    health = {h.calls.number: h for h in judged}
    by_pool: dict[tuple[str, str], list[NumberStatus]] = defaultdict(list)
    visible = {account.auth_id}
    for n in held:
        visible.add(n.pool_id)
        if n.state is NumberState.IN_SERVICE or n.live_sessions:
            by_pool[n.pool_id, n.country].append(
                NumberStatus(n.number, n.state, n.live_sessions, health.get(n.number))
            )
    if account.is_subaccount:
        visible = {account.auth_id}
    rows = {(row.pool, row.country): row for row in plan if row.pool in visible}
    for pool, country in by_pool:
        if (pool, country) not in rows and pool in visible:
            rows[pool, country] = PlanRow(pool, country, 0, None, 0, 0, 0, 0, 0, 0)
    statuses = []
    for (pool, country), row in rows.items():
        listed = tuple(by_pool[pool, country])
        in_service = sum(1 for n in listed if n.state is NumberState.IN_SERVICE)
        statuses.append(
            PoolStatus(
                pool,
                country,
                in_service,
                row.in_use,
                sum(n.live_sessions for n in listed),
                row.delta_now,
                row.delta_peak,
                row.held_peak,
                row.needed,
                row.rule,
                row.sessions,
                listed,
            )
        )
    return running_out_first(statuses)


@dataclass(frozen=True, slots=True)
class Aged(Generic[T]):
    """A kept figure and when it was made (epoch seconds)."""

    figure: T
    made: float


class _History(Kept[list[SeriesPoint]]):
    """Live sessions and Δ of one pool at every ``step`` seconds over the last ``days`` days,
    oldest first, ending at the last step point at or before now; one query, counted by the
    database. Sessions the purge removed (ended more than the retention ago) are not counted."""

    what = "pool history"

    def __init__(
        self,
        sessions: SessionStore,
        key: tuple[str, str, str],
        clock: Clock,
        counters: Counters,
        refresh: float,
        days: int,
        step: int,
    ) -> None:
        super().__init__(clock, counters, refresh)
        self._sessions = sessions
        self._key = key
        self._days = days
        self._step = step

    async def _new(self) -> list[SeriesPoint]:
        main_id, pool, country = self._key
        now = int(self._clock())
        return await self._sessions.live_series(
            main_id, pool, country, now - self._days * DAY, now, self._step
        )


class PoolFigures:
    """The pools at a glance and their history, for the console, kept instead of made on each
    view: the overview from the capacity planner's and the number health's kept figures (those
    of ``/metrics``) with the numbers as they are now; each pool's history (one query over its
    sessions of the last days, which takes seconds on a large pool) kept per pool, made again
    at most once per ``refresh`` seconds when someone asks."""

    MAX_POOLS = 1000  # pools whose history is kept at once; beyond, the oldest asked is dropped

    def __init__(
        self,
        sessions: SessionStore,
        numbers: NumberStore,
        planner: CapacityPlanner,
        health: HealthMonitor,
        clock: Clock,
        counters: Counters,
        refresh: float = 300.0,
        days: int = 7,
        step: int = HOUR,
    ) -> None:
        self.days = days  # of history: each point ``step`` seconds after the one before
        self._step = step
        self._sessions = sessions
        self._numbers = numbers
        self._planner = planner
        self._health = health
        self._clock = clock
        self._counters = counters
        self._refresh = refresh
        self._histories: OrderedDict[tuple[str, str, str], _History] = OrderedDict()

    async def overview(self, account: Account) -> Aged[list[PoolStatus]]:
        """``account``'s pools (``overview_of``); ``made``: when the older of the plan and the
        health was made."""
        plan = await self._planner.current()
        judged = await self._health.current()
        held = await self._numbers.list_numbers(Scope.of(account), int(self._clock()))
        made = min(self._planner.made or self._clock(), self._health.made or self._clock())
        return Aged(overview_of(account, plan, judged, held), made)

    async def history(self, account: Account, pool: str, country: str) -> Aged[list[SeriesPoint]]:
        """The history of one pool (``_History``), as kept; a subaccount sees its own pool's
        only (another's has no points)."""
        if account.is_subaccount and pool != account.auth_id:
            return Aged([], self._clock())
        key = (account.main_id, pool, country)
        kept = self._histories.get(key)
        if kept is None:
            kept = self._histories[key] = _History(
                self._sessions, key, self._clock, self._counters, self._refresh, self.days, self._step
            )
            while len(self._histories) > self.MAX_POOLS:
                await self._histories.popitem(last=False)[1].close()
        self._histories.move_to_end(key)
        points = await kept.current()
        return Aged(points, kept.made or self._clock())

    async def close(self) -> None:
        for kept in self._histories.values():
            await kept.close()
