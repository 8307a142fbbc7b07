"""The message webhooks' wire: answers as the carriers' own XML builders write them, text
escaped; Plivo's V2 message signature as the plivo package makes and checks it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from plivo import plivoxml
from plivo.utils import validate_signature
from twilio.twiml.messaging_response import MessagingResponse

from maskline.domain.calls import CarrierKind
from maskline.domain.messages import Send
from maskline.telephony.signatures import plivo_message_nonce, plivo_sign, plivo_v2_signature
from maskline.telephony.xml import message

V, A, B = "+16285550100", "+14155550001", "+14155550002"
NASTY = 'Fish & chips <at> "5" o\'clock ]]> \u00e9\U0001f600'


def tree(document: str) -> ET.Element:
    return ET.fromstring(document.encode())


def same(ours: str, theirs: str) -> None:
    def shape(e: ET.Element) -> object:
        return (e.tag, e.attrib, (e.text or "").strip() or None, [shape(c) for c in e])

    assert shape(tree(ours)) == shape(tree(theirs))


def test_plivo_message_xml_is_what_the_plivo_builder_writes() -> None:
    ours = message(CarrierKind.PLIVO, Send(V, B, NASTY))
    theirs = plivoxml.ResponseElement().add(plivoxml.MessageElement(NASTY, src=V, dst=B, type="sms"))
    same(ours, theirs.to_string(pretty=False))
    assert tree(ours).findtext("Message") == NASTY


def test_twiml_message_is_what_the_twilio_builder_writes() -> None:
    ours = message(CarrierKind.TWILIO, Send(V, B, NASTY))
    theirs = MessagingResponse()
    theirs.message(NASTY, to=B, from_=V)
    same(ours, str(theirs))


def test_twiml_media_goes_in_media_elements_beside_the_body() -> None:
    media = ("https://api.twilio.com/m/1?a=1&b=2", "https://api.twilio.com/m/2")
    ours = message(CarrierKind.TWILIO, Send(V, B, NASTY, media))
    theirs = MessagingResponse()
    element = theirs.message(to=B, from_=V)
    element.body(NASTY)
    for url in media:
        element.media(url)
    same(ours, str(theirs))
    only_media = tree(message(CarrierKind.TWILIO, Send(V, B, "", media[:1])))
    assert only_media.find("Message/Body") is None and only_media.findtext("Message/Media") == media[0]


def test_no_send_is_an_empty_response() -> None:
    for kind in (CarrierKind.PLIVO, CarrierKind.TWILIO):
        root = tree(message(kind, None))
        assert root.tag == "Response" and list(root) == []


def test_characters_xml_cannot_carry_are_replaced_not_sent_raw() -> None:
    for kind in (CarrierKind.PLIVO, CarrierKind.TWILIO):
        document = message(kind, Send(V, B, "a\x00b\x1bc\tline\nend\ufffe"))
        assert tree(document).findtext("Message") == "a\ufffdb\ufffdc\tline\nend\ufffd"


URL = "https://mask.example/webhooks/plivo/MA0000000000000000AA/message"


def test_our_v2_signature_is_plivos() -> None:
    signature = plivo_v2_signature(URL + "?x=1", "n0nce", "token")
    assert validate_signature(URL, "n0nce", signature, "token")
    assert not validate_signature(URL, "n0nce", signature, "other")


def v2(url: str, nonce: str, token: str, header: str = "X-Plivo-Signature-V2") -> dict[str, str]:
    # Made as the plivo package makes it, through its own checker: the signature it accepts.
    signature = plivo_v2_signature(url, nonce, token)
    assert validate_signature(url, nonce, signature, token)
    return {header.lower(): signature, "x-plivo-signature-v2-nonce": nonce}


@pytest.mark.parametrize("header", ["X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2"])
def test_a_v2_signed_message_callback_gives_its_nonce(header: str) -> None:
    form = {"From": A, "To": V, "Text": "hi"}
    assert plivo_message_nonce("POST", URL, form, v2(URL, "12345", "token", header), "token") == "12345"


def test_a_wrong_v2_signature_gives_nothing() -> None:
    form = {"From": A, "To": V, "Text": "hi"}
    assert plivo_message_nonce("POST", URL, form, v2(URL, "12345", "other"), "token") is None
    assert plivo_message_nonce("POST", URL + "x", form, v2(URL, "12345", "token"), "token") is None
    headers = v2(URL, "12345", "token")
    assert (
        plivo_message_nonce("POST", URL, form, {**headers, "x-plivo-signature-v2-nonce": "1"}, "token")
        is None
    )
    assert plivo_message_nonce("POST", URL, form, {}, "token") is None
    long = "1" * 65
    assert plivo_message_nonce("POST", URL, form, v2(URL, long, "token"), "token") is None


def test_a_v3_signed_message_callback_gives_its_nonce() -> None:
    form = {"From": A, "To": V, "Text": "hi"}
    headers = {k.lower(): v for k, v in plivo_sign("POST", URL, form, "token").items()}
    assert plivo_message_nonce("POST", URL, form, headers, "token") == headers["x-plivo-signature-v3-nonce"]
    assert plivo_message_nonce("POST", URL, {**form, "Text": "changed"}, headers, "token") is None
