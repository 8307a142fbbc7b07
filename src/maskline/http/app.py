"""The ASGI application factory: routes, path normalisation, lifespan (store, sweeper)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from maskline import telemetry
from maskline.config import Config
from maskline.domain import errors
from maskline.domain.console import Lifetimes
from maskline.domain.messages import Replies
from maskline.domain.ports import Clock, Store, StoreUnavailable
from maskline.domain.ratelimit import Limiter
from maskline.http.console import pages as console_pages
from maskline.http.console.handlers import console_handlers
from maskline.http.forwarded import ClientAddress
from maskline.http.messages import MessageEndpoints
from maskline.http.metrics import Metrics
from maskline.http.numbers import NumberEndpoints
from maskline.http.observe import Observed
from maskline.http.openapi import OpenApi
from maskline.http.routes import TABLE, RouteTable
from maskline.http.sessions import SessionEndpoints
from maskline.http.sip import SipEndpoints
from maskline.http.wire import ROUTE, Endpoint, RateLimits, error_reply, resource, unavailable
from maskline.service.accounts import Authenticator
from maskline.service.calls import CallService
from maskline.service.capacity import CapacityPlanner
from maskline.service.console_auth import ConsoleAuth
from maskline.service.events import EventDeliverer
from maskline.service.health import HealthMonitor, replace_unhealthy
from maskline.service.messages import MessageService
from maskline.service.numbers import NumberService
from maskline.service.pool_status import PoolFigures
from maskline.service.sessions import SessionConfig, SessionService
from maskline.service.timeline import Timelines
from maskline.store.open import open_store
from maskline.telephony.callbacks import HttpCallbacks
from maskline.telephony.dialer import CarrierDialer
from maskline.telephony.webhooks import Webhooks

log = logging.getLogger("maskline")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ApiFront:
    """The front of the application.

    It normalises the path (docs/api.md, "Paths and slashes"; never a redirect), then hands the
    Masking API straight to its endpoints, which do their own error handling; the rest
    (lifespan, the other routes, unknown paths) goes to the Starlette application behind it.

    perf: the Masking API skips Starlette's router and middleware stack, which a get would
    otherwise pass through (docs/benchmarks.md, "Where the Session API's time goes").
    """

    def __init__(self, app: ASGIApp, table: RouteTable, endpoints: dict[str, Endpoint]) -> None:
        self.app = app
        self.table = table
        self.endpoints = endpoints  # by route template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = original = scope["path"]
            path = self.table.normalise(path)
            found = self.table.api(path)
            if found is not None:
                route, params = found
                scope[ROUTE] = (route.path, params["auth_id"])  # for Observed
                scope = {**scope, "path_params": params}
                if path != original:
                    scope["path"], scope["raw_path"] = path, path.encode()
                response = await self.endpoints[route.path](Request(scope, receive))
                await response(scope, receive, send)
                return
            if path != original:
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


@dataclass
class Services:
    store: Store
    authenticator: Authenticator
    sessions: SessionService
    numbers: NumberService
    calls: CallService
    messages: MessageService
    planner: CapacityPlanner
    health: HealthMonitor
    console: ConsoleAuth
    timeline: Timelines
    pools: PoolFigures


async def _every(interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Background work (the sweep, event delivery), again and again, one run at a time, each
    ``interval`` after the last ended; a failure is logged, and while the database cannot be
    reached, counted in the outage's log line instead. Event delivery's run only starts the
    sending, so a receiver that hangs does not hold the loop up."""
    while True:
        await asyncio.sleep(interval)
        try:
            await work()
        except StoreUnavailable as error:
            telemetry.OUTAGE.skipped(error)
        except Exception:
            log.exception("background work failed")
        else:
            telemetry.OUTAGE.reachable()


def session_config(config: Config) -> SessionConfig:
    """What of the server's settings the session service follows."""
    return SessionConfig(
        defaults=config.defaults,
        windows=config.windows,
        policy=config.policy,
        cooloff_scope=config.cooloff_scope,
        allow_private_callbacks=config.allow_private_callbacks,
        retention_days=config.retention_days,
    )


def worker_app() -> ASGIApp:
    """The app of one of several server processes: settings from the environment, JSON logs."""
    from maskline.telemetry import configure_logging

    configure_logging()
    return create_app()


