"""``/webhooks/{plivo|twilio}/{auth_id}/{action}``: parse the form, check the signature first,
call one use case, answer in the carrier's XML dialect (even when something fails inside, or the
database cannot be reached: then the caller hears the apology, and a message gets an empty
answer). Message bodies are relayed, never logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from maskline import telemetry
from maskline.bodies import CLIENT_GONE, read_bounded
from maskline.domain import errors
from maskline.domain.call_transitions import LegProgress
from maskline.domain.calls import WEBHOOK_CARRIERS, Carrier, CarrierKind, usable_call_id
from maskline.domain.messages import MAX_MEDIA
from maskline.domain.model import AUTH_ID, shown_account
from maskline.domain.ports import StoreUnavailable
from maskline.domain.routing import NO_SESSION, Reject
from maskline.service.calls import CallService
from maskline.service.messages import STATUS_ACTION, MessageService
from maskline.telephony import xml
from maskline.telephony.signatures import MAX_NONCE, Params, plivo_message_nonce, plivo_valid, twilio_valid

log = logging.getLogger("maskline.webhooks")
MAX_FORM = 64 * 1024

# Carrier words for the dialled leg's progress.
_PLIVO_DIAL_ACTIONS = {
    "ring": LegProgress.RINGING,
    "answer": LegProgress.ANSWERED,
    "hangup": LegProgress.ENDED,
}
_TWILIO_LEG_STATUSES = {
    "ringing": LegProgress.RINGING,
    "in-progress": LegProgress.ANSWERED,
    "answered": LegProgress.ANSWERED,
    "completed": LegProgress.ENDED,
    "busy": LegProgress.ENDED,
    "no-answer": LegProgress.ENDED,
    "failed": LegProgress.ENDED,
    "canceled": LegProgress.ENDED,
}

# The action of each carrier's inbound message URL (README, "Calls: connecting a carrier").
MESSAGE_ACTIONS = {CarrierKind.PLIVO: "message", CarrierKind.TWILIO: "sms"}


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status, media_type="application/xml")


def _refused(error: errors.MaskingError) -> Response:
    return Response(error.message, error.status, media_type="text/plain")


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


def _text(params: Params | QueryParams, name: str) -> str:
    """A field's value; one holding a NUL (which no id, number or URL has, and which PostgreSQL
    cannot store) counts as absent, on every database alike."""
    value = params.get(name, "")
    value = value[-1] if isinstance(value, list) else value
    return "" if "\x00" in value else value


def _media(form: Params) -> list[str]:
    """Twilio's ``MediaUrl0``… of an MMS, as many as ``NumMedia`` says (at most ``MAX_MEDIA``),
    web addresses only."""
    count = _text(form, "NumMedia")
    listed = int(count) if count.isascii() and count.isdigit() and len(count) < 4 else 0
    urls = (_text(form, f"MediaUrl{index}") for index in range(min(listed, MAX_MEDIA)))
    return [url for url in urls if url.startswith(("https://", "http://"))]


class Webhooks:
    def __init__(self, calls: Callable[[], CallService], messages: Callable[[], MessageService]) -> None:
        self._calls = calls
        self._messages = messages

    async def endpoint(self, request: Request) -> Response:
        try:
            kind = CarrierKind(request.path_params["carrier"])
        except ValueError:
            kind = None
        if kind is None or kind not in WEBHOOK_CARRIERS:
            return _refused(errors.UnknownCarrier())
        # Refused before the signature is checked: bounding what an unsigned request costs.
        try:
            raw = await read_bounded(request, MAX_FORM) if request.method == "POST" else b""
        except ClientDisconnect:  # the body never came (the edge timed it out)
            return Response(status_code=CLIENT_GONE)
        if raw is None:
            return _refused(errors.WebhookBodyTooLarge())
        form = _form(raw)
        service = self._calls()
        auth_id = request.path_params["auth_id"]
        action = request.path_params["action"]
        texting = action == MESSAGE_ACTIONS[kind]
        reporting = action == STATUS_ACTION  # a message's delivery report
        apology = xml.message(kind, None) if texting or reporting else xml.apology(kind)
        try:
            carrier = await service.carrier(auth_id) if AUTH_ID.fullmatch(auth_id) else None
        except StoreUnavailable as error:  # the signature cannot be checked: apologise, do nothing
            telemetry.OUTAGE.refused(error)
            return _xml(apology)
        signed, nonce = False, None
        if carrier is not None and carrier.kind is kind:
            if texting or (reporting and kind is CarrierKind.PLIVO):
                nonce = self._message_nonce(carrier, request, form)
                signed = nonce is not None
            else:
                signed = self._signed(carrier, request, form)
        if carrier is None or not signed:
            telemetry.SIGNATURE_FAILURES.labels(kind.value).inc()
            log.warning("webhook refused: bad signature (%s, account %s)", kind.value, shown_account(auth_id))
            return _refused(errors.BadSignature())
        try:
            if reporting:
                return _xml(await self._report(carrier, nonce, form, request))
            if nonce is not None:
                return _xml(await self._message(carrier, nonce, form))
            return _xml(await self._act(service, carrier, action, form, request))
        except StoreUnavailable as error:
            telemetry.OUTAGE.refused(error)
            return _xml(apology)
        except Exception:
            log.exception("%s webhook of account %s failed", kind.value, shown_account(auth_id))
            return _xml(apology)

    @staticmethod
    def _url(carrier: Carrier, request: Request) -> str:
        """The URL the carrier called and signed: the public one, never the Host header's."""
        url = carrier.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        return url

    def _signed(self, carrier: Carrier, request: Request, form: Params) -> bool:
        url, headers = self._url(carrier, request), request.headers
        if carrier.kind is CarrierKind.PLIVO:
            return plivo_valid(request.method, url, form, headers, carrier.auth_token)
        return twilio_valid(url, form, headers, carrier.auth_token)

    def _message_nonce(self, carrier: Carrier, request: Request, form: Params) -> str | None:
        """A signed message's key for taking it once: Plivo's signature nonce (its V2 signature
        leaves the form out), Twilio's ``MessageSid`` (its signature covers the form); None
        when the signature is wrong, or a Twilio form names no message."""
        url, headers = self._url(carrier, request), request.headers
        if carrier.kind is CarrierKind.PLIVO:
            return plivo_message_nonce(request.method, url, form, headers, carrier.auth_token)
        if not twilio_valid(url, form, headers, carrier.auth_token):
            return None
        sid = _text(form, "MessageSid")
        return sid if 0 < len(sid) <= MAX_NONCE else None

    async def _message(self, carrier: Carrier, once: str, form: Params) -> str:
        """An inbound message: relayed, answered or dropped; taken once per nonce, so that a
        carrier's retry or a replayed signature sends nothing twice."""
        service = self._messages()
        if not await service.first_use(carrier, once):
            log.warning(
                "%s message of account %s taken already",
                carrier.kind.value,
                shown_account(carrier.account_id),
            )
            return xml.message(carrier.kind, None)
        if carrier.kind is CarrierKind.PLIVO:
            text, media = _text(form, "Text"), []
        else:
            text, media = _text(form, "Body"), _media(form)
        message_id = _text(form, "MessageUUID" if carrier.kind is CarrierKind.PLIVO else "MessageSid")
        send = await service.receive(carrier, _text(form, "From"), _text(form, "To"), text, media, message_id)
        return xml.message(carrier.kind, send)

    async def _report(self, carrier: Carrier, nonce: str | None, form: Params, request: Request) -> str:
        """A message's delivery report. Plivo's signature covers neither the form nor the
        query, so its nonce is taken once; Twilio's covers both, and a report repeated changes
        nothing. A relay's report names the relayed text in the query (``message``)."""
        service = self._messages()
        if nonce is not None and not await service.first_use(carrier, nonce):
            return xml.empty()
        plivo = carrier.kind is CarrierKind.PLIVO
        message_id = _text(request.query_params, "message") or _text(
            form, "MessageUUID" if plivo else "MessageSid"
        )
        if plivo:
            status, segments = _text(form, "Status"), _text(form, "Units")
        else:
            status = _text(form, "MessageStatus") or _text(form, "SmsStatus")
            segments = _text(form, "NumSegments")
        await service.report(carrier, message_id, status, segments)
        return xml.empty()

    async def _act(
        self, service: CallService, carrier: Carrier, action: str, form: Params, request: Request
    ) -> str:
        kind = carrier.kind
        plivo = kind is CarrierKind.PLIVO
        query = request.query_params
        call_id = _text(query, "call") or _text(form, "CallUUID" if plivo else "CallSid")
        urls = xml.Urls(carrier.webhook_base(), call_id)
        if action == "callee-prompt":
            url = await service.callee_prompt(carrier, _text(query, "session"), _text(query, "party"))
            return xml.callee_prompt(url)
        if not usable_call_id(call_id):  # nothing to record it under
            return (
                xml.render(kind, Reject(NO_SESSION), urls) if action in ("answer", "voice") else xml.empty()
            )
        if action in ("answer", "voice"):
            placed = _text(query, "session")
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
        return xml.empty()

    @staticmethod
    async def _dial_status(service: CallService, carrier: Carrier, call_id: str, form: Params) -> None:
        if carrier.kind is CarrierKind.PLIVO:
            leg = _text(form, "DialBLegUUID")
            status = _PLIVO_DIAL_ACTIONS.get(_text(form, "DialAction"))
            if status is None and _text(form, "DialStatus"):
                status = LegProgress.ENDED  # the Dial action URL: dialling is over
            cause = _text(form, "DialHangupCause")
        else:
            leg = _text(form, "DialCallSid") or _text(form, "CallSid")
            cause = _text(form, "DialCallStatus") or _text(form, "CallStatus")  # busy, no-answer, ...
            status = _TWILIO_LEG_STATUSES.get(cause)
        if status is not None:
            await service.leg(carrier, call_id, leg, status, cause if status is LegProgress.ENDED else "")
