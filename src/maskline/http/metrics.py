"""``/metrics``: Prometheus gauges of every pool's capacity plan.

Only for the operator: with ``MASKLINE_METRICS_TOKEN`` set, a scrape must send it as a bearer
token; without it, only clients on the loopback interface are answered.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from maskline.service.capacity import CapacityPlanner
from maskline.sim.plan import PlanRow

LOOPBACK = frozenset({"127.0.0.1", "::1"})

# name, help, the figure of a plan row
_POOL_GAUGES: list[tuple[str, str, Callable[[PlanRow], int | None]]] = [
    ("numbers_in_service", "Numbers in service in the pool.", lambda r: r.in_service),
    ("numbers_in_use", "Numbers with a live or cooling session now.", lambda r: r.in_use),
    ("delta", "Most live sessions of one party now (Δ).", lambda r: r.delta_now),
    ("delta_peak", "Most live sessions of one party over the planning window.", lambda r: r.delta_peak),
    (
        "delta_held_peak",
        "Most live sessions plus per-party cool-off holds of one party over the window (Δ_held).",
        lambda r: r.held_peak,
    ),
    (
        "numbers_needed",
        "Numbers the production allocation policy needed over the window (K*).",
        lambda r: r.needed,
    ),
    ("numbers_rule", "Numbers the 2Δ_held−1 rule asks for.", lambda r: r.rule),
    ("headroom", "Numbers in service less the numbers needed.", lambda r: r.headroom),
]


class PoolCollector(Collector):
    def __init__(self) -> None:
        self.rows: Sequence[PlanRow] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, text, figure in _POOL_GAUGES:
            family = GaugeMetricFamily(f"maskline_pool_{name}", text, labels=["pool", "country"])
            for row in self.rows:
                value = figure(row)
                if value is not None:
                    family.add_metric([row.pool, row.country], value)
            yield family


class Metrics:
    def __init__(self, planner: Callable[[], CapacityPlanner], token: str) -> None:
        self._planner = planner
        self._token = token
        self.registry = CollectorRegistry(auto_describe=False)
        self._pools = PoolCollector()
        self.registry.register(self._pools)

    def _allowed(self, request: Request) -> bool:
        if self._token:
            sent = request.headers.get("authorization", "")
            return hmac.compare_digest(sent.encode(), f"Bearer {self._token}".encode())
        return request.client is not None and request.client.host in LOOPBACK

    async def endpoint(self, request: Request) -> Response:
        if not self._allowed(request):
            return PlainTextResponse("metrics need the operator's token\n", status_code=403)
        self._pools.rows = await self._planner().current()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
