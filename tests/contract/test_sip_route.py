"""The endpoints a SIP proxy calls: the routing decision for each new INVITE (the same as the
carrier webhooks'), and its reports of the callee answering and the call ending."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from maskline.http.sip import SipEndpoints
from tests.databases import Databases, query
from tests.support import FakeClock, ServerThread, fresh_number


def session(http: httpx.Client, **params: object) -> dict[str, str]:
    body = {"first_party": fresh_number(), "second_party": fresh_number(), **params}
    reply = http.post("/Session/", json=body)
    assert reply.status_code == 201, reply.text
    made = reply.json()["session"]
    numbers = ("first_party", "second_party", "virtual_number")
    return {"session_uuid": made["session_uuid"], **{k: "+" + made[k] for k in numbers}}


def ask(
    server: ServerThread, caller: str, number: str, call_id: str = "c-1", **kw: object
) -> dict[str, object]:
    reply = httpx.get(
        f"{server.url}/sip/route",
        params={"from": caller, "to": number, "callid": call_id},
        trust_env=False,
        **kw,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_party_is_bridged_to_the_other_showing_the_virtual_number(
    server: ServerThread, http: httpx.Client
) -> None:
    s = session(http, call_time_limit=600, ring_timeout=20)
    answer = ask(server, s["first_party"], s["virtual_number"], "sip-call-1")
    assert answer == {
        "action": "bridge",
        "dest": f"sip:{s['second_party']}@{server.config.sip_trunk}",
        "caller_id": s["virtual_number"],
        "time_limit": 600,
        "ring_timeout": 20,
    }
    back = ask(server, s["second_party"], s["virtual_number"], "sip-call-2")
    assert back["dest"] == f"sip:{s['first_party']}@{server.config.sip_trunk}"
    # Kamailio sends numbers as it got them; without "+" they are the same numbers.
    bare = ask(server, s["first_party"].lstrip("+"), s["virtual_number"].lstrip("+"), "sip-call-3")
    assert bare["action"] == "bridge"


def test_calls_are_recorded_as_interactions(server: ServerThread, http: httpx.Client) -> None:
    s = session(http)
    assert ask(server, s["first_party"], s["virtual_number"], "sip-rec-1")["action"] == "bridge"
    report = f"{server.url}/sip/event"
    for event in ("answered", "ended"):
        body = {"callid": "sip-rec-1", "to": s["virtual_number"], "event": event}
        assert httpx.post(report, json=body, trust_env=False).json() == {"ok": True}
        if event == "answered":
            got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
            assert got["status"] == "in-progress"
    got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert got["status"] == "active" and got["total_call_count"] == 2
    [interaction] = got["interaction"]
    assert interaction["type"] == "call" and interaction["end_time"] != ""
    assert interaction["first_party_resource_url"] == "sip:sip-rec-1"  # the caller's leg
    assert interaction["second_party_resource_url"] == "sip:sip-rec-1;callee"
    bad = httpx.post(report, json={"callid": "x", "event": "exploded"}, trust_env=False)
    assert bad.status_code == 400


def test_a_failed_call_keeps_the_proxys_final_status(server: ServerThread, http: httpx.Client) -> None:
    report = f"{server.url}/sip/event"
    for call_id, status, kept in (("sip-busy-1", "486", "486"), ("sip-odd-1", "+14155550100", "")):
        s = session(http)
        assert ask(server, s["first_party"], s["virtual_number"], call_id)["action"] == "bridge"
        body = {"callid": call_id, "to": s["virtual_number"], "event": "ended", "status": status}
        assert httpx.post(report, json=body, trust_env=False).json() == {"ok": True}
        got = query(server.database, "SELECT b_status, b_cause FROM calls WHERE call_id = ?", call_id)
        assert got == [("no-answer", kept)]  # a final status is three digits: nothing else is kept


def test_rejections_carry_sip_codes(server: ServerThread, http: httpx.Client) -> None:
    s = session(http)
    stranger = fresh_number()
    assert ask(server, stranger, s["virtual_number"]) == {
        "action": "reject",
        "code": 403,
        "reason": "rejected",
    }
    assert ask(server, s["first_party"], fresh_number("+1628"))["code"] == 404  # no such number
    assert ask(server, s["first_party"], "not a number")["code"] == 404
    assert http.delete(f"/Session/{s['session_uuid']}/").status_code == 200
    assert ask(server, s["first_party"], s["virtual_number"]) == {
        "action": "reject",
        "code": 480,
        "reason": "session expired",
    }
    # A proxy cannot prompt for a PIN: an unknown caller on a PIN session is refused.
    pinned = session(
        http,
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="4321",
        pin_prompt_play="https://example.com/prompt.mp3",
    )
    assert ask(server, stranger, pinned["virtual_number"])["code"] == 403


def test_posted_json_is_the_same_question(server: ServerThread, http: httpx.Client) -> None:
    s = session(http)
    body = {"from": s["first_party"], "to": s["virtual_number"], "callid": "sip-json-1"}
    reply = httpx.post(f"{server.url}/sip/route", json=body, trust_env=False)
    assert reply.json()["action"] == "bridge"
    # Bytes that are not UTF-8 inside a JSON string are a body without fields, not a crash.
    odd = httpx.post(f"{server.url}/sip/route", content=b'{"from": "\x80"}', trust_env=False)
    assert odd.status_code == 200 and odd.json()["action"] == "reject"
    odd = httpx.post(f"{server.url}/sip/event", content=b'{"event": "\x80"}', trust_env=False)
    assert odd.status_code == 400 and set(odd.json()) == {"api_id", "error"}


def test_only_the_proxy_may_ask(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock(), sip_secret="proxy-secret").start()
    try:
        url = f"{server.url}/sip/route?from=%2B14155550100&to=%2B14155550101&callid=x"
        assert httpx.get(url, trust_env=False).status_code == 403
        assert httpx.get(url, headers={"X-Maskline-Secret": "wrong"}, trust_env=False).status_code == 403
        allowed = httpx.get(url, headers={"X-Maskline-Secret": "proxy-secret"}, trust_env=False)
        assert allowed.json()["code"] == 404
    finally:
        server.stop()


@pytest.mark.parametrize(("host", "allowed"), [("127.0.0.1", True), ("10.1.2.3", True), ("192.0.2.7", False)])
def test_without_a_secret_the_source_address_decides(host: str, allowed: bool) -> None:
    endpoints = SipEndpoints(lambda: None, "trunk", "", ["127.0.0.1/32", "10.0.0.0/8"])  # type: ignore[arg-type,return-value]
    scope = {"type": "http", "method": "GET", "path": "/sip/route", "headers": [], "client": (host, 5)}
    assert endpoints._allowed(Request(scope)) is allowed


def test_a_call_id_no_database_could_store_is_refused_alike_on_both(
    server: ServerThread, http: httpx.Client
) -> None:
    s = session(http)
    for call_id in ("x" * 100, "nul-\x00-id"):
        assert ask(server, s["first_party"], s["virtual_number"], call_id)["code"] == 404
        event = {"event": "answered", "callid": call_id, "to": s["virtual_number"]}
        reply = httpx.post(f"{server.url}/sip/event", json=event, trust_env=False)
        assert reply.status_code == 400 and set(reply.json()) == {"api_id", "error"}
    got = http.get(f"/Session/{s['session_uuid']}/").json()["response"]
    assert got["interaction"] is None
