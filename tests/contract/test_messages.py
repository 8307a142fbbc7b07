"""Message webhooks: texts relayed through the virtual number, signed as each carrier signs them
and checked with the carriers' own functions, answered in Plivo Message XML or messaging TwiML."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import httpx
import pytest
from plivo.utils import validate_signature
from twilio.request_validator import RequestValidator

from maskline.domain.messages import DEFAULT_HELP, NOT_DELIVERED, OPTED_IN, OPTED_OUT
from maskline.store.schema import metadata
from tests.contract.test_webhooks import TOKEN, Carrier, dial_of, session
from tests.databases import Databases, query
from tests.support import FakeClock, ServerThread, Tenant, fresh_number

_ids = itertools.count(1)


class Texter(Carrier):
    """Plays the carrier for messages: Plivo's V2 signature (URL and nonce, made by the HMAC the
    plivo package checks, and checked with ``plivo.utils.validate_signature`` before sending),
    Twilio's ``X-Twilio-Signature`` from ``RequestValidator``."""

    @property
    def action(self) -> str:
        return "message" if self.kind == "plivo" else "sms"

    def form(self, sender: str, number: str, text: str, media: tuple[str, ...] = ()) -> dict[str, str]:
        if self.kind == "plivo":  # numbers without '+', as Plivo sends them
            form = {
                "From": sender.lstrip("+"),
                "To": number.lstrip("+"),
                "Type": "mms" if media else "sms",
                "Text": text,
                "MessageUUID": f"msg-{next(_ids)}",
            }
            for index, url in enumerate(media):
                form[f"Media{index}"] = url
            return form
        form = {
            "MessageSid": f"SM{next(_ids):032d}",
            "AccountSid": "ACtest",
            "From": sender,
            "To": number,
            "Body": text,
            "NumMedia": str(len(media)),
        }
        for index, url in enumerate(media):
            form[f"MediaUrl{index}"] = url
            form[f"MediaContentType{index}"] = "image/jpeg"
        return form

    def headers(self, url: str, form: dict[str, str], nonce: str | None = None) -> dict[str, str]:
        if self.kind == "plivo":
            nonce = nonce or f"{next(_ids):020d}"
            digest = hmac.new(TOKEN.encode(), (url + nonce).encode(), hashlib.sha256).digest()
            signature = base64.b64encode(digest).decode()
            assert validate_signature(url, nonce, signature, TOKEN)
            return {"X-Plivo-Signature-V2": signature, "X-Plivo-Signature-V2-Nonce": nonce}
        return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}

    def send(self, form: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        url = f"{self.base}/{self.action}"
        signed = self.headers(url, form) if headers is None else headers
        return httpx.post(url, data=form, headers=signed, trust_env=False, timeout=30)

    def text(self, sender: str, number: str, text: str, media: tuple[str, ...] = ()) -> ET.Element:
        reply = self.send(self.form(sender, number, text, media))
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("application/xml")
        return ET.fromstring(reply.text)


def sent(document: ET.Element) -> tuple[str, str, str, list[str]] | None:
    """(to, from, text, media) of the message the answer sends; None for an empty answer."""
    assert document.tag == "Response"
    if not list(document):
        return None
    [message] = list(document)
    assert message.tag == "Message"
    if "dst" in message.attrib:  # Plivo
        assert message.get("type") == "sms"
        return message.get("dst", ""), message.get("src", ""), message.text or "", []
    body = message.find("Body")
    text = (body.text or "") if body is not None else (message.text or "").strip()
    media = [m.text or "" for m in message.findall("Media")]
    return message.get("to", ""), message.get("from", ""), text, media


@pytest.fixture(params=["plivo", "twilio"])
def texter(request: pytest.FixtureRequest, server: ServerThread, tenant: Tenant) -> Texter:
    return Texter(server, tenant, request.param)


def parties(s: dict) -> tuple[str, str, str]:
    return "+" + s["first_party"], "+" + s["second_party"], "+" + s["virtual_number"]


def test_a_text_is_relayed_both_ways_from_the_virtual_number(texter: Texter, http: httpx.Client) -> None:
    a, b, number = parties(session(http))
    text = 'On my way & <5 min> "outside"'
    document = texter.text(a, number, text)
    assert sent(document) == (b, number, text, [])
    assert a.lstrip("+") not in ET.tostring(document, encoding="unicode")  # the sender stays masked
    assert sent(texter.text(b, number, "ok, see you")) == (a, number, "ok, see you", [])


def test_media_is_relayed_by_twilio_and_plivo_relays_the_text(texter: Texter, http: httpx.Client) -> None:
    a, b, number = parties(session(http))
    media = ("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1",)
    if texter.kind == "twilio":
        assert sent(texter.text(a, number, "the door", media)) == (b, number, "the door", list(media))
        assert sent(texter.text(a, number, "", media)) == (b, number, "", list(media))
    else:  # Plivo's Message XML sends text alone
        assert sent(texter.text(a, number, "the door", media)) == (b, number, "the door", [])
        assert sent(texter.text(a, number, "", media)) is None


def test_an_unknown_sender_reaches_nobody_and_hears_nothing(texter: Texter, http: httpx.Client) -> None:
    _, b, number = parties(session(http))
    document = texter.text(fresh_number(), number, "hello?")
    assert sent(document) is None
    assert b.lstrip("+") not in ET.tostring(document, encoding="unicode")


def test_an_expired_session_relays_nothing(texter: Texter, http: httpx.Client) -> None:
    s = session(http)
    a, _, number = parties(s)
    assert http.delete(f"/Session/{s['session_uuid']}/").status_code == 200
    assert sent(texter.text(a, number, "still there?")) is None


def test_a_single_party_session_takes_any_sender_and_replies_go_to_the_last(
    texter: Texter, http: httpx.Client
) -> None:
    party = fresh_number()
    reply = http.post("/Session/", json={"second_party": party, "create_session_with_single_party": True})
    number = "+" + reply.json()["session"]["virtual_number"]
    assert sent(texter.text(party, number, "anyone?")) is None  # nobody wrote yet
    customer, other = fresh_number(), fresh_number()
    assert sent(texter.text(customer, number, "where is my order")) == (
        party,
        number,
        "where is my order",
        [],
    )
    assert sent(texter.text(party, number, "5 minutes")) == (customer, number, "5 minutes", [])
    assert sent(texter.text(other, number, "me too")) == (party, number, "me too", [])
    assert sent(texter.text(party, number, "coming")) == (other, number, "coming", [])
    # Texts and calls share the way back: the party's call reaches whoever wrote last.
    _, dialled = dial_of(texter.call(f"after-text-{texter.kind}", party, number))
    assert dialled == other


def test_pin_sessions_relay_their_parties_and_nobody_else(texter: Texter, http: httpx.Client) -> None:
    s = session(
        http,
        is_pin_authentication_required=True,
        force_pin_authentication=True,
        first_party_pin="1234",
        second_party_pin="5678",
        pin_prompt_play="https://cdn.example.com/pin.mp3",
    )
    a, b, number = parties(s)
    assert sent(texter.text(a, number, "hi")) == (b, number, "hi", [])
    assert sent(texter.text(b, number, "hello")) == (a, number, "hello", [])
    stranger = fresh_number()
    for attempt in ("1234", "5678", "hi"):  # a PIN texted is no way in
        document = texter.text(stranger, number, attempt)
        assert sent(document) is None
        assert a.lstrip("+") not in ET.tostring(document, encoding="unicode")


@pytest.mark.parametrize("word", ["STOP", " stop ", "Unsubscribe", "quit", "END", "cancel", "stopall"])
def test_opting_out_and_back_in(texter: Texter, http: httpx.Client, word: str) -> None:
    a, b, number = parties(session(http))
    assert sent(texter.text(b, number, word)) == (b, number, OPTED_OUT, [])  # never relayed
    assert sent(texter.text(a, number, "are you there")) == (a, number, NOT_DELIVERED, [])
    assert sent(texter.text(b, number, "one last thing")) == (a, number, "one last thing", [])
    assert sent(texter.text(b, number, "start")) == (b, number, OPTED_IN, [])
    assert sent(texter.text(a, number, "welcome back")) == (b, number, "welcome back", [])
    assert sent(texter.text(b, number, "UNSTOP")) == (b, number, OPTED_IN, [])  # already in: said again


def test_an_opt_out_is_per_number(texter: Texter, http: httpx.Client) -> None:
    a, b, number = parties(session(http))
    assert sent(texter.text(b, number, "STOP")) == (b, number, OPTED_OUT, [])
    c, _, elsewhere = parties(session(http, second_party=b))  # b is held on number: another one
    assert elsewhere != number
    assert sent(texter.text(c, elsewhere, "hi")) == (b, elsewhere, "hi", [])
    assert sent(texter.text(a, number, "hi")) == (a, number, NOT_DELIVERED, [])


def test_an_opt_out_outlives_the_session_on_its_number(texter: Texter, http: httpx.Client) -> None:
    s = session(http)
    a, b, number = parties(s)
    assert sent(texter.text(b, number, "STOP")) == (b, number, OPTED_OUT, [])
    assert http.delete(f"/Session/{s['session_uuid']}/").status_code == 200
    again = http.post("/Session/", json={"first_party": a, "second_party": b})
    assert again.status_code == 201
    later = "+" + again.json()["session"]["virtual_number"]
    expected = (a, later, NOT_DELIVERED, []) if later == number else (b, later, "hi", [])
    assert sent(texter.text(a, later, "hi")) == expected


def test_help_gets_the_operators_text(texter: Texter, http: httpx.Client) -> None:
    a, _, number = parties(session(http))
    assert sent(texter.text(a, number, " Help ")) == (a, number, DEFAULT_HELP, [])
    stranger = fresh_number()
    assert sent(texter.text(stranger, number, "HELP")) == (stranger, number, DEFAULT_HELP, [])


def test_a_wrong_signature_is_refused_before_anything_changes(texter: Texter, http: httpx.Client) -> None:
    a, b, number = parties(session(http))
    url = f"{texter.base}/{texter.action}"
    stop = texter.form(b, number, "STOP")
    signed = texter.headers(url, stop)
    bad = {k: ("x" + v if "Nonce" not in k else v) for k, v in signed.items()}
    assert texter.send(stop, bad).status_code == 403
    assert texter.send(stop, {}).status_code == 403  # unsigned
    other = texter.headers(url.replace(texter.tenant.auth_id, "MA" + "Z" * 18), stop)
    assert texter.send(stop, other).status_code == 403  # signed for another URL
    if texter.kind == "twilio":  # the signature covers the form
        assert texter.send({**stop, "From": fresh_number()}, signed).status_code == 403
    assert sent(texter.text(a, number, "still on")) == (b, number, "still on", [])  # no STOP taken


def test_a_signature_is_taken_once(texter: Texter, http: httpx.Client) -> None:
    """Plivo's message signature leaves the form out: a replayed nonce, even with another form,
    sends nothing; a Twilio message retried under its MessageSid is not relayed twice."""
    a, b, number = parties(session(http))
    url = f"{texter.base}/{texter.action}"
    form = texter.form(a, number, "first")
    headers = texter.headers(url, form)
    assert sent(ET.fromstring(texter.send(form, headers).text)) == (b, number, "first", [])
    again = texter.send(form, headers)
    assert again.status_code == 200 and sent(ET.fromstring(again.text)) is None
    if texter.kind == "plivo":
        forged = texter.send({**form, "From": b.lstrip("+"), "Text": "STOP"}, headers)
        assert forged.status_code == 200 and sent(ET.fromstring(forged.text)) is None
        assert sent(texter.text(a, number, "no STOP taken")) == (b, number, "no STOP taken", [])


def test_another_accounts_number_reaches_nothing(
    texter: Texter, http: httpx.Client, server: ServerThread
) -> None:
    a, b, number = parties(session(http))
    stranger = Texter(server, server.tenant(numbers=1), texter.kind)
    for text in ("hello", "STOP", "HELP"):
        document = stranger.text(a, number, text)
        assert sent(document) is None
        assert b.lstrip("+") not in ET.tostring(document, encoding="unicode")
    assert sent(texter.text(b, number, "no STOP taken")) == (a, number, "no STOP taken", [])


def test_a_subaccounts_carrier_never_reaches_its_parents_numbers(
    server: ServerThread, tenant: Tenant, http_for: Callable[..., httpx.Client]
) -> None:
    for kind in ("plivo", "twilio"):
        child = server.tenant(numbers=1, parent=tenant.auth_id)
        a, b, number = parties(session(http_for(tenant)))
        assert sent(Texter(server, child, kind).text(a, number, "hi")) is None
        own_a, own_b, own_number = parties(session(http_for(child)))
        main = Texter(server, tenant, kind)  # a main account's carrier serves its subaccounts
        assert sent(main.text(own_a, own_number, "hi")) == (own_b, own_number, "hi", [])


def test_bodies_are_neither_logged_nor_stored(
    texter: Texter, http: httpx.Client, server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, number = parties(session(http))
    secret = f"the gate code is 4471-{texter.kind}"
    with caplog.at_level(logging.DEBUG):
        assert sent(texter.text(a, number, secret)) == (b, number, secret, [])
        assert sent(texter.text(fresh_number(), number, secret)) is None
        texter.send(texter.form(a, number, secret), {})  # refused: logged as such
    assert caplog.records and secret not in caplog.text
    for table in metadata.sorted_tables:
        assert secret not in repr(query(server.database, f"SELECT * FROM {table.name}")), table.name


@pytest.fixture
def configured(databases: Databases, clock: FakeClock) -> Iterator[ServerThread]:
    running = ServerThread(
        databases.new(),
        clock,
        message_help="Acme rides: help at acme.example/help. Reply STOP to stop.",
        message_unknown_sender_reply="This number only relays messages between a rider and a driver.",
    ).start()
    yield running
    running.stop()


def test_the_operators_replies(configured: ServerThread) -> None:
    tenant = configured.tenant()
    for kind in ("plivo", "twilio"):
        texter = Texter(configured, tenant, kind)
        with configured.api(tenant) as client:
            a, b, number = parties(session(client))
        stranger = fresh_number()
        assert sent(texter.text(stranger, number, "hi")) == (
            stranger,
            number,
            "This number only relays messages between a rider and a driver.",
            [],
        )
        assert sent(texter.text(a, number, "help")) == (
            a,
            number,
            "Acme rides: help at acme.example/help. Reply STOP to stop.",
            [],
        )
        # Someone who opted out hears no more of maskline's own replies either.
        assert sent(texter.text(stranger, number, "stop")) == (stranger, number, OPTED_OUT, [])
        assert sent(texter.text(stranger, number, "hi again")) is None
        assert sent(texter.text(a, number, "hi")) == (b, number, "hi", [])
