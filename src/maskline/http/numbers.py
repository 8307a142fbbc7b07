"""``/v1/Account/{auth_id}/Masking/Number/``: maskline's own resource for the number pool."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from maskline.bodies import decode_body
from maskline.domain import errors
from maskline.domain.listing import ListQuery, page_links, parse_page
from maskline.domain.model import Account
from maskline.http.render import (
    NumberFound,
    NumberPage,
    NumberReplaced,
    NumberRetired,
    NumbersAdded,
    Page,
    PageMeta,
    number_object,
)
from maskline.http.wire import read_body, reply
from maskline.service.numbers import NumberService
from maskline.service.sessions import SessionService


def _text(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.InvalidSubaccount() if name == "subaccount" else errors.InvalidCountry(str(value)[:8])
    return value


class NumberEndpoints:
    def __init__(
        self, service: Callable[[], NumberService], sessions: Callable[[], SessionService], max_body: int
    ) -> None:
        self._service = service
        self._sessions = sessions
        self._max_body = max_body

    async def add(self, request: Request, account: Account) -> Response:
        body = decode_body(await read_body(request, self._max_body))
        numbers = body.get("numbers", body.get("number"))
        if isinstance(numbers, str):
            numbers = [numbers]
        if not isinstance(numbers, list) or not numbers:
            raise errors.Missing("numbers")
        added = await self._service().add(
            account,
            numbers,
            subaccount=_text(body.get("subaccount"), "subaccount"),
            country=_text(body.get("country"), "country"),
        )
        return reply(NumbersAdded(numbers=[number_object(n, account.auth_id) for n in added]), 201)

    async def list(self, request: Request, account: Account) -> Response:
        params = request.query_params
        query = ListQuery()
        parse_page(params, query)
        numbers = await self._service().list(account)
        page = numbers[query.offset : query.offset + query.limit]
        next_link, previous = page_links(
            f"/v1/Account/{account.auth_id}/Masking/Number/", query, len(numbers)
        )
        meta = PageMeta(query.limit, next_link, query.offset, previous, len(numbers))
        return reply(NumberPage(response=Page(meta, [number_object(n, account.auth_id) for n in page])))

    async def get(self, request: Request, account: Account) -> Response:
        number = await self._service().get(account, request.path_params["number"])
        return reply(NumberFound(response=number_object(number, account.auth_id)))

    async def retire(self, request: Request, account: Account) -> Response:
        try:
            await self._service().retire(account, [request.path_params["number"]])
        except errors.NumberNotHeld:  # the API's text for any number the account does not hold
            raise errors.NumberNotFound() from None
        return reply(NumberRetired())

    async def replace(self, request: Request, account: Account) -> Response:
        try:
            (moves,) = await self._service().replace(
                account, [request.path_params["number"]], self._sessions()
            )
        except errors.NumberNotHeld:  # the API's text for any number the account does not hold
            raise errors.NumberNotFound() from None
        return reply(
            NumberReplaced(sessions_moved=len(moves.moved), sessions_not_moved=[s.uuid for s in moves.stuck])
        )
