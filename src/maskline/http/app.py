"""The ASGI application factory: routes, path normalisation, lifespan (store, sweeper)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from maskline.config import Config
from maskline.domain import errors
from maskline.domain.ports import Clock, Store
from maskline.http.numbers import NumberEndpoints
from maskline.http.sessions import SessionEndpoints
from maskline.http.wire import error_reply, resource
from maskline.service.accounts import Authenticator
from maskline.service.numbers import NumberService
from maskline.service.sessions import SessionService
from maskline.store.open import open_store

log = logging.getLogger("maskline")
_SLASHES = re.compile(r"/{2,}")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class NormalisePath:
    """Collapse runs of ``/`` and drop a trailing one before routing (contract §2.4); never
    redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path.endswith("/") or "//" in path:
                if "//" in path:
                    path = _SLASHES.sub("/", path)
                path = path.rstrip("/") or "/"
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


@dataclass
class Services:
    store: Store
    authenticator: Authenticator
    sessions: SessionService
    numbers: NumberService


async def _sweep_forever(service: SessionService, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await service.sweep()
        except Exception:
            log.exception("sweep failed")


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
        opened = store or await open_store(config.database_url)
        session_service = SessionService(opened, clock, config)
        holder["services"] = Services(
            opened, Authenticator(opened), session_service, NumberService(opened, clock)
        )
        sweeper = asyncio.create_task(_sweep_forever(session_service, config.sweep_interval))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if store is None:
                await opened.close()

    authenticator = lambda: services().authenticator  # noqa: E731
    sessions = SessionEndpoints(lambda: services().sessions, config.max_body_bytes)
    numbers = NumberEndpoints(lambda: services().numbers, config.max_body_bytes)
    base = "/v1/Account/{auth_id}/Masking"

    async def not_found(request: Request) -> Response:
        return error_reply(errors.resource_not_found())

    routes = [
        Route(
            f"{base}/Session",
            resource(authenticator, {"POST": sessions.create, "GET": sessions.list}),
            methods=ALL_METHODS,
        ),
        Route(
            f"{base}/Session/{{session_uuid}}",
            resource(
                authenticator,
                {"GET": sessions.get, "POST": sessions.update, "DELETE": sessions.expire},
            ),
            methods=ALL_METHODS,
        ),
        Route(
            f"{base}/Number",
            resource(authenticator, {"POST": numbers.add, "GET": numbers.list}),
            methods=ALL_METHODS,
        ),
        Route(
            f"{base}/Number/{{number}}",
            resource(authenticator, {"GET": numbers.get, "DELETE": numbers.retire}),
            methods=ALL_METHODS,
        ),
        Route("/{path:path}", not_found, methods=ALL_METHODS),
    ]
    return NormalisePath(Starlette(routes=routes, lifespan=lifespan))
