"""Number health (``maskline.domain.health``) from the store's call records: for ``maskline
number health``, for ``/metrics``, and the flagged numbers of each account, which are replaced
when the operator turns that on (``MASKLINE_REPLACE_UNHEALTHY_NUMBERS``).

Counting a window of calls reads every number's calls in it, so ``/metrics`` takes its figures
from a ``HealthMonitor``: judged at most once per ``refresh`` seconds, in the background once a
first judgement is made, and only when someone asks.
"""

from __future__ import annotations

import logging

from maskline.domain.health import HealthRules, NumberHealth, assess
from maskline.domain.model import Account
from maskline.domain.ports import CallStore, Clock, Counters
from maskline.service.kept import Kept
from maskline.service.numbers import NumberService
from maskline.service.sessions import Moves, SessionService

log = logging.getLogger("maskline")


async def number_health(
    calls: CallStore, main_id: str | None, now: int, rules: HealthRules | None = None
) -> list[NumberHealth]:
    """The health of every number in service of ``main_id`` (None: of every account), from
    the calls of the last ``rules.window`` seconds; in the order numbers were added."""
    rules = rules or HealthRules()
    figures = await calls.number_calls(main_id, now - rules.window, now, rules.short_call)
    return assess(figures, rules)


async def flagged_numbers(
    calls: CallStore, now: int, rules: HealthRules | None = None, main_id: str | None = None
) -> dict[str, list[NumberHealth]]:
    """The flagged numbers of each main account (of ``main_id`` alone, if given), by account:
    the numbers an automatic replacement would replace."""
    flagged: dict[str, list[NumberHealth]] = {}
    for health in await number_health(calls, main_id, now, rules):
        if health.flagged:
            flagged.setdefault(health.calls.main_id, []).append(health)
    return flagged


async def replace_unhealthy(
    calls: CallStore, numbers: NumberService, sessions: SessionService, counters: Counters, now: int
) -> list[Moves]:
    """Replace every flagged number of every account (``MASKLINE_REPLACE_UNHEALTHY_NUMBERS``):
    each is retired and its live sessions move to other numbers of their pools. Each is logged
    (the number masked, as every number in a log line) and counted."""
    replaced = []
    for main_id, flagged in (await flagged_numbers(calls, now)).items():
        account = Account(main_id, None)
        for health, moves in zip(
            flagged, await numbers.replace(account, [h.calls.number for h in flagged], sessions), strict=True
        ):
            counters.unhealthy_number_replaced()
            log.warning(
                "replaced unhealthy number %s (%s worse than its pool): %d sessions moved, %d stayed",
                moves.number,
                " and ".join(health.worse),
                len(moves.moved),
                len(moves.stuck),
            )
            replaced.append(moves)
    return replaced


class HealthMonitor(Kept[list[NumberHealth]]):
    """The health of every account's numbers, kept for ``/metrics``."""

    what = "number health"

    def __init__(
        self,
        calls: CallStore,
        clock: Clock,
        counters: Counters,
        refresh: float = 300.0,
        rules: HealthRules | None = None,
    ) -> None:
        super().__init__(clock, counters, refresh)
        self._calls = calls
        self._rules = rules or HealthRules()

    async def _new(self) -> list[NumberHealth]:
        return await number_health(self._calls, None, int(self._clock()), self._rules)
