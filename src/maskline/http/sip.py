"""The routing endpoints a SIP proxy (Kamailio, see ``sip/``) calls: ``/sip/route`` for each new
INVITE, ``/sip/event`` when the callee answers and when the call ends (with ``status``, the
final SIP status of an INVITE to the callee that failed).

``/sip/route`` takes ``from``, ``to`` and ``callid`` (query string, or a JSON body on POST) and
answers 200 with ``{"action": "bridge", "dest", "caller_id", "time_limit", "ring_timeout"}`` or
``{"action": "reject", "code", "reason"}``; any other status means the service cannot decide, and
the proxy answers 503. Only the proxy may ask: with ``MASKLINE_SIP_SECRET`` set, requests must
carry it in ``X-Maskline-Secret``; otherwise they must come from ``MASKLINE_SIP_ALLOW``
(loopback by default).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from maskline import telemetry
from maskline.bodies import JSON_ERRORS
from maskline.domain import errors
from maskline.domain.call_transitions import LegProgress
from maskline.domain.calls import usable_call_id
from maskline.domain.ports import StoreUnavailable
from maskline.domain.routing import NO_SESSION, Bridge, Decision, Reject
from maskline.http.wire import JsonReply, error_reply, trusted
from maskline.service.calls import CallService

log = logging.getLogger("maskline.sip")
_encode = msgspec.json.Encoder().encode
EVENTS = {"answered": LegProgress.ANSWERED, "ended": LegProgress.ENDED}
SIP_FAILURE = re.compile(r"[3-6][0-9][0-9]")  # a final status that is not a success


def _json(body: dict[str, object], status: int = 200) -> Response:
    return JsonReply(_encode(body), status)


class SipEndpoints:
    def __init__(
        self, calls: Callable[[], CallService], trunk: str, secret: str, allow: Sequence[str]
    ) -> None:
        self._calls = calls
        self._trunk = trunk  # host[:port] the proxy sends bridged calls to
        self._secret = secret
        self._allow = [ipaddress.ip_network(net, strict=False) for net in allow]

    def _allowed(self, request: Request) -> bool:
        return trusted(request, request.headers.get("x-maskline-secret", ""), self._secret, self._allow)

    async def _params(self, request: Request) -> dict[str, str]:
        """The request's fields; one holding a NUL (which no id or number has) counts as absent."""
        if request.method == "GET":
            fields = dict(request.query_params)
        else:
            try:
                body = msgspec.json.decode(await request.body())
            except JSON_ERRORS:
                body = {}
            fields = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        return {k: v for k, v in fields.items() if "\x00" not in v}

    async def route(self, request: Request) -> Response:
        if not self._allowed(request):
            return error_reply(errors.ProxyOnly())
        params = await self._params(request)
        call_id = params.get("callid", "")
        try:
            decision: Decision = Reject(NO_SESSION)  # a call with no usable id cannot be recorded
            if usable_call_id(call_id):
                decision = await self._calls().sip_answer(
                    call_id, params.get("from", ""), params.get("to", "")
                )
        except StoreUnavailable as error:
            telemetry.OUTAGE.refused(error)
            return error_reply(errors.CannotRoute())
        except Exception:
            log.exception("SIP routing failed")
            return error_reply(errors.CannotRoute())
        if isinstance(decision, Bridge):
            settings = decision.session.settings
            return _json(
                {
                    "action": "bridge",
                    "dest": f"sip:{decision.to}@{self._trunk}",
                    "caller_id": decision.session.virtual_number,
                    "time_limit": settings.call_time_limit,
                    "ring_timeout": settings.ring_timeout,
                }
            )
        assert isinstance(decision, Reject)
        return _json({"action": "reject", "code": decision.sip_code, "reason": decision.reason})

    async def event(self, request: Request) -> Response:
        if not self._allowed(request):
            return error_reply(errors.ProxyOnly())
        params = await self._params(request)
        status = EVENTS.get(params.get("event", ""))
        if status is None or not usable_call_id(params.get("callid", "")):
            return error_reply(errors.BadSipEvent())
        # The final SIP status of an INVITE to the callee that failed (486, 408, 487, ...).
        final = params.get("status", "")
        cause = final if status is LegProgress.ENDED and SIP_FAILURE.fullmatch(final) else ""
        try:
            await self._calls().sip_progress(params["callid"], params.get("to", ""), status, cause)
        except StoreUnavailable:
            raise  # the application's handler answers it
        except Exception:
            log.exception("SIP event failed")
            return error_reply(errors.InternalError())
        return _json({"ok": True})
