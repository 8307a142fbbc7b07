"""Carrier webhooks, signed with the plivo and twilio packages' own functions, answered in XML."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from tests.databases import query
from tests.support import CARRIER_IDS, CarrierApiStandIn, ServerThread, Tenant, fresh_number, set_carrier

TOKEN = "carrier-token"


class Carrier:
    """Plays the carrier: signs each webhook the way the real one does."""

    def __init__(self, server: ServerThread, tenant: Tenant, kind: str) -> None:
        self.server, self.tenant, self.kind = server, tenant, kind
        set_carrier(server, tenant, kind, TOKEN)
        self.base = f"{server.url}/webhooks/{kind}/{tenant.auth_id}"

    def post(
        self, action: str, form: dict[str, str], query: dict[str, str] | None = None, tamper: bool = False
    ) -> httpx.Response:
        url = f"{self.base}/{action}" + (f"?{urlencode(query)}" if query else "")
        if self.kind == "plivo":
            nonce = "12345678901234567890"
            signature = get_signature_v3(TOKEN, construct_post_url(url, dict(form)).decode(), nonce).decode()
            headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
        else:
            headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}
        if tamper:
            form = {**form, "From": fresh_number()}
        return httpx.post(url, data=form, headers=headers, trust_env=False, timeout=30)

    def xml(self, action: str, form: dict[str, str], query: dict[str, str] | None = None) -> ET.Element:
        reply = self.post(action, form, query)
        assert reply.status_code == 200, reply.text
        return ET.fromstring(reply.text)

    def call(self, call_id: str, caller: str, number: str) -> ET.Element:
        """An inbound call: Plivo sends numbers without '+', Twilio with."""
        if self.kind == "plivo":
            return self.xml(
                "answer",
                {
                    "CallUUID": call_id,
                    "From": caller.lstrip("+"),
                    "To": number.lstrip("+"),
                    "CallStatus": "ringing",
                    "Direction": "inbound",
                },
            )
        return self.xml(
            "voice",
            {
                "CallSid": call_id,
                "From": caller,
                "To": number,
                "CallStatus": "ringing",
                "Direction": "inbound",
                "AccountSid": "ACtest",
            },
        )

    def leg(self, call_id: str, status: str, leg_id: str = "leg-b") -> None:
        if self.kind == "plivo":
            action = {"ringing": "ring", "answered": "answer", "completed": "hangup"}[status]
            form = {"CallUUID": call_id, "DialAction": action, "DialBLegUUID": leg_id}
        else:
            twilio = {"ringing": "ringing", "answered": "in-progress", "completed": "completed"}[status]
            form = {"CallSid": leg_id, "ParentCallSid": call_id, "CallStatus": twilio}
        assert self.post("dial-status", form, {"call": call_id}).status_code == 200

    def hangup(self, call_id: str) -> None:
        if self.kind == "plivo":
            reply = self.post("hangup", {"CallUUID": call_id, "CallStatus": "completed", "Duration": "30"})
        else:
            reply = self.post("status", {"CallSid": call_id, "CallStatus": "completed", "CallDuration": "30"})
        assert reply.status_code == 200

    def pin(self, call_id: str, digits: str, attempt: int = 0) -> ET.Element:
        key = "CallUUID" if self.kind == "plivo" else "CallSid"
        return self.xml("pin", {key: call_id, "Digits": digits}, {"call": call_id, "attempt": str(attempt)})


@pytest.fixture(params=["plivo", "twilio"])
def carrier(request: pytest.FixtureRequest, server: ServerThread, tenant: Tenant) -> Carrier:
    return Carrier(server, tenant, request.param)


def session(http: httpx.Client, **body: object) -> dict:
    reply = http.post(
        "/Session/", json={"first_party": fresh_number(), "second_party": fresh_number(), **body}
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["session"]


def dial_of(document: ET.Element) -> tuple[ET.Element, str]:
    dial = document.find("Dial")
    assert dial is not None, ET.tostring(document)
    number = dial.find("Number")
    assert number is not None and number.text
    return dial, number.text


def test_a_scripted_call_flow(carrier: Carrier, http: httpx.Client, server: ServerThread) -> None:
    s = session(http, call_time_limit=600, ring_timeout=20)
    first, second, number = "+" + s["first_party"], "+" + s["second_party"], "+" + s["virtual_number"]
    dial, dialled = dial_of(carrier.call("call-1", first, number))
    assert dialled == second
    assert dial.get("callerId") == number  # the callee sees the virtual number, never the caller's
    assert (dial.get("timeLimit"), dial.get("timeout")) == ("600", "20")
    assert first.lstrip("+") not in ET.tostring(dial, encoding="unicode")

    carrier.leg("call-1", "ringing")
    carrier.leg("call-1", "answered")
    assert http.get(f"/Session/{s['session_uuid']}/").json()["response"]["status"] == "in-progress"
    server.clock.advance(48)
    carrier.leg("call-1", "completed")
    carrier.hangup("call-1")

    got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert got["status"] == "active"
    assert got["total_call_count"] == 2 and got["total_call_billed_duration"] == 48
    assert got["last_interaction_time"] != ""
    [interaction] = got["interaction"]
    assert interaction["type"] == "call" and interaction["total_call_count"] == 2
    assert interaction["call_billed_duration"] == 48 and interaction["duration"] == 48
    assert "call-1" in interaction["first_party_resource_url"]  # the caller is the first party
    assert "leg-b" in interaction["second_party_resource_url"]
    assert interaction["end_time"] != "" and interaction["recording_resource_url"] is None


def test_the_dialled_legs_end_cause_is_kept(
    carrier: Carrier, http: httpx.Client, server: ServerThread
) -> None:
    """Plivo's DialHangupCause, Twilio's DialCallStatus (or the leg's CallStatus), as given."""
    plivo = carrier.kind == "plivo"
    for call_id, form, kept in (
        ("call-busy", {"DialAction": "hangup", "DialHangupCause": "USER_BUSY"}, "USER_BUSY")
        if plivo
        else ("call-busy", {"DialCallStatus": "busy", "DialCallSid": "leg-b"}, "busy"),
        ("call-unanswered", {"DialStatus": "completed", "DialHangupCause": "NO_ANSWER"}, "NO_ANSWER")
        if plivo
        else ("call-unanswered", {"CallStatus": "no-answer", "CallSid": "leg-b"}, "no-answer"),
        ("call-odd", {"DialAction": "hangup", "DialHangupCause": "+14155550123"}, "")
        if plivo
        else ("call-odd", {"CallStatus": "failed", "CallSid": "leg-b"}, "failed"),
    ):
        s = session(http)
        call_id = f"{call_id}-{carrier.kind}"
        dial_of(carrier.call(call_id, "+" + s["first_party"], "+" + s["virtual_number"]))
        key = {"CallUUID": call_id} if plivo else {}
        assert carrier.post("dial-status", {**key, **form}, {"call": call_id}).status_code == 200
        got = query(server.database, "SELECT b_status, b_cause FROM calls WHERE call_id = ?", call_id)
        assert got == [("no-answer", kept)]


def test_the_second_party_calls_back(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http)
    _, dialled = dial_of(carrier.call("call-2", "+" + s["second_party"], "+" + s["virtual_number"]))
    assert dialled == "+" + s["first_party"]
    carrier.leg("call-2", "answered", "leg-x")
    carrier.hangup("call-2")
    [interaction] = http.get(f"/Session/{s['session_uuid']}/").json()["response"]["interaction"]
    assert "leg-x" in interaction["first_party_resource_url"]  # the first party was dialled
    assert "call-2" in interaction["second_party_resource_url"]


def test_retried_answer_webhook_counts_once(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http)
    for _ in range(2):
        carrier.call("call-3", "+" + s["first_party"], "+" + s["virtual_number"])
    carrier.hangup("call-3")
    carrier.hangup("call-3")
    got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert got["status"] == "active" and len(got["interaction"]) == 1 and got["total_call_count"] == 1


def test_tampered_signature_is_refused_and_changes_nothing(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http)
    key = "CallUUID" if carrier.kind == "plivo" else "CallSid"
    action = "answer" if carrier.kind == "plivo" else "voice"
    form = {key: "call-4", "From": s["first_party"], "To": s["virtual_number"]}
    assert carrier.post(action, form, tamper=True).status_code == 403
    unsigned = httpx.post(f"{carrier.base}/{action}", data=form, trust_env=False)
    assert unsigned.status_code == 403
    got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert got["interaction"] is None and got["status"] == "active"


def test_unknown_callers(carrier: Carrier, http: httpx.Client, server: ServerThread, tenant: Tenant) -> None:
    s = session(http)
    rejected = carrier.call("call-5", fresh_number(), "+" + s["virtual_number"])
    reject = rejected.find("Hangup" if carrier.kind == "plivo" else "Reject")
    assert reject is not None and reject.get("reason") == "rejected"
    session(http, unknown_caller_play="https://cdn.example.com/use-your-number.mp3")
    played = carrier.call("call-6", fresh_number(), "+" + s["virtual_number"])
    assert played.findtext("Play") == "https://cdn.example.com/use-your-number.mp3"
    assert played.find("Hangup") is not None and played.find("Dial") is None


def test_expired_session_no_longer_connects(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http)
    assert http.delete(f"/Session/{s['session_uuid']}/").status_code == 200
    document = carrier.call("call-7", "+" + s["first_party"], "+" + s["virtual_number"])
    assert document.find("Dial") is None
    assert document.find("Hangup" if carrier.kind == "plivo" else "Reject") is not None


def test_recording_and_prompts(carrier: Carrier, http: httpx.Client) -> None:
    s = session(
        http,
        record=True,
        record_file_format="wav",
        first_party_play_url="https://cdn.example.com/1.mp3",
        second_party_play_url="https://cdn.example.com/2.mp3",
    )
    document = carrier.call("call-8", "+" + s["first_party"], "+" + s["virtual_number"])
    assert document.findtext("Play") == "https://cdn.example.com/1.mp3"
    dial, _ = dial_of(document)
    if carrier.kind == "plivo":
        record = document.find("Record")
        assert (
            record is not None
            and record.get("fileFormat") == "wav"
            and record.get("startOnDialAnswer") == "true"
        )
        prompt_url = dial.get("confirmSound")
        recording = {
            "CallUUID": "call-8",
            "RecordUrl": "https://media.example.com/r.wav",
            "RecordingID": "r1",
        }
    else:
        assert dial.get("record") == "record-from-answer-dual"
        prompt_url = dial.find("Number").get("url")  # type: ignore[union-attr]
        recording = {
            "CallSid": "call-8",
            "RecordingUrl": "https://media.example.com/r",
            "RecordingSid": "RE1",
        }
    assert prompt_url is not None
    prompt = carrier.xml(
        "callee-prompt", {}, dict(pair.split("=") for pair in prompt_url.split("?")[1].split("&"))
    )
    assert prompt.findtext("Play") == "https://cdn.example.com/2.mp3"
    assert carrier.post("recording", recording, {"call": "call-8"}).status_code == 200
    carrier.leg("call-8", "answered")
    carrier.hangup("call-8")
    [interaction] = http.get(f"/Session/{s['session_uuid']}/").json()["response"]["interaction"]
    assert interaction["recording_resource_url"].startswith("https://media.example.com/r")


PIN = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "5678",
    "pin_prompt_play": "https://cdn.example.com/pin.mp3",
    "incorrect_pin_play": "https://cdn.example.com/wrong.mp3",
    "pin_retry": 1,
    "pin_retry_wait": 7,
}


