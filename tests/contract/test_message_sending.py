"""Messages in a session: the business sends a text through the carrier's own package (against
the local stand-in of its API), relays and sends are interactions of their session, delivery
reports move their status (signed with the carriers' own functions), events announce them, and
no body is stored unless the operator keeps bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from plivo.utils import validate_signature
from twilio.request_validator import RequestValidator

from maskline.domain.calls import Carrier as CarrierConfig
from maskline.domain.calls import CarrierKind
from maskline.store.schema import metadata
from tests.contract.helpers import assert_error
from tests.contract.test_events import Receiver
from tests.contract.test_messages import Texter, parties
from tests.contract.test_webhooks import TOKEN, session
from tests.databases import Databases, query
from tests.support import CARRIER_IDS, CarrierApiStandIn, FakeClock, ServerThread, Tenant

STATUS_ACTION = "message-status"


class Reporter(Texter):
    """Plays the carrier's delivery reports: Plivo's V2 signature of the URL and a nonce,
    checked with ``plivo.utils.validate_signature``; Twilio's ``RequestValidator``."""

    def headers(self, url: str, form: dict[str, str], nonce: str | None = None) -> dict[str, str]:
        # Plivo's V2 signature is of the URL without its query, as validate_signature checks it.
        return super().headers(url.split("?")[0] if self.kind == "plivo" else url, form, nonce)

    def report(
        self, message_id: str, status: str, url: str = "", segments: str = "1", bad: bool = False
    ) -> httpx.Response:
        url = url or f"{self.base}/{STATUS_ACTION}"
        if self.kind == "plivo":
            form = {"MessageUUID": message_id, "Status": status, "Units": segments, "To": "", "From": ""}
        else:
            form = {"MessageSid": message_id, "MessageStatus": status, "NumSegments": segments}
        headers = self.headers(url, form)
        if bad and self.kind == "plivo":  # signed by someone without the token
            wrong = hmac.new(b"not-the-token", (url.split("?")[0] + "1").encode(), hashlib.sha256)
            signature = base64.b64encode(wrong.digest()).decode()
            assert not validate_signature(url, "1", signature, TOKEN)
            headers = {"X-Plivo-Signature-V2": signature, "X-Plivo-Signature-V2-Nonce": "1"}
        elif bad:  # the form changed after it was signed
            form = {**form, "MessageStatus": "failed"}
            assert not RequestValidator(TOKEN).validate(url, form, headers["X-Twilio-Signature"])
        return httpx.post(url, data=form, headers=headers, trust_env=False, timeout=30)


@pytest.fixture(params=["plivo", "twilio"])
def reporter(request: pytest.FixtureRequest, server: ServerThread, tenant: Tenant) -> Reporter:
    return Reporter(server, tenant, request.param)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def send(http: httpx.Client, uuid: str, **body: object) -> httpx.Response:
    return http.post(f"/Session/{uuid}/Message/", json=body)


def interactions(http: httpx.Client, uuid: str) -> list[dict]:
    reply = http.get(f"/Session/{uuid}/")
    assert reply.status_code == 200, reply.text
    return reply.json()["response"]["interaction"] or []


def carrier_request(carrier_api: CarrierApiStandIn) -> tuple[str, dict[str, object]]:
    return carrier_api.requests[-1]


