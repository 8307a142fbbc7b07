"""``/v1/Account/{auth_id}/Masking/Session/{session_uuid}/Message/``: the business sends a text
into a session (docs/api.md, "Send a message"). The text is never logged."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from maskline.bodies import decode_body
from maskline.domain.model import Account
from maskline.http.render import MessageQueued
from maskline.http.wire import read_body, reply
from maskline.service.messages import MessageService


class MessageEndpoints:
    def __init__(self, service: Callable[[], MessageService], max_body: int) -> None:
        self._service = service
        self._max_body = max_body

    async def send(self, request: Request, account: Account) -> Response:
        body = decode_body(await read_body(request, self._max_body))
        message = await self._service().send(account, request.path_params["session_uuid"], body)
        return reply(MessageQueued(message_uuid=message.message_id), 202)