def test_pin_right_first_time(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http, **PIN)
    document = carrier.call("call-9", fresh_number(), "+" + s["virtual_number"])
    gather = document.find("GetDigits" if carrier.kind == "plivo" else "Gather")
    assert gather is not None and gather.findtext("Play") == PIN["pin_prompt_play"]
    _, dialled = dial_of(carrier.pin("call-9", "1234"))
    assert dialled == "+" + s["second_party"]


def test_pin_wrong_then_right_then_exhausted(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http, **PIN)
    carrier.call("call-10", fresh_number(), "+" + s["virtual_number"])
    retry = carrier.pin("call-10", "0000")
    assert retry.findtext("Play") == PIN["incorrect_pin_play"]
    wait = retry.find("Wait" if carrier.kind == "plivo" else "Pause")
    assert wait is not None and wait.get("length") == "7"
    _, dialled = dial_of(carrier.pin("call-10", "5678", attempt=1))
    assert dialled == "+" + s["first_party"]

    carrier.call("call-11", fresh_number(), "+" + s["virtual_number"])
    carrier.pin("call-11", "0000")
    final = carrier.pin("call-11", "1111", attempt=1)
    assert final.find("Dial") is None and final.find("Hangup") is not None
    assert final.findtext("Play") == PIN["incorrect_pin_play"]


