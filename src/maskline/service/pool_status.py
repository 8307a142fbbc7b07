"""The pools of an account at a glance (``maskline.domain.pool_status``) and their history as a
series (``maskline.domain.series``).

The figures of each pool are the capacity plan's (``plan_pools``, as ``maskline pool plan`` and
``/metrics`` make it: a replay of the window's sessions through the allocation policy, in a
worker thread); the numbers' live sessions are the number list's, their health the number
health's (``number_health``). Nothing is computed twice.
"""

from __future__ import annotations

from collections import defaultdict

from maskline.domain.allocation import Policy
from maskline.domain.health import HealthRules
from maskline.domain.model import Account, NumberState, Scope
from maskline.domain.pool_status import NumberStatus, PoolStatus, running_out_first
from maskline.domain.ports import CallStore, NumberStore, SessionStore
from maskline.domain.series import DAY, HOUR, SeriesPoint
from maskline.service.capacity import plan_pools
from maskline.service.health import number_health


async def pool_overview(
    sessions: SessionStore,
    numbers: NumberStore,
    calls: CallStore,
    account: Account,
    now: int,
    window: int = DAY,
    policy: Policy = Policy.FIRST_FIT,
    rules: HealthRules | None = None,
) -> list[PoolStatus]:
    """Every pool ``account`` sees (a main account's and its subaccounts'; a subaccount's own),
    the one that runs out first first (``running_out_first`` says the rule). Δ at the peak and
    ``needed`` come from the sessions held in the last ``window`` seconds, ``needed`` being K*
    of ``policy`` (first-fit unless told: pass the server's policy to size as it allocates);
    health from the calls of ``rules.window``. A pool's numbers: those in service, and retired
    ones that still carry live sessions."""
    plan = await plan_pools(sessions, numbers, account.main_id, now, window, policy)
    if account.is_subaccount:
        plan = [row for row in plan if row.pool == account.auth_id]
    judged = {h.calls.number: h for h in await number_health(calls, account.main_id, now, rules)}
    by_pool: dict[tuple[str, str], list[NumberStatus]] = defaultdict(list)
    for n in await numbers.list_numbers(Scope.of(account), now):
        if n.state is NumberState.IN_SERVICE or n.live_sessions:
            by_pool[n.pool_id, n.country].append(
                NumberStatus(n.number, n.state, n.live_sessions, judged.get(n.number))
            )
    return running_out_first(
        PoolStatus(
            row.pool,
            row.country,
            row.in_service or 0,
            row.in_use,
            sum(n.live_sessions for n in by_pool[row.pool, row.country]),
            row.delta_now,
            row.delta_peak,
            row.held_peak,
            row.needed,
            row.rule,
            row.sessions,
            tuple(by_pool[row.pool, row.country]),
        )
        for row in plan
    )


async def pool_history(
    sessions: SessionStore,
    account: Account,
    pool: str,
    country: str,
    now: int,
    days: int = 7,
    step: int = HOUR,
) -> list[SeriesPoint]:
    """Live sessions and Δ of one pool at every ``step`` seconds over the last ``days`` days,
    oldest first, ending at the last step point at or before ``now``; one query, counted by the
    database. A subaccount sees its own pool only: another's has no points. Sessions the purge
    removed (ended more than the retention ago) are not counted."""
    if account.is_subaccount and pool != account.auth_id:
        return []
    since = now - days * DAY
    return await sessions.live_series(account.main_id, pool, country, since, now, step)
