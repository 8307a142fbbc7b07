"""``/v1/Account/{auth_id}/Masking/Session/``: the five session operations."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from maskline.bodies import decode_body
from maskline.domain.listing import page_links
from maskline.domain.model import Account
from maskline.http.render import (
    Page,
    PageMeta,
    SessionCreated,
    SessionExpired,
    SessionFound,
    SessionPage,
    SessionUpdated,
    list_object,
    session_object,
)
from maskline.http.wire import read_body, reply
from maskline.service.sessions import SessionService


class SessionEndpoints:
    def __init__(self, service: Callable[[], SessionService], max_body: int) -> None:
        self._service = service
        self._max_body = max_body

    async def create(self, request: Request, account: Account) -> Response:
        body = decode_body(await read_body(request, self._max_body))
        service = self._service()
        session = await service.create(account, body)
        created = SessionCreated(
            session_uuid=session.uuid,
            virtual_number=session.virtual_number,
            session=session_object(session, service.now()),
        )
        return reply(created, 201)

    async def list(self, request: Request, account: Account) -> Response:
        page = await self._service().list(account, request.query_params)
        base = f"/v1/Account/{account.auth_id}/Masking/Session/"
        next_link, previous = page_links(base, page.query, page.total)
        meta = PageMeta(page.query.limit, next_link, page.query.offset, previous, page.total)
        objects = [list_object(s, page.now, account.auth_id) for s in page.sessions]
        return reply(SessionPage(response=Page(meta, objects)))

    async def get(self, request: Request, account: Account) -> Response:
        service = self._service()
        session = await service.get(account, request.path_params["session_uuid"])
        return reply(SessionFound(response=session_object(session, service.now())))

    async def update(self, request: Request, account: Account) -> Response:
        raw = await read_body(request, self._max_body)
        service = self._service()
        session = await service.update(account, request.path_params["session_uuid"], lambda: decode_body(raw))
        return reply(SessionUpdated(session=session_object(session, service.now())))

    async def expire(self, request: Request, account: Account) -> Response:
        await self._service().expire(account, request.path_params["session_uuid"])
        return reply(SessionExpired())