def create_app(
    config: Config | None = None, clock: Clock | None = None, store: Store | None = None
) -> ASGIApp:
    """The API. The store is opened (or the given one taken) when the server starts."""
    config = config or Config.from_env()
    clock = clock or time.time
    holder: dict[str, Services] = {}

    def services() -> Services:
        return holder["services"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store or await open_store(
            config.database_url, config.db_pool_size, config.db_timeout, config.sqlite_durable
        )
        counters = telemetry.COUNTERS
        accounts, numbers = opened.accounts, opened.numbers
        dialer = CarrierDialer(config.plivo_api_url, config.twilio_api_url)
        calls = CallService(opened.calls, opened.sessions, numbers, accounts, clock, dialer)
        session_service = SessionService(
            opened.sessions, accounts, clock, session_config(config), counters, calls
        )
        planner = CapacityPlanner(
            opened.sessions, numbers, clock, config.policy, counters, config.plan_window, config.plan_refresh
        )
        health = HealthMonitor(opened.calls, clock, counters, config.plan_refresh)
        checker = Authenticator(accounts)
        holder["services"] = Services(
            opened,
            checker,
            session_service,
            NumberService(numbers, accounts, clock),
            calls,
            MessageService(
                opened.messages,
                opened.sessions,
                clock,
                Replies(config.message_help, config.message_unknown_sender_reply),
                accounts,
                dialer,
                config.message_retain_bodies,
            ),
            planner,
            health,
            ConsoleAuth(
                opened.console,
                accounts,
                checker,
                clock,
                Lifetimes(config.console_idle_minutes * 60, config.console_lifetime_hours * 3600),
                config.console_secret,
            ),
            Timelines(opened.sessions, opened.calls, opened.messages, opened.outbox),
            PoolFigures(opened.sessions, numbers, planner, health, clock, counters, config.plan_refresh),
        )
        callbacks = HttpCallbacks(allow_private=config.allow_private_callbacks)
        deliverer = EventDeliverer(opened.outbox, accounts, clock, callbacks, counters)
        workers = [
            asyncio.create_task(_every(config.sweep_interval, session_service.sweep)),
            asyncio.create_task(_every(config.delivery_interval, deliverer.deliver_due)),
            asyncio.create_task(_every(config.sweep_interval, calls.reconcile)),
        ]
        if config.replace_unhealthy_numbers:
            number_service = holder["services"].numbers

            async def replace_flagged() -> None:
                await replace_unhealthy(opened.calls, number_service, session_service, counters, int(clock()))

            workers.append(asyncio.create_task(_every(config.plan_refresh, replace_flagged)))
        try:
            yield
        finally:
            for worker in workers:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await deliverer.close()
            await callbacks.close()
            await holder["services"].pools.close()
            await planner.close()
            await health.close()
            if store is None:
                await opened.close()
            telemetry.OUTAGE.flush()

    authenticator = lambda: services().authenticator  # noqa: E731
    sessions = SessionEndpoints(lambda: services().sessions, config.max_body_bytes)
    messages = MessageEndpoints(lambda: services().messages, config.max_body_bytes)
    numbers = NumberEndpoints(lambda: services().numbers, lambda: services().sessions, config.max_body_bytes)

    async def not_found(request: Request) -> Response:
        if request.url.path.startswith("/console/"):
            return console_pages.not_found()
        return error_reply(errors.ResourceNotFound())

    async def store_unavailable(request: Request, error: Exception) -> Response:
        assert isinstance(error, StoreUnavailable)
        return unavailable(error)

    limits = RateLimits(
        Limiter(config.rate_limit, config.rate_burst or 2 * config.rate_limit) if config.rate_limit else None,
        Limiter(config.auth_failures_per_minute / 60, config.auth_failures_per_minute)
        if config.auth_failures_per_minute
        else None,
    )
    webhooks = Webhooks(lambda: services().calls, lambda: services().messages)
    sip = SipEndpoints(lambda: services().calls, config.sip_trunk, config.sip_secret, config.sip_allow)
    metrics = Metrics(
        lambda: (services().store, services().planner, services().health, clock), config.metrics_token
    )
    # The handler of each operation of the route table, by its operationId.
    handlers: dict[str, Callable[..., Awaitable[Response]]] = {
        "createSession": sessions.create,
        "listSessions": sessions.list,
        "getSession": sessions.get,
        "updateSession": sessions.update,
        "expireSession": sessions.expire,
        "sendMessage": messages.send,
        "addNumbers": numbers.add,
        "listNumbers": numbers.list,
        "getNumber": numbers.get,
        "retireNumber": numbers.retire,
        "replaceNumber": numbers.replace,
        "carrierWebhook": webhooks.endpoint,
        "carrierWebhookGet": webhooks.endpoint,
        "sipRoute": sip.route,
        "sipRoutePost": sip.route,
        "sipEvent": sip.event,
        "healthz": metrics.healthz,
        "readyz": metrics.readyz,
        "metrics": metrics.endpoint,
        "openapi": OpenApi(config).endpoint,
        **console_handlers(services, limits.failures),
    }
    table = TABLE
    operations = {op.operation_id for route in table.routes for op in route.operations}
    assert operations == set(handlers), operations ^ set(handlers)
    endpoints = {
        route.path: resource(
            authenticator, {op.method: handlers[op.operation_id] for op in route.operations}, limits
        )
        for route in table.routes
        if route.api
    }
    served = [
        Route(route.path, handlers[op.operation_id], methods=[op.method])
        for route in table.routes
        if not route.api
        for op in route.operations
    ]
    fallback = Starlette(
        routes=[*served, Route("/{path:path}", not_found, methods=ALL_METHODS)],
        lifespan=lifespan,
        # What the operator's endpoints (metrics, SIP events) answer while the database
        # cannot be reached; the API and the webhooks answer it themselves.
        exception_handlers={StoreUnavailable: store_unavailable},
    )
    app: ASGIApp = Observed(ApiFront(fallback, table, endpoints), table, config.max_in_flight)
    if config.trusted_proxies:
        proxies = [ipaddress.ip_network(net, strict=False) for net in config.trusted_proxies]
        app = ClientAddress(app, proxies, config.proxy_header)
    return app
