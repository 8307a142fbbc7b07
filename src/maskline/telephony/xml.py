"""Routing decisions rendered as Plivo XML or TwiML, through an XML builder (values escaped)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode

from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.messages import Send
from maskline.domain.routing import Bridge, Decision, Play, PromptPin, Reject

APOLOGY = "Sorry, this call cannot be connected."
MAX_PIN_DIGITS = 15


@dataclass(frozen=True, slots=True)
class Urls:
    """The URLs handed to the carrier for one call; all under the account's webhook base."""

    base: str
    call_id: str

    def of(self, action: str, **query: object) -> str:
        return f"{self.base}/{action}?{urlencode({'call': self.call_id, **query})}"


# What to set at each carrier's console (docs/deploy.md): each setting's name and the webhook
# action its URL ends with; method POST.
CARRIER_SETTINGS: dict[CarrierKind, tuple[tuple[str, str], ...]] = {
    CarrierKind.PLIVO: (("answer_url", "answer"), ("hangup_url", "hangup"), ("message_url", "message")),
    CarrierKind.TWILIO: (("voice_url", "voice"), ("status_callback", "status"), ("sms_url", "sms")),
}


def webhook_urls(carrier: Carrier) -> dict[str, str]:
    """The URLs to configure at the carrier (README, "Calls")."""
    base = carrier.webhook_base()
    return {name: f"{base}/{action}" for name, action in CARRIER_SETTINGS.get(carrier.kind, ())}


def _document(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def _child(parent: ET.Element, tag: str, text: str | None = None, /, **attributes: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: str(v) for k, v in attributes.items()})
    if text is not None:
        element.text = text
    return element


def render(kind: CarrierKind, decision: Decision, urls: Urls) -> str:
    root = ET.Element("Response")
    if isinstance(decision, Bridge):
        _bridge(kind, root, decision, urls)
    elif isinstance(decision, PromptPin):
        _prompt(kind, root, decision, urls)
    elif isinstance(decision, Play):
        if decision.url:
            _child(root, "Play", decision.url)
        _child(root, "Hangup")
    elif isinstance(decision, Reject):
        _child(root, "Hangup" if kind is CarrierKind.PLIVO else "Reject", reason=decision.reason)
    return _document(root)


HANG_UP = Play("")


def empty() -> str:
    """An answer that asks nothing of the carrier (status callbacks)."""
    return _document(ET.Element("Response"))


def apology(kind: CarrierKind) -> str:
    """What a webhook answers when something went wrong inside: never silence, never a 500."""
    root = ET.Element("Response")
    _child(root, "Speak" if kind is CarrierKind.PLIVO else "Say", APOLOGY)
    _child(root, "Hangup")
    return _document(root)


# What XML 1.0 cannot carry at all, escaped or not: C0 controls but tab, LF and CR, lone
# surrogates, U+FFFE and U+FFFF. A text holding one is sent with U+FFFD in its place.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def message(kind: CarrierKind, send: Send | None) -> str:
    """A message webhook's answer: Plivo Message XML or messaging TwiML sending ``send``, or
    an empty ``<Response/>``. Plivo's XML sends text alone: media goes with Twilio only."""
    root = ET.Element("Response")
    if send is not None:
        text = _xml_text(send.text)
        report: dict[str, object] = {}
        if kind is CarrierKind.PLIVO:
            if send.status_url:
                report = {"callbackUrl": send.status_url, "callbackMethod": "POST"}
            _child(root, "Message", text, src=send.source, dst=send.to, type="sms", **report)
            return _document(root)
        if send.status_url:  # Twilio's action (its statusCallback is the deprecated spelling)
            report = {"action": send.status_url, "method": "POST"}
        if send.media:
            element = _child(root, "Message", to=send.to, **{"from": send.source}, **report)
            if text:
                _child(element, "Body", text)
            for url in send.media:
                _child(element, "Media", url)
        else:
            _child(root, "Message", text, to=send.to, **{"from": send.source}, **report)
    return _document(root)


def callee_prompt(url: str) -> str:
    """The XML played to the dialled party when they answer (Plivo confirmSound, Twilio whisper)."""
    root = ET.Element("Response")
    if url:
        _child(root, "Play", url)
    return _document(root)


def _bridge(kind: CarrierKind, root: ET.Element, decision: Bridge, urls: Urls) -> None:
    session = decision.session
    s = session.settings
    if decision.caller_play:
        _child(root, "Play", decision.caller_play)
    dial_status = urls.of("dial-status")
    prompt_party = "second" if decision.caller_is_first else "first"
    prompt = None
    if decision.callee_play:
        prompt = urls.of("callee-prompt", session=session.uuid, party=prompt_party)
    dial_attributes: dict[str, object] = {
        "callerId": session.virtual_number,
        "timeLimit": s.call_time_limit,
        "timeout": s.ring_timeout,
        "action": dial_status,
    }
    if kind is CarrierKind.PLIVO:
        if s.record:
            _child(
                root,
                "Record",
                startOnDialAnswer="true",
                redirect="false",
                fileFormat=s.record_file_format,
                maxLength=s.call_time_limit,
                callbackUrl=urls.of("recording"),
            )
        dial_attributes.update(callbackUrl=dial_status, redirect="false")
        if prompt:
            dial_attributes["confirmSound"] = prompt
        dial = _child(root, "Dial", **dial_attributes)
        _child(dial, "Number", decision.to)
        return
    if s.record:
        dial_attributes.update(record="record-from-answer-dual", recordingStatusCallback=urls.of("recording"))
    dial = _child(root, "Dial", **dial_attributes)
    number_attributes: dict[str, object] = {
        "statusCallback": dial_status,
        "statusCallbackEvent": "initiated ringing answered completed",
    }
    if prompt:
        number_attributes["url"] = prompt
    _child(dial, "Number", decision.to, **number_attributes)


def _prompt(kind: CarrierKind, root: ET.Element, decision: PromptPin, urls: Urls) -> None:
    s = decision.session.settings
    if decision.after_wrong:
        if s.incorrect_pin_play:
            _child(root, "Play", s.incorrect_pin_play)
        _child(root, "Wait" if kind is CarrierKind.PLIVO else "Pause", length=s.pin_retry_wait or 5)
    action = urls.of("pin", attempt=decision.attempt)
    if kind is CarrierKind.PLIVO:
        gather = _child(
            root,
            "GetDigits",
            action=action,
            method="POST",
            numDigits=MAX_PIN_DIGITS,
            finishOnKey="#",
            timeout=10,
            digitTimeout=3,
            retries=1,
        )
    else:
        gather = _child(
            root,
            "Gather",
            input="dtmf",
            action=action,
            method="POST",
            numDigits=MAX_PIN_DIGITS,
            finishOnKey="#",
            timeout=10,
        )
    _child(gather, "Play", s.pin_prompt_play or "")
    _child(root, "Hangup")
