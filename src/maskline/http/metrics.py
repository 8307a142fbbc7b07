"""``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

``/metrics`` serves the counters of ``maskline.telemetry`` (added up over the server's processes
when there are several), live sessions and the event backlog, every pool's capacity plan, and
the numbers number health flags (a series per number for the flagged ones only: the others would
make a series per number in service). It is only for the operator: with
``MASKLINE_METRICS_TOKEN`` set, a scrape must send it as a bearer token; without it, only clients
on the loopback interface are answered. ``/healthz`` says the
process answers; ``/readyz`` that it can reach its database.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from maskline import version
from maskline.domain import errors
from maskline.domain.health import NumberHealth
from maskline.domain.ports import Clock, Store, StoreUnavailable
from maskline.http.render import Health
from maskline.http.wire import LOOPBACK, trusted
from maskline.service.capacity import CapacityPlanner
from maskline.service.health import HealthMonitor
from maskline.sim.plan import PlanRow

log = logging.getLogger("maskline")


def _health(health: Health, status: int = 200) -> Response:
    return Response(msgspec.json.encode(health), status, media_type="application/json")


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


class HealthCollector(Collector):
    """Per pool, how many of its numbers are flagged; per flagged number, its answer rate."""

    def __init__(self) -> None:
        self.judged: Sequence[NumberHealth] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pools = GaugeMetricFamily(
            "maskline_health_flagged_numbers",
            "Numbers of the pool that answer significantly worse than the rest of it (number health).",
            labels=["pool", "country"],
        )
        flagged = GaugeMetricFamily(
            "maskline_health_number_flagged",
            "1 for each number flagged by number health (flagged numbers only).",
            labels=["pool", "country", "number"],
        )
        answered = GaugeMetricFamily(
            "maskline_health_number_answer_rate",
            "Share of a flagged number's dialled calls that were answered, over the health window.",
            labels=["pool", "country", "number"],
        )
        counts: dict[tuple[str, str], int] = {}
        for health in self.judged:
            c = health.calls
            counts[c.pool, c.country] = counts.get((c.pool, c.country), 0) + health.flagged
            if health.flagged:
                flagged.add_metric([c.pool, c.country, c.number], 1)
                answered.add_metric([c.pool, c.country, c.number], c.answer_rate or 0.0)
        for (pool, country), n in counts.items():
            pools.add_metric([pool, country], n)
        yield from (pools, flagged, answered)


class Gauges(Collector):
    """Figures read from the database at each scrape."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (text, value) in self.values.items():
            yield GaugeMetricFamily(name, text, value=value)


class Counted(Collector):
    """The counters of this process, or of every process of the server."""

    def __init__(self) -> None:
        self._source: Iterable[Metric] | None = None
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            shared = CollectorRegistry()
            MultiProcessCollector(shared)  # type: ignore[no-untyped-call]  # registers itself
            self._shared: CollectorRegistry | None = shared
        else:
            self._shared = None

    def collect(self) -> Iterator[Metric]:
        yield from (self._shared or REGISTRY).collect()


class Metrics:
    def __init__(
        self, services: Callable[[], tuple[Store, CapacityPlanner, HealthMonitor, Clock]], token: str
    ) -> None:
        self._services = services
        self._token = token
        self.registry = CollectorRegistry(auto_describe=False)
        self._pools = PoolCollector()
        self._gauges = Gauges()
        self._health = HealthCollector()
        for collector in (Counted(), self._gauges, self._pools, self._health):
            self.registry.register(collector)

    def _allowed(self, request: Request) -> bool:
        expected = f"Bearer {self._token}" if self._token else ""
        return trusted(request, request.headers.get("authorization", ""), expected, LOOPBACK)

    async def endpoint(self, request: Request) -> Response:
        if not self._allowed(request):
            refused = errors.MetricsForbidden()
            return PlainTextResponse(refused.message, status_code=refused.status)
        store, planner, health, clock = self._services()
        live, backlog = await store.vital_signs(int(clock()))
        self._gauges.values = {
            "maskline_sessions_live": ("Masking sessions live now.", live),
            "maskline_events_backlog": ("Session events waiting to be delivered.", backlog),
        }
        self._pools.rows = await planner.current()
        self._health.judged = await health.current()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, request: Request) -> Response:
        return _health(Health(status="ok", version=version()))

    async def readyz(self, request: Request) -> Response:
        try:
            store, _, _, _ = self._services()
            await store.ping()
        except StoreUnavailable:  # the outage's own log lines say so
            return _health(Health(status="unavailable"), 503)
        except Exception as error:  # not started, or the database failed otherwise
            log.warning("not ready: %s", error)
            return _health(Health(status="unavailable"), 503)
        return _health(Health(status="ok"))