# -- sending --------------------------------------------------------------------------------------
def test_the_business_sends_a_text_through_the_carrier(
    reporter: Reporter,
    http: httpx.Client,
    carrier_api: CarrierApiStandIn,
    server: ServerThread,
    tenant: Tenant,
) -> None:
    s = session(http)
    a, b, number = parties(s)
    reply = send(http, s["session_uuid"], to="second_party", text="Your driver is outside")
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert list(body) == ["api_id", "message", "message_uuid"]
    assert body["message"] == "Message queued"
    path, request = carrier_request(carrier_api)
    status_url = f"{server.url}/webhooks/{reporter.kind}/{tenant.auth_id}/{STATUS_ACTION}"
    if reporter.kind == "plivo":
        assert path == f"/v1/Account/{CARRIER_IDS['plivo']}/Message/"
        assert (request["src"], request["dst"], request["text"]) == (
            number.lstrip("+"), b.lstrip("+"), "Your driver is outside"
        )  # fmt: skip
        assert (request["url"], request["method"]) == (status_url, "POST")
        assert body["message_uuid"] == f"sent-{len(carrier_api.requests)}"
    else:
        assert path == f"/2010-04-01/Accounts/{CARRIER_IDS['twilio']}/Messages.json"
        assert (request["From"], request["To"], request["Body"]) == (number, b, "Your driver is outside")
        assert request["StatusCallback"] == status_url
        assert body["message_uuid"].startswith("SMsent")
    [message] = interactions(http, s["session_uuid"])
    assert message == {
        "start_time": message["start_time"],
        "end_time": "",
        "type": "message",
        "total_call_amount": 0,
        "call_billed_duration": 0,
        "recording_resource_url": None,
        "auth_id": tenant.auth_id,
        "total_call_count": 0,
        "duration": 0,
        "message_uuid": body["message_uuid"],
        "message_direction": "sent",
        "from_party": "",
        "to_party": "second_party",
        "message_status": "queued",
        "segments": None,
        "media_count": 0,
    }
    found = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert found["total_call_count"] == 0 and found["last_interaction_time"] == ""
    assert send(http, s["session_uuid"], to="first_party", text="ok").status_code == 202
    assert carrier_request(carrier_api)[1]["dst" if reporter.kind == "plivo" else "To"] == (
        a.lstrip("+") if reporter.kind == "plivo" else a
    )


def test_delivery_reports_move_the_status_once(reporter: Reporter, http: httpx.Client) -> None:
    s = session(http)
    sent = send(http, s["session_uuid"], to="first_party", text="hello").json()["message_uuid"]
    assert reporter.report(sent, "sent").status_code == 200
    assert interactions(http, s["session_uuid"])[0]["message_status"] == "sent"
    reply = reporter.report(sent, "delivered", segments="2")
    assert reply.status_code == 200 and ET.fromstring(reply.text).tag == "Response"
    reporter.report(sent, "sent")  # late: changes nothing
    reporter.report(sent, "failed")  # after a final status: changes nothing
    [message] = interactions(http, s["session_uuid"])
    assert (message["message_status"], message["segments"]) == ("delivered", 2)
    assert message["end_time"] != ""


def test_badly_signed_reports_are_refused(reporter: Reporter, http: httpx.Client) -> None:
    s = session(http)
    sent = send(http, s["session_uuid"], to="first_party", text="hello").json()["message_uuid"]
    assert reporter.report(sent, "delivered", bad=True).status_code == 403
    assert interactions(http, s["session_uuid"])[0]["message_status"] == "queued"


def test_a_plivo_report_is_taken_once(server: ServerThread, tenant: Tenant, http: httpx.Client) -> None:
    reporter = Reporter(server, tenant, "plivo")
    s = session(http)
    sent = send(http, s["session_uuid"], to="first_party", text="hello").json()["message_uuid"]
    url = f"{reporter.base}/{STATUS_ACTION}"
    headers = reporter.headers(url, {})
    form = {"MessageUUID": sent, "Status": "sent"}
    assert httpx.post(url, data=form, headers=headers, trust_env=False).status_code == 200
    replayed = {"MessageUUID": sent, "Status": "failed"}  # the V2 signature leaves the form out
    assert httpx.post(url, data=replayed, headers=headers, trust_env=False).status_code == 200
    assert interactions(http, s["session_uuid"])[0]["message_status"] == "sent"