def test_forced_pin_for_registered_callers(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http, **PIN, force_pin_authentication=True)
    document = carrier.call("call-12", "+" + s["first_party"], "+" + s["virtual_number"])
    assert document.find("GetDigits" if carrier.kind == "plivo" else "Gather") is not None
    _, dialled = dial_of(carrier.pin("call-12", "1234"))
    assert dialled == "+" + s["second_party"]


def test_registered_caller_passes_without_pin(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http, **PIN)
    _, dialled = dial_of(carrier.call("call-13", "+" + s["first_party"], "+" + s["virtual_number"]))
    assert dialled == "+" + s["second_party"]


def test_single_party_session_and_the_way_back(carrier: Carrier, http: httpx.Client) -> None:
    party = fresh_number()
    reply = http.post("/Session/", json={"second_party": party, "create_session_with_single_party": True})
    s = reply.json()["session"]
    number = "+" + s["virtual_number"]
    nobody = carrier.call("call-14", party, number)
    assert nobody.find("Dial") is None  # no interaction yet: nowhere to go
    agent = fresh_number()
    _, dialled = dial_of(carrier.call("call-15", agent, number))
    assert dialled == party
    carrier.hangup("call-15")
    _, back = dial_of(carrier.call("call-16", party, number))
    assert back == agent


