"""Placing outbound calls (request-a-call: docs/calls.md, "Request-a-call") and sending
messages (docs/api.md, "Send a message") through the carrier's REST API."""

from __future__ import annotations

import asyncio

import plivo
import plivo.rest.client
import twilio.rest

from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.phone import digits

_PLIVO_BASES = (
    "API_VOICE_BASE_URI", "API_VOICE_BASE_URI_FALLBACK_1", "API_VOICE_BASE_URI_FALLBACK_2",
    "PLIVO_API_BASE_URI",  # messages
)  # fmt: skip


class CarrierDialer:
    """Calls and messages through the plivo and twilio packages, in a worker thread (they block).

    ``plivo_api_url`` / ``twilio_api_url`` replace the carriers' API addresses (a regional
    endpoint, or a stand-in in tests). The plivo package reads its address from module
    constants, so setting one applies to the whole process.
    """

    def __init__(self, plivo_api_url: str = "", twilio_api_url: str = "") -> None:
        self._twilio_api_url = twilio_api_url
        if plivo_api_url:
            for name in _PLIVO_BASES:
                setattr(plivo.rest.client, name, plivo_api_url)

    async def call(self, carrier: Carrier, to: str, caller_id: str, answer_url: str, hangup_url: str) -> str:
        """Place a call to ``to`` showing ``caller_id``; the carrier's id of the new call."""
        return await asyncio.to_thread(self._call, carrier, to, caller_id, answer_url, hangup_url)

    def _call(self, carrier: Carrier, to: str, caller_id: str, answer_url: str, hangup_url: str) -> str:
        if carrier.kind is CarrierKind.PLIVO:
            client = plivo.RestClient(carrier.carrier_auth_id, carrier.auth_token)
            response = client.calls.create(
                from_=digits(caller_id), to_=digits(to), answer_url=answer_url, answer_method="POST",
                hangup_url=hangup_url, hangup_method="POST",
            )  # fmt: skip
            return str(response.request_uuid)
        client = twilio.rest.Client(carrier.carrier_auth_id, carrier.auth_token)
        if self._twilio_api_url:
            client.api.base_url = self._twilio_api_url
        call = client.calls.create(
            to=to, from_=caller_id, url=answer_url, method="POST", status_callback=hangup_url,
            status_callback_method="POST",
        )  # fmt: skip
        return str(call.sid)

    async def send_message(self, carrier: Carrier, to: str, source: str, text: str, status_url: str) -> str:
        """Send ``text`` to ``to`` from ``source``, delivery reported to ``status_url``; the
        carrier's id of the new message."""
        return await asyncio.to_thread(self._send_message, carrier, to, source, text, status_url)

    def _send_message(self, carrier: Carrier, to: str, source: str, text: str, status_url: str) -> str:
        if carrier.kind is CarrierKind.PLIVO:
            client = plivo.RestClient(carrier.carrier_auth_id, carrier.auth_token)
            response = client.messages.create(
                src=digits(source), dst=digits(to), text=text, url=status_url, method="POST"
            )
            return str(response.message_uuid[0])
        client = twilio.rest.Client(carrier.carrier_auth_id, carrier.auth_token)
        if self._twilio_api_url:
            client.api.base_url = self._twilio_api_url
        message = client.messages.create(from_=source, to=to, body=text, status_callback=status_url)
        return str(message.sid)