# -- relays ----------------------------------------------------------------------------------------
def test_a_relay_is_an_interaction_and_asks_for_its_delivery(reporter: Reporter, http: httpx.Client) -> None:
    s = session(http)
    a, b, number = parties(s)
    form = reporter.form(a, number, "at the gate")
    message_id = form["MessageUUID" if reporter.kind == "plivo" else "MessageSid"]
    reply = reporter.send(form)
    [element] = list(ET.fromstring(reply.text))
    callback = element.get("callbackUrl" if reporter.kind == "plivo" else "action", "")
    assert element.get("callbackMethod" if reporter.kind == "plivo" else "method") == "POST"
    parts = urlsplit(callback)
    assert parts.path.endswith(f"/{STATUS_ACTION}") and dict(parse_qsl(parts.query)) == {
        "message": message_id
    }
    [relayed] = interactions(http, s["session_uuid"])
    assert relayed["type"] == "message" and relayed["message_uuid"] == message_id
    assert (relayed["message_direction"], relayed["from_party"], relayed["to_party"]) == (
        "relayed", "first_party", "second_party"
    )  # fmt: skip
    # The carrier reports on the relay under an id of its own, at the URL it was given.
    assert reporter.report("relay-own-id", "delivered", url=callback).status_code == 200
    assert interactions(http, s["session_uuid"])[0]["message_status"] == "delivered"
    # A retried webhook (Plivo's with a new nonce, Twilio's with the same MessageSid) relays nothing twice.
    assert list(ET.fromstring(reporter.send(form).text)) == []
    assert len(interactions(http, s["session_uuid"])) == 1


def test_messages_and_calls_share_the_list_and_calls_alone_are_counted(
    reporter: Reporter, http: httpx.Client
) -> None:
    from tests.contract.test_webhooks import Carrier

    s = session(http)
    a, b, number = parties(s)
    clock = reporter.server.clock
    reporter.text(a, number, "first")
    clock.advance(1)
    caller = Carrier(reporter.server, reporter.tenant, reporter.kind)
    caller.call("msg-call-1" + reporter.kind, a, number)
    caller.hangup("msg-call-1" + reporter.kind)
    clock.advance(1)
    send(http, s["session_uuid"], to="first_party", text="then")
    listed = http.get("/Session/", params={"first_party": s["first_party"]}).json()["response"]["objects"]
    [found] = [o for o in listed if o["session_uuid"] == s["session_uuid"]]
    assert [i["type"] for i in found["interaction"]] == ["message", "call", "message"]
    assert found["total_call_count"] == 1
    assert found["interaction"] == interactions(http, s["session_uuid"])


def test_the_sdk_still_parses_a_session_with_messages(
    plivo_client, http: httpx.Client, server: ServerThread, tenant: Tenant
) -> None:  # type: ignore[no-untyped-def]
    texter = Texter(server, tenant, "plivo")
    s = session(http)
    a, _, number = parties(s)
    texter.text(a, number, "hello")
    got = plivo_client.masking_sessions.get_masking_session(s["session_uuid"])
    [interaction] = got.response["interaction"]
    assert interaction["type"] == "message" and interaction["total_call_count"] == 0