def test_a_carrier_routes_only_its_own_accounts_numbers(
    carrier: Carrier, http: httpx.Client, server: ServerThread
) -> None:
    s = session(http)
    stranger = Carrier(server, server.tenant(numbers=1), carrier.kind)
    document = stranger.call("call-17", "+" + s["first_party"], "+" + s["virtual_number"])
    assert document.find("Dial") is None
    assert http.get(f"/Session/{s['session_uuid']}/").json()["response"]["interaction"] is None


def test_request_a_call_places_the_first_call_and_bridges_on_answer(
    carrier: Carrier, http: httpx.Client, carrier_api: CarrierApiStandIn
) -> None:
    s = http.post(
        "/Session/",
        json={
            "first_party": fresh_number(),
            "second_party": fresh_number(),
            "initiate_call_to_first_party": True,
        },
    ).json()["session"]
    assert s["initiate_call_to_first_party"] is True
    deadline = time.monotonic() + 10
    while not any(s["session_uuid"] in str(body) for _, body in carrier_api.requests):
        assert time.monotonic() < deadline, carrier_api.requests
        time.sleep(0.02)
    path, body = next((p, b) for p, b in carrier_api.requests if s["session_uuid"] in str(b))
    if carrier.kind == "plivo":
        assert path == f"/v1/Account/{CARRIER_IDS['plivo']}/Call/"
        assert (body["from"], body["to"]) == (s["virtual_number"], s["first_party"])
        answer_url = str(body["answer_url"])
        form = {
            "CallUUID": "placed-call",
            "From": s["virtual_number"],
            "To": s["first_party"],
            "Direction": "outbound",
        }
    else:
        assert path == f"/2010-04-01/Accounts/{CARRIER_IDS['twilio']}/Calls.json"
        assert (body["From"], body["To"]) == ("+" + s["virtual_number"], "+" + s["first_party"])
        answer_url = str(body["Url"])
        form = {"CallSid": "placed-call", "From": "+" + s["virtual_number"], "To": "+" + s["first_party"]}
    assert answer_url.startswith(carrier.base)
    action, query = answer_url[len(carrier.base) + 1 :].split("?")
    dial, dialled = dial_of(carrier.xml(action, form, dict([query.split("=")])))
    assert dialled == "+" + s["second_party"] and dial.get("callerId") == "+" + s["virtual_number"]
    carrier.leg("placed-call", "answered")
    carrier.hangup("placed-call")
    [interaction] = http.get(f"/Session/{s['session_uuid']}/").json()["response"]["interaction"]
    assert "placed-call" in interaction["first_party_resource_url"] and interaction["total_call_count"] == 2


