"""Every HTTP request, observed: a request id (taken from ``X-Request-Id`` when it is sane, else
new, and sent back), its route, status and time counted for ``/metrics``, and one JSON access log
line. The route is the path's template, never the path: paths hold account ids and session
uuids, and query strings (never logged) can hold phone numbers.

Requests beyond ``max_in_flight`` at once are answered 503 straight away (with ``Retry-After``),
so that an overloaded process stays responsive instead of queueing without bound.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maskline import telemetry
from maskline.domain import errors
from maskline.domain.model import shown_account
from maskline.http.routes import RouteTable
from maskline.http.wire import ROUTE, error_reply

_ids = random.Random(random.SystemRandom().getrandbits(64))  # request ids guard nothing: fast ones
_SANE_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


def _request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-Id`` when it is sane, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            sent = value.decode("latin-1")
            if _SANE_ID.fullmatch(sent):
                return sent
            break
    return f"{_ids.getrandbits(128):032x}"


class Observed:
    def __init__(self, app: ASGIApp, table: RouteTable, max_in_flight: int) -> None:
        self.app = app
        self.table = table
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        rid = _request_id(scope["headers"])
        token = telemetry.request_id.set(rid)
        tagged = (b"x-request-id", rid.encode())
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), tagged]}
            await send(message)

        self.in_flight += 1
        try:
            if self.in_flight > self.max_in_flight:
                await error_reply(errors.Overloaded())(scope, receive, send_observed)
            else:
                await self.app(scope, receive, send_observed)
        finally:
            self.in_flight -= 1
            elapsed = time.perf_counter() - began
            route, account = scope.get(ROUTE) or self.table.name(scope["path"])
            method = scope["method"]
            counted = self._series.get((route, method, status))
            if counted is None:  # a label lookup costs more than the count: once per series
                counted = self._series[route, method, status] = (
                    telemetry.REQUESTS.labels(route, method, str(status)),
                    telemetry.LATENCY.labels(route, method),
                )
            counted[0].inc()
            counted[1].observe(elapsed)
            telemetry.log_access(method, route, status, round(elapsed * 1000, 2), shown_account(account), rid)
            telemetry.request_id.reset(token)