# -- refusals --------------------------------------------------------------------------------------
def test_refusals(reporter: Reporter, http: httpx.Client, server: ServerThread, http_for) -> None:  # type: ignore[no-untyped-def]
    s = session(http)
    uuid = s["session_uuid"]
    assert_error(
        send(http, "0" * 8 + "-0000-4000-8000-" + "0" * 12, to="first_party", text="x"),
        404,
        "Session not found",
    )
    assert_error(send(http, "not-a-uuid", to="first_party", text="x"), 404, "Session not found")
    other = server.tenant()
    assert_error(send(http_for(other), uuid, to="first_party", text="x"), 404, "Session not found")
    assert_error(send(http, uuid, text="x"), 400, "Mandatory parameter missing. to must be present.")
    bad_to = "Invalid parameter. to allowed values are first_party or second_party."
    assert_error(send(http, uuid, to="both", text="x"), 400, bad_to)
    missing = "Mandatory parameter missing. text must be present."
    assert_error(send(http, uuid, to="first_party"), 400, missing)
    assert_error(send(http, uuid, to="first_party", text=" \n"), 400, missing)
    too_long = "Invalid parameter. text should be text of at most 1600 characters."
    assert_error(send(http, uuid, to="first_party", text="x" * 1601), 400, too_long)
    assert_error(send(http, uuid, to="first_party", text=5), 400, too_long)
    assert send(http, uuid, to="first_party", text="é" * 1600).status_code == 202
    # On a connection of its own: the server closes one whose body it refused unread, and a
    # request sent on it at that moment would find it closed.
    with httpx.Client(base_url=http.base_url, auth=http.auth, trust_env=False) as once:
        big = once.post(
            f"/Session/{uuid}/Message/", content=b'{"to": "first_party", "text": "' + b"x" * 2_000_000 + b'"}'
        )
    assert_error(big, 400, "Invalid JSON body. The body should be under 65536 bytes.")
    single = session(http, second_party=None, create_session_with_single_party=True)
    absent = "Invalid parameter. to is a party this session does not have."
    assert_error(send(http, single["session_uuid"], to="second_party", text="x"), 400, absent)
    assert http.delete(f"/Session/{uuid}/").status_code == 200
    assert_error(send(http, uuid, to="first_party", text="x"), 400, "Session already expired")


def test_an_opted_out_party_is_not_sent_to(reporter: Reporter, http: httpx.Client) -> None:
    s = session(http)
    a, b, number = parties(s)
    reporter.text(b, number, "STOP")
    refused = "Message not sent. second_party has opted out of messages from this virtual number."
    assert_error(send(http, s["session_uuid"], to="second_party", text="x"), 400, refused)
    assert send(http, s["session_uuid"], to="first_party", text="x").status_code == 202
    reporter.text(b, number, "START")
    assert send(http, s["session_uuid"], to="second_party", text="x").status_code == 202


def test_without_a_carrier_that_texts_nothing_is_sent(server: ServerThread, http_for) -> None:  # type: ignore[no-untyped-def]
    unavailable = "Message not sent. The account has no carrier that sends messages."
    bare = server.tenant()
    s = session(http_for(bare))
    assert_error(send(http_for(bare), s["session_uuid"], to="first_party", text="x"), 400, unavailable)

    async def sip(store) -> None:  # type: ignore[no-untyped-def]
        await store.accounts.set_carrier(
            CarrierConfig(bare.auth_id, CarrierKind.SIP, "", "", "", bare.auth_id)
        )

    server._with_store(sip)
    assert_error(send(http_for(bare), s["session_uuid"], to="first_party", text="x"), 400, unavailable)


def test_a_subaccount_sends_through_its_main_accounts_carrier(
    server: ServerThread, tenant: Tenant, http_for, carrier_api: CarrierApiStandIn
) -> None:  # type: ignore[no-untyped-def]
    Texter(server, tenant, "twilio")
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    s = session(http_for(sub))
    assert send(http_for(sub), s["session_uuid"], to="first_party", text="x").status_code == 202
    assert carrier_request(carrier_api)[1]["StatusCallback"].endswith(
        f"/twilio/{tenant.auth_id}/{STATUS_ACTION}"
    )


def test_a_carrier_that_refuses_gets_a_502(
    reporter: Reporter, http: httpx.Client, carrier_api: CarrierApiStandIn
) -> None:
    s = session(http)
    carrier_api.refuse = 1
    reply = send(http, s["session_uuid"], to="first_party", text="x")
    assert_error(reply, 502, "Message not sent. The carrier did not accept it.")
    assert interactions(http, s["session_uuid"]) == []