def test_a_call_whose_end_never_arrives_is_closed(
    carrier: Carrier, http: httpx.Client, server: ServerThread
) -> None:
    s = session(http, call_time_limit=60, ring_timeout=10, session_expiry=3600)
    dial_of(carrier.call("call-18", "+" + s["first_party"], "+" + s["virtual_number"]))
    carrier.leg("call-18", "answered")
    assert http.get(f"/Session/{s['session_uuid']}/").json()["response"]["status"] == "in-progress"
    server.clock.advance(60 + 10 + 300 + 1)  # past the longest the call could have lasted
    deadline = time.monotonic() + 5
    while http.get(f"/Session/{s['session_uuid']}/").json()["response"]["status"] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [interaction] = http.get(f"/Session/{s['session_uuid']}/").json()["response"]["interaction"]
    assert interaction["end_time"] != "" and interaction["total_call_count"] == 2


def test_a_subaccounts_carrier_never_routes_its_parents_or_siblings_numbers(
    server: ServerThread, tenant: Tenant, http_for: Callable[..., httpx.Client]
) -> None:
    for kind in ("plivo", "twilio"):
        child = server.tenant(numbers=1, parent=tenant.auth_id)
        sibling = server.tenant(numbers=1, parent=tenant.auth_id)
        parents = session(http_for(tenant))
        siblings = session(http_for(sibling))
        subaccount = Carrier(server, child, kind)
        for s, owner in ((parents, tenant), (siblings, sibling)):
            document = subaccount.call(
                f"cross-{kind}-{owner.auth_id}", "+" + s["first_party"], "+" + s["virtual_number"]
            )
            assert document.find("Dial") is None
            assert s["second_party"] not in ET.tostring(document, encoding="unicode")
            got = http_for(owner).get(f"/Session/{s['session_uuid']}/").json()["response"]
            assert got["interaction"] is None and got["total_call_count"] == 0
        own = session(http_for(child))
        _, dialled = dial_of(
            subaccount.call(f"own-{kind}", "+" + own["first_party"], "+" + own["virtual_number"])
        )
        assert dialled == "+" + own["second_party"]
        # Nor through the URLs maskline hands out, with the parent's session named in them.
        secret = session(http_for(tenant), first_party_play_url="https://example.com/parent-only.mp3")
        prompt = subaccount.post("callee-prompt", {}, {"session": secret["session_uuid"], "party": "first"})
        assert prompt.status_code == 200 and "parent-only" not in prompt.text
        placed = subaccount.post(
            "answer" if kind == "plivo" else "voice",
            {
                "CallUUID": f"placed-{kind}",
                "CallSid": f"placed-{kind}",
                "From": "+" + secret["virtual_number"],
            },
            {"session": secret["session_uuid"]},
        )
        assert placed.status_code == 200 and ET.fromstring(placed.text).find("Dial") is None
        assert secret["second_party"] not in placed.text


