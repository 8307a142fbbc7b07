"""The pools page and its number actions.

The page shows each pool the account sees (``maskline.service.pool_status``), the one that runs
out first first, with a chart of its last days, from figures kept rather than made on each view
(``PoolFigures``); it says how old they are.

A main account adds, retires and replaces numbers here; a subaccount sees no action, and its
POST is refused. Every action is two POSTs: the first shows what will happen and asks to
confirm, only a second one with ``confirm=yes`` acts, and redirects to a page that says what it
did (kept with the sign-in until shown once), so that a reload does not post it again. A number
is named by a form field, never in a URL, and shown masked.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from maskline.domain import errors
from maskline.domain.chart import Line, line_chart
from maskline.domain.model import Number
from maskline.domain.phone import is_region
from maskline.domain.pool_status import PoolStatus
from maskline.http.console.guard import Form, Guard, redirect, refused
from maskline.http.console.pages import Signed, masked, render
from maskline.service.numbers import parse_number
from maskline.telemetry import mask_phones

log = logging.getLogger("maskline.console")

CURRENT = "/console/pools"
DONE = "/console/pools/done"
MAX_ADD = 500  # numbers one form may add
_SEPARATORS = re.compile(r"[\s,;]+")
NOT_FOR_SUBACCOUNTS = "Only the main account can add, retire or replace numbers."


def chart(index: int, pool: PoolStatus, points: list[Any], days: int) -> str:
    where = f"{pool.pool} ({pool.country or 'no country'})"
    return line_chart(
        f"pool-{index}",
        f"Live sessions and Δ of {where}, last {days} days",
        f"Hourly: the sessions live on the pool's numbers, and Δ, the most of them any one party was in,"
        f" over the last {days} days (UTC).",
        [
            Line("Live sessions", [(p.at, p.live) for p in points]),
            Line("Δ (most live sessions of one party)", [(p.at, p.delta) for p in points]),
        ],
    )


def split_numbers(raw: str) -> list[str]:
    return [n for n in _SEPARATORS.split(raw) if n]


class PoolPages:
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def index(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        return await self._index(signed)

    async def _index(self, signed: Signed, message: str = "", status: int = 200, **added: str) -> Response:
        services = self._guard.services()
        now = services.console.now()
        overview = await services.pools.overview(signed.account)
        pools, oldest = [], overview.made
        for index, pool in enumerate(overview.figure):
            history = await services.pools.history(signed.account, pool.pool, pool.country)
            oldest = min(oldest, history.made)
            pools.append((pool, chart(index, pool, history.figure, services.pools.days)))
        context = {
            "pools": pools,
            "now": now,
            "made": int(oldest),
            "age": max(now - int(oldest), 0),
            "days": services.pools.days,
            "subaccounts": await services.console.subaccounts(signed.account),
            "message": message,
            "add": {"numbers": "", "subaccount": "", "country": "", **added},
        }
        return render("pools.html", signed, context, status=status, current=CURRENT)

    def _confirm(self, signed: Signed, action: str, context: dict[str, Any]) -> Response:
        return render(
            "number_action.html", signed, {"action": action, "done": False, **context}, current=CURRENT
        )

    async def _done(self, signed: Signed, notice: dict[str, Any]) -> Response:
        """Keep what the action did (its numbers masked) and send the browser to the page that
        shows it."""
        await self._guard.services().console.tell(signed.login, json.dumps(notice))
        return redirect(DONE)

    async def done(self, request: Request, signed: Signed | None, form: Form) -> Response:
        """What the sign-in's last action did, shown once; then the pools."""
        assert signed is not None
        notice = await self._guard.services().console.told(signed.login)
        if notice is None:
            return redirect(CURRENT)
        return render("number_action.html", signed, {"done": True, **json.loads(notice)}, current=CURRENT)

    async def _number(self, signed: Signed, form: Form) -> Number | None:
        try:
            return await self._guard.services().numbers.get(signed.account, form.get("number", ""))
        except errors.NumberNotFound:
            return None

    async def add(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        if signed.account.is_subaccount:
            return refused(signed, 403, NOT_FOR_SUBACCOUNTS)
        fields = {name: form.get(name, "").strip() for name in ("numbers", "subaccount", "country")}
        numbers = split_numbers(fields["numbers"])
        services = self._guard.services()
        problem = ""
        if not numbers:
            problem = "Give at least one number."
        elif len(numbers) > MAX_ADD:
            problem = f"At most {MAX_ADD} numbers at once."
        elif fields["subaccount"] and fields["subaccount"] not in await services.console.subaccounts(
            signed.account
        ):
            problem = "No such subaccount."
        elif fields["country"] and not is_region(fields["country"].upper()):
            problem = "The country must be a two-letter ISO code, as US or GB."
        else:
            try:
                numbers = [parse_number(n) for n in numbers]
            except errors.InvalidNumber as error:
                problem = mask_phones(error.message)
        if problem:
            return await self._index(signed, problem, 400, **fields)
        pool = fields["subaccount"] or signed.account.auth_id
        context = {"numbers": numbers, "pool": pool, "country": fields["country"].upper(), "fields": fields}
        if form.get("confirm") != "yes":
            return self._confirm(signed, "add", context)
        added = await services.numbers.add(
            signed.account,
            numbers,
            subaccount=fields["subaccount"] or None,
            country=fields["country"] or None,
        )
        log.info("console: %s put %d numbers in service in pool %s", signed.account.auth_id, len(added), pool)
        shown = [[masked(n.number), n.country] for n in added]
        return await self._done(signed, {"action": "add", "pool": pool, "added": shown})

    async def retire(self, request: Request, signed: Signed | None, form: Form) -> Response:
        return await self._retire_or_replace(signed, form, "retire")

    async def replace(self, request: Request, signed: Signed | None, form: Form) -> Response:
        return await self._retire_or_replace(signed, form, "replace")

    async def _retire_or_replace(self, signed: Signed | None, form: Form, action: str) -> Response:
        assert signed is not None
        if signed.account.is_subaccount:
            return refused(signed, 403, NOT_FOR_SUBACCOUNTS)
        number = await self._number(signed, form)
        if number is None:
            return refused(signed, 404, "No such number in this account's pools.")
        if form.get("confirm") != "yes":
            return self._confirm(signed, action, {"number": number})
        services = self._guard.services()
        notice: dict[str, Any] = {"action": action, "number": masked(number.number)}
        try:
            if action == "retire":
                await services.numbers.retire(signed.account, [number.number])
                notice["live_sessions"] = number.live_sessions
            else:
                (moves,) = await services.numbers.replace(signed.account, [number.number], services.sessions)
                notice |= {"moved": len(moves.moved), "stuck": [s.uuid for s in moves.stuck]}
        except errors.NumberNotHeld:
            return refused(signed, 404, "No such number in this account's pools.")
        log.info("console: %s %sd number %s", signed.account.auth_id, action, notice["number"])
        return await self._done(signed, notice)