# -- events ---------------------------------------------------------------------------------------
def test_message_events_reach_the_callback_url(
    reporter: Reporter, receiver: Receiver, http: httpx.Client
) -> None:
    s = session(http, callback_url=receiver.url)
    a, b, number = parties(s)
    form = reporter.form(a, number, "secret words")
    reporter.send(form)
    relayed = form["MessageUUID" if reporter.kind == "plivo" else "MessageSid"]
    sent = send(http, s["session_uuid"], to="second_party", text="more secret words").json()["message_uuid"]
    reporter.report(sent, "delivered")
    other = send(http, s["session_uuid"], to="first_party", text="x").json()["message_uuid"]
    reporter.report(other, "undelivered")
    receiver.wait_for(5)
    assert receiver.names() == [
        "SessionMessageRelayed",
        "SessionMessageSent",
        "SessionMessageDelivered",
        "SessionMessageSent",
        "SessionMessageFailed",
    ]
    first, _ = receiver.received[0]
    assert (
        first["MessageUUID"] == relayed
        and first["From"] == s["first_party"]
        and first["To"] == s["second_party"]
    )
    assert (first["FromParty"], first["ToParty"], first["MessageDirection"]) == (
        "first_party",
        "second_party",
        "relayed",
    )
    delivered, _ = receiver.received[2]
    assert (delivered["MessageUUID"], delivered["MessageStatus"], delivered["From"]) == (
        sent, "delivered", s["virtual_number"]
    )  # fmt: skip
    assert [int(form["SequenceNumber"]) for form, _ in receiver.received] == [1, 2, 3, 4, 5]
    for index, (form, _) in enumerate(receiver.received):
        assert receiver.signed_by(TOKEN, index)
        assert "secret" not in repr(form)


# -- privacy ---------------------------------------------------------------------------------------
def every_row(database: str) -> str:
    return repr([query(database, f"SELECT * FROM {table.name}") for table in metadata.sorted_tables])


def test_no_table_holds_a_body_by_default(
    reporter: Reporter, http: httpx.Client, server: ServerThread
) -> None:
    s = session(http)
    a, b, number = parties(s)
    reporter.text(a, number, "the door code is zebra-1234")
    sent = send(http, s["session_uuid"], to="second_party", text="courier says kiwi-5678").json()[
        "message_uuid"
    ]
    reporter.report(sent, "delivered")
    rows = every_row(server.database)
    assert sent in rows  # the message is logged...
    assert "zebra-1234" not in rows and "kiwi-5678" not in rows  # ...its words are not


def test_kept_bodies_go_with_their_session(
    databases: Databases, clock: FakeClock, carrier_api: CarrierApiStandIn
) -> None:
    kept = ServerThread(
        databases.new(), clock, message_retain_bodies=True,
        plivo_api_url=f"{carrier_api.url}/v1/Account", twilio_api_url=carrier_api.url,
    ).start()  # fmt: skip
    try:
        tenant = kept.tenant()
        texter = Texter(kept, tenant, "plivo")
        with kept.api(tenant) as http:
            s = session(http)
            a, b, number = parties(s)
            texter.text(a, number, "kept words one")
            assert send(http, s["session_uuid"], to="first_party", text="kept words two").status_code == 202
            bodies = query(kept.database, "SELECT body FROM messages ORDER BY id")
            assert bodies == [("kept words one",), ("kept words two",)]
            assert http.delete(f"/Session/{s['session_uuid']}/").status_code == 200
        later = int(clock()) + 10 * 86400
        kept._with_store(lambda store: store.sessions.purge(later, later))
        assert query(kept.database, "SELECT COUNT(*) FROM messages") == [(0,)]
        assert "kept words" not in every_row(kept.database)
    finally:
        kept.stop()


def test_texts_are_never_logged(
    reporter: Reporter, http: httpx.Client, caplog: pytest.LogCaptureFixture, carrier_api: CarrierApiStandIn
) -> None:
    s = session(http)
    a, _, number = parties(s)
    with caplog.at_level("DEBUG"):
        reporter.text(a, number, "never-logged-words")
        send(http, s["session_uuid"], to="first_party", text="never-logged-either")
        carrier_api.refuse = 1
        send(http, s["session_uuid"], to="first_party", text="never-logged-refused")
    assert "never-logged" not in caplog.text
