"""Bad input over real HTTP: always a 4xx in the Plivo error shape, never a 500, nothing changed."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import ServerThread, Tenant, fresh_number

INVALID_JSON = "Invalid JSON body."


def session_count(http: httpx.Client) -> int:
    return int(http.get("/Session/", params={"status": "all"}).json()["response"]["meta"]["total_count"])


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b'"text"',
        b"42",
        b"null",
        b"\xff\xfe\xfd",
        b"[" * 60_000,
        b'{"first_party": "\\ud800"}',
        b'{"first_party": "\x80"}',  # not UTF-8 inside a string
        b'{"a": 1e999}',
        b"{'single': 'quotes'}",
    ],
)
def test_malformed_bodies(http: httpx.Client, raw: bytes) -> None:
    reply = http.post("/Session/", content=raw)
    assert reply.status_code == 400
    body = reply.json()
    assert set(body) == {"api_id", "error"} and body["error"] == INVALID_JSON
    assert session_count(http) == 0


def test_huge_body(http: httpx.Client) -> None:
    reply = http.post("/Session/", content=b'{"first_party": "' + b"1" * 100_000 + b'"}')
    assert reply.status_code == 400
    assert reply.json()["error"] == "Invalid JSON body. The body should be under 65536 bytes."


def test_huge_body_without_content_length(http: httpx.Client) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1024

    reply = http.post("/Session/", content=chunks())
    assert reply.status_code == 400 and "under 65536 bytes" in reply.json()["error"]


def test_form_content_type_still_parsed_as_json(http: httpx.Client) -> None:
    body = json.dumps({"first_party": fresh_number(), "second_party": fresh_number()})
    reply = http.post(
        "/Session/", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status_code == 201


def test_odd_unicode_in_fields(http: httpx.Client) -> None:
    cases = [
        {"first_party": "+1４１５５５５０１１１", "second_party": fresh_number()},
        {
            "first_party": fresh_number(),
            "second_party": fresh_number(),
            "callback_url": "https://exa\u200bmple.com/",
        },
        {"first_party": fresh_number(), "second_party": fresh_number(), "callback_url": "https://例え.jp/ü"},
        {"first_party": "\u0000", "second_party": fresh_number()},
        {
            "first_party": fresh_number(),
            "second_party": fresh_number(),
            "first_party_play_url": "http://a/\U0001f600",
        },
    ]
    for body in cases:
        reply = http.post("/Session/", json=body)
        assert reply.status_code in (201, 400), reply.text
        assert "error" in reply.json() or reply.status_code == 201


def test_odd_query_strings(http: httpx.Client) -> None:
    for query in (
        "limit=%ff",
        "first_party=%00",
        "created_time__gt=%E2%82%AC",
        "status=%C0%AF",
        "offset=99999999999999999",
    ):
        reply = http.get(f"/Session/?{query}")
        assert reply.status_code == 400, (query, reply.text)
        assert set(reply.json()) == {"api_id", "error"}


finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=30)
bodies = st.dictionaries(
    st.sampled_from(
        [
            "first_party",
            "second_party",
            "session_expiry",
            "record",
            "callback_url",
            "is_pin_authentication_required",
            "first_party_pin",
            "second_party_pin",
            "pin_prompt_play",
            "subaccount",
            "geomatch",
            "create_session_with_single_party",
            "ring_timeout",
            "virtual_number_cooloff_period",
            "generate_pin",
        ]
    )
    | st.text(max_size=8),
    json_scalars | st.lists(json_scalars, max_size=2),
    max_size=6,
)


@settings(max_examples=60)
@given(body=bodies)
def test_random_bodies_get_201_or_a_400(server: ServerThread, body: dict) -> None:
    tenant = fuzz_tenant(server)
    with httpx.Client(auth=(tenant.auth_id, tenant.auth_token), trust_env=False) as client:
        reply = client.post(f"{server.url}/v1/Account/{tenant.auth_id}/Masking/Session/", json=body)
    assert reply.status_code in (201, 400), reply.text
    assert ("error" in reply.json()) == (reply.status_code == 400)


@settings(max_examples=40)
@given(raw=st.binary(max_size=200))
def test_random_bytes_get_a_400_or_201(server: ServerThread, raw: bytes) -> None:
    tenant = fuzz_tenant(server)
    with httpx.Client(auth=(tenant.auth_id, tenant.auth_token), trust_env=False) as client:
        reply = client.post(f"{server.url}/v1/Account/{tenant.auth_id}/Masking/Session/", content=raw)
    assert reply.status_code in (201, 400), reply.text


_fuzz: dict[str, Tenant] = {}


def fuzz_tenant(server: ServerThread) -> Tenant:
    """One account for all fuzz examples, with a large pool so allocation rarely refuses."""
    if server.url not in _fuzz:
        _fuzz[server.url] = server.tenant(numbers=20)
    return _fuzz[server.url]
