"""``/webhooks/{plivo|twilio}/{auth_id}/{action}``: parse the form, check the signature first,
call one use case, answer in the carrier's XML dialect (even when something fails inside)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from maskline import telemetry
from maskline.domain.calls import WEBHOOK_CARRIERS, Carrier, CarrierKind
from maskline.domain.model import AUTH_ID
from maskline.edge import CLIENT_GONE, read_bounded
from maskline.service.calls import CallService, LegStatus
from maskline.telephony import xml
from maskline.telephony.signatures import Params, plivo_valid, twilio_valid

log = logging.getLogger("maskline.webhooks")
MAX_FORM = 64 * 1024

# Carrier words for the dialled leg's progress.
_PLIVO_DIAL_ACTIONS = {"ring": LegStatus.RINGING, "answer": LegStatus.ANSWERED, "hangup": LegStatus.ENDED}
_TWILIO_LEG_STATUSES = {
    "ringing": LegStatus.RINGING,
    "in-progress": LegStatus.ANSWERED,
    "answered": LegStatus.ANSWERED,
    "completed": LegStatus.ENDED,
    "busy": LegStatus.ENDED,
    "no-answer": LegStatus.ENDED,
    "failed": LegStatus.ENDED,
    "canceled": LegStatus.ENDED,
}


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status, media_type="application/xml")


def _form(raw: bytes) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {}
    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        previous = form.get(key)
        if previous is None:
            form[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            form[key] = [previous, value]
    return form


def _text(params: Params, name: str) -> str:
    value = params.get(name, "")
    return value[-1] if isinstance(value, list) else value


class Webhooks:
    def __init__(self, calls: Callable[[], CallService]) -> None:
        self._calls = calls

    async def endpoint(self, request: Request) -> Response:
        try:
            kind = CarrierKind(request.path_params["carrier"])
        except ValueError:
            kind = None
        if kind is None or kind not in WEBHOOK_CARRIERS:
            return Response("Not found", 404, media_type="text/plain")
        # Refused before the signature is checked: bounding what an unsigned request costs.
        try:
            raw = await read_bounded(request, MAX_FORM) if request.method == "POST" else b""
        except ClientDisconnect:  # the body never came (the edge timed it out)
            return Response(status_code=CLIENT_GONE)
        if raw is None:
            return Response("Request body too large", 413, media_type="text/plain")
        form = _form(raw)
        service = self._calls()
        auth_id = request.path_params["auth_id"]
        carrier = await service.carrier(auth_id) if AUTH_ID.fullmatch(auth_id) else None
        if carrier is None or carrier.kind is not kind or not self._signed(carrier, request, form):
            telemetry.SIGNATURE_FAILURES.labels(kind.value).inc()
            log.warning("webhook refused: bad signature on %s", request.url.path)
            return Response("Forbidden", 403, media_type="text/plain")
        try:
            return _xml(await self._act(service, carrier, request.path_params["action"], form, request))
        except Exception:
            log.exception("webhook %s failed", request.url.path)
            return _xml(xml.apology(kind))

    @staticmethod
    def _signed(carrier: Carrier, request: Request, form: Params) -> bool:
        url = carrier.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = request.headers
        if carrier.kind is CarrierKind.PLIVO:
            return plivo_valid(request.method, url, form, headers, carrier.auth_token)
        return twilio_valid(url, form, headers, carrier.auth_token)

    async def _act(
        self, service: CallService, carrier: Carrier, action: str, form: Params, request: Request
    ) -> str:
        kind = carrier.kind
        plivo = kind is CarrierKind.PLIVO
        call_id = request.query_params.get("call") or _text(form, "CallUUID" if plivo else "CallSid")
        urls = xml.Urls(carrier.webhook_base(), call_id)
        if action in ("answer", "voice"):
            placed = request.query_params.get("session")
            if placed:  # a call maskline placed to the first party (request-a-call)
                decision = await service.answer_placed(carrier, call_id, placed)
            else:
                decision = await service.answer(carrier, call_id, _text(form, "From"), _text(form, "To"))
            return xml.render(kind, decision, urls)
        if action == "pin":
            return xml.render(kind, await service.pin(carrier, call_id, _text(form, "Digits")), urls)
        if action == "dial-status":
            await self._dial_status(service, carrier, call_id, form)
            if not plivo and _text(form, "DialCallStatus"):
                return xml.render(kind, xml.HANG_UP, urls)  # the Dial is over: end the caller's leg
            return xml.empty()
        if action in ("hangup", "status"):
            if plivo or _text(form, "CallStatus") in ("completed", "busy", "no-answer", "failed", "canceled"):
                await service.hangup(carrier, call_id)
            return xml.empty()
        if action == "recording":
            url = _text(form, "RecordUrl" if plivo else "RecordingUrl")
            recording_id = _text(form, "RecordingID" if plivo else "RecordingSid")
            await service.recording(carrier, call_id, url, recording_id, _text(form, "RecordingDuration"))
            return xml.empty()
        if action == "callee-prompt":
            query = request.query_params
            url = await service.callee_prompt(carrier, query.get("session", ""), query.get("party", ""))
            return xml.callee_prompt(url)
        return xml.empty()

    @staticmethod
    async def _dial_status(service: CallService, carrier: Carrier, call_id: str, form: Params) -> None:
        if carrier.kind is CarrierKind.PLIVO:
            leg = _text(form, "DialBLegUUID")
            status = _PLIVO_DIAL_ACTIONS.get(_text(form, "DialAction"))
            if status is None and _text(form, "DialStatus"):
                status = LegStatus.ENDED  # the Dial action URL: dialling is over
        else:
            leg = _text(form, "DialCallSid") or _text(form, "CallSid")
            status = _TWILIO_LEG_STATUSES.get(_text(form, "DialCallStatus") or _text(form, "CallStatus"))
        if status is not None:
            await service.leg(carrier, call_id, leg, status)