def test_a_main_accounts_carrier_routes_its_subaccounts_calls_to_the_end(
    server: ServerThread, tenant: Tenant, http_for: Callable[..., httpx.Client]
) -> None:
    for kind in ("plivo", "twilio"):
        child = server.tenant(numbers=1, parent=tenant.auth_id)
        s = session(http_for(child))
        main = Carrier(server, tenant, kind)
        call = f"parent-routes-{kind}"
        _, dialled = dial_of(main.call(call, "+" + s["first_party"], "+" + s["virtual_number"]))
        assert dialled == "+" + s["second_party"]
        main.leg(call, "ringing")
        main.leg(call, "answered")
        server.clock.advance(30)
        main.leg(call, "completed")
        main.hangup(call)
        got = http_for(child).get(f"/Session/{s['session_uuid']}/").json()["response"]
        assert got["total_call_count"] == 2 and got["total_call_billed_duration"] == 30
        [interaction] = got["interaction"]
        assert interaction["end_time"] != ""


@pytest.mark.parametrize(
    "field, value",
    [
        ("CallUUID", "call-\x00-nul"),
        ("CallUUID", "c" * 100),  # longer than any carrier's call id
        ("From", "\x00"),
    ],
)
def test_fields_no_database_could_store_change_nothing_on_either(
    carrier: Carrier, http: httpx.Client, field: str, value: str
) -> None:
    s = session(http)
    caller, number = "+" + s["first_party"], "+" + s["virtual_number"]
    key = {"CallUUID": "CallUUID" if carrier.kind == "plivo" else "CallSid", "From": "From"}[field]
    form = {"CallUUID": "odd-fields", "CallSid": "odd-fields", "From": caller, "To": number}
    if field == "From":
        value = caller[:5] + value + caller[5:]
    form[key] = value
    reply = carrier.post("answer" if carrier.kind == "plivo" else "voice", form)
    assert reply.status_code == 200
    document = ET.fromstring(reply.text)  # valid XML, and not the apology of a failure inside
    assert "Sorry" not in reply.text and document.find("Dial") is None
    got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert got["interaction"] is None and got["total_call_count"] == 0


def test_query_fields_with_a_nul_are_absent(carrier: Carrier, http: httpx.Client) -> None:
    s = session(http)
    reply = carrier.post("callee-prompt", {}, {"session": s["session_uuid"] + "\x00", "party": "first"})
    assert reply.status_code == 200 and "Sorry" not in reply.text
    ET.fromstring(reply.text)


def test_a_call_in_progress_when_its_number_is_replaced_ends_as_it_would(
    carrier: Carrier, http: httpx.Client
) -> None:
    s = session(http)
    old = "+" + s["virtual_number"]
    dial_of(carrier.call("moving-1", "+" + s["first_party"], old))
    carrier.leg("moving-1", "answered")
    assert http.post(f"/Number/{old}/Replace/").json()["sessions_moved"] == 1
    moved = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert moved["status"] == "in-progress" and "+" + moved["virtual_number"] != old
    carrier.leg("moving-1", "completed")
    carrier.hangup("moving-1")
    ended = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert ended["status"] == "active" and ended["total_call_count"] == 2
    [interaction] = ended["interaction"]
    assert interaction["end_time"] != "" and interaction["second_party_status"] == "completed"
    _, dialled = dial_of(
        carrier.call("moving-2", "+" + s["second_party"], old)
    )  # the old number still joins them
    assert dialled == "+" + s["first_party"]
