"""Wire tolerances (contract §2.3, §2.4, §4.2, §10): what other SDKs and the docs send, which the
server must accept. Mostly raw HTTP, since the Python SDK never sends these shapes.

Tests that only create two-party sessions share one account (``tenant``); tests that list, or
that create single-party sessions (one per number), make their own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.contract.helpers import (
    PROMPT,
    assert_error,
    digits,
    gb_number,
    ts,
)
from tests.support import fresh_number


@pytest.fixture(scope="module")
def tenant(server):  # type: ignore[no-untyped-def]
    """One account for the module (overrides the per-test one of tests/conftest.py)."""
    return server.tenant()


def pair() -> dict[str, str]:
    return {"first_party": fresh_number(), "second_party": fresh_number()}


def create(http, body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- phone numbers --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape",
    [lambda n: n, lambda n: digits(n), lambda n: f"  {n} ", lambda n: f" {digits(n)}\t"],
    ids=["plus", "no plus", "spaces", "no plus and spaces"],
)
def test_party_number_shapes(http, shape):  # type: ignore[no-untyped-def]
    first, second = fresh_number(), fresh_number()
    session = create(http, {"first_party": shape(first), "second_party": shape(second)})["session"]
    assert (session["first_party"], session["second_party"]) == (digits(first), digits(second))


# -- integer coercions ----------------------------------------------------------------------
def test_numeric_strings_for_integers(http, clock):  # type: ignore[no-untyped-def]
    now = clock.now
    body = {
        **pair(),
        "session_expiry": "600",
        "call_time_limit": "120",
        "ring_timeout": "30",
        "virtual_number_cooloff_period": "60",
    }
    session = create(http, body)["session"]
    assert session["duration"] == 600
    assert session["expiry_time"] == ts(now + 600)
    assert (session["call_time_limit"], session["ring_timeout"]) == (120, 30)
    assert session["virtual_number_cooloff_period"] == 60


def test_numeric_strings_for_pin_integers(http):  # type: ignore[no-untyped-def]
    body = {
        **pair(),
        "is_pin_authentication_required": True,
        "generate_pin": True,
        "generate_pin_length": "6",
        "pin_prompt_play": PROMPT,
        "pin_retry": "2",
        "pin_retry_wait": "5",
    }
    session = create(http, body)["session"]
    assert session["generate_pin_length"] == 6
    assert len(session["first_party_pin"]) == 6
    assert (session["pin_retry"], session["pin_retry_wait"]) == (2, 5)


def test_zero_means_default_on_create(http, clock):  # type: ignore[no-untyped-def]
    now = clock.now
    body = {**pair(), "session_expiry": 0, "call_time_limit": 0, "ring_timeout": 0}
    session = create(http, body)["session"]
    assert session["duration"] == 1800
    assert session["expiry_time"] == ts(now + 1800)
    assert (session["call_time_limit"], session["ring_timeout"]) == (14400, 45)


def test_zero_strings_mean_default_on_create(http):  # type: ignore[no-untyped-def]
    session = create(http, {**pair(), "session_expiry": "0", "ring_timeout": "0"})["session"]
    assert (session["duration"], session["ring_timeout"]) == (1800, 45)


def test_java_style_create_body(http, clock):  # type: ignore[no-untyped-def]
    # §10: Java sends every primitive, as 0 or false, and geomatch true.
    now = clock.now
    body = {
        **pair(),
        "session_expiry": 0,
        "call_time_limit": 0,
        "ring_timeout": 0,
        "virtual_number_cooloff_period": 0,
        "record": False,
        "initiate_call_to_first_party": False,
        "is_pin_authentication_required": False,
        "generate_pin": False,
        "force_pin_authentication": False,
        "create_session_with_single_party": False,
        "geomatch": True,
        "pin_retry": 0,
        "pin_retry_wait": 0,
    }
    session = create(http, body)["session"]
    assert session["expiry_time"] == ts(now + 1800)
    assert (session["call_time_limit"], session["ring_timeout"]) == (14400, 45)
    assert session["virtual_number_cooloff_period"] == 0
    assert session["pin_retry"] is None and session["pin_retry_wait"] is None


def test_java_style_update_body(http, clock):  # type: ignore[no-untyped-def]
    created = create(http, {**pair(), "session_expiry": 900, "call_time_limit": 300, "record": True})
    clock.advance(5)
    body = {"session_expiry": 0, "call_time_limit": 0, "ring_timeout": 0, "record": False}
    response = http.post(f"/Session/{created['session_uuid']}/", json=body)
    assert response.status_code == 200
    session = response.json()["session"]
    assert session["expiry_time"] == created["session"]["expiry_time"]
    assert session["call_time_limit"] == 300
    assert session["ring_timeout"] == 45
    assert session["record"] is False  # taken literally (§5 Java note)


# -- boolean coercions ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("false", False), ("TRUE", True), ("False", False)]
)
def test_boolean_strings(http, text, expected):  # type: ignore[no-untyped-def]
    session = create(http, {**pair(), "record": text, "initiate_call_to_first_party": "false"})["session"]
    assert session["record"] is expected
    assert session["initiate_call_to_first_party"] is False


def test_boolean_strings_for_pin_flags(http):  # type: ignore[no-untyped-def]
    body = {
        **pair(),
        "is_pin_authentication_required": "true",
        "generate_pin": "True",
        "force_pin_authentication": "true",
        "pin_prompt_play": PROMPT,
    }
    session = create(http, body)["session"]
    assert session["is_pin_authentication_required"] is True
    assert session["generate_pin"] is True
    assert session["force_pin_authentication"] is True
    assert session["first_party_pin"] != session["second_party_pin"]


def test_geomatch_false_as_string(http, tenant):  # type: ignore[no-untyped-def]
    created = create(http, {"first_party": gb_number(), "second_party": fresh_number(), "geomatch": "false"})
    assert created["virtual_number"] in tenant.numbers


def test_single_party_flag_as_string(server, http_for):  # type: ignore[no-untyped-def]
    client = http_for(server.tenant(numbers=1))
    session = create(client, {"first_party": fresh_number(), "create_session_with_single_party": "true"})[
        "session"
    ]
    assert session["second_party"] == ""
    assert session["create_session_with_single_party"] is True


# -- PINs as JSON integers ------------------------------------------------------------------
def test_pins_as_json_integers(http):  # type: ignore[no-untyped-def]
    body = {
        **pair(),
        "is_pin_authentication_required": True,
        "first_party_pin": 1234,
        "second_party_pin": 567890,
        "pin_prompt_play": PROMPT,
    }
    session = create(http, body)["session"]
    assert (session["first_party_pin"], session["second_party_pin"]) == ("1234", "567890")


# -- SDK aliases ----------------------------------------------------------------------------
def test_go_single_party_alias_on_create(server, http_for):  # type: ignore[no-untyped-def]
    client = http_for(server.tenant(numbers=1))
    session = create(client, {"second_party": fresh_number(), "create_session_with_single_Party": True})[
        "session"
    ]
    assert session["first_party"] == ""
    assert session["create_session_with_single_party"] is True
    assert "create_session_with_single_Party" not in session
    # Go sends the alias on update as well: accepted, and the missing party can be filled in.
    first = fresh_number()
    response = client.post(
        f"/Session/{session['session_uuid']}/",
        json={"first_party": first, "create_session_with_single_Party": True},
    )
    assert response.status_code == 200, response.text
    assert response.json()["session"]["first_party"] == digits(first)


def test_node_geo_match_alias(http, tenant):  # type: ignore[no-untyped-def]
    created = create(http, {"first_party": gb_number(), "second_party": fresh_number(), "geo_match": False})
    assert created["virtual_number"] in tenant.numbers


def test_node_sub_account_alias(server, http_for):  # type: ignore[no-untyped-def]
    main = server.tenant(numbers=0)
    sub = server.tenant(numbers=1, parent=main.auth_id)
    client = http_for(main)
    created = create(client, {**pair(), "sub_account": sub.auth_id})
    assert created["session"]["subaccount"] == sub.auth_id
    assert created["virtual_number"] == sub.numbers[0]
    listed = client.get("/Session/", params={"sub_account": sub.auth_id}).json()["response"]
    assert [o["session_uuid"] for o in listed["objects"]] == [created["session_uuid"]]
    # Accepted and ignored on update.
    response = client.post(
        f"/Session/{created['session_uuid']}/", json={"sub_account": sub.auth_id, "geo_match": False}
    )
    assert response.status_code == 200
    assert response.json()["session"]["virtual_number"] == created["session"]["virtual_number"]


def test_node_sub_account_alias_is_validated(http):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json={**pair(), "sub_account": "SA" + "W" * 18})
    assert_error(response, 400, "Invalid parameter. subaccount is not valid.")


def test_node_geo_match_alias_is_validated(http):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json={**pair(), "geo_match": "sometimes"})
    assert_error(response, 400, "Invalid parameter. geomatch allowed values are true or false.")


# -- paths ----------------------------------------------------------------------------------
def test_paths_without_trailing_slash(server, http_for):  # type: ignore[no-untyped-def]
    client = http_for(server.tenant(numbers=1))
    created = client.post("/Session", json=pair())
    assert created.status_code == 201
    uuid_ = created.json()["session_uuid"]
    got = client.get(f"/Session/{uuid_}")
    assert got.status_code == 200
    assert got.json()["response"]["session_uuid"] == uuid_
    listed = client.get("/Session")
    assert listed.status_code == 200
    assert listed.json()["response"]["meta"]["total_count"] == 1
    updated = client.post(f"/Session/{uuid_}", json={"session_uuid": uuid_, "ring_timeout": 12})
    assert updated.status_code == 200
    assert updated.json()["session"]["ring_timeout"] == 12
    deleted = client.delete(f"/Session/{uuid_}")
    assert deleted.status_code == 200
    assert deleted.json()["message"] == "Session expired"


def test_double_slash_paths(server, tenant, http_for):  # type: ignore[no-untyped-def]
    # .NET async Get/Delete send Masking/Session//{uuid}/.
    client = http_for(tenant)
    uuid_ = create(client, pair())["session_uuid"]
    got = client.get(f"/Session//{uuid_}/")
    assert got.status_code == 200
    assert got.json()["response"]["session_uuid"] == uuid_
    updated = client.post(
        f"{server.url}/v1/Account/{tenant.auth_id}//Masking//Session//{uuid_}//", json={"record": True}
    )
    assert updated.status_code == 200
    assert updated.json()["session"]["record"] is True
    deleted = client.delete(f"/Session//{uuid_}/")
    assert deleted.status_code == 200
    assert deleted.json()["message"] == "Session expired"


def test_create_through_double_slashes_is_not_redirected(server, tenant, http_for):  # type: ignore[no-untyped-def]
    client = http_for(tenant)
    response = client.post(f"{server.url}//v1//Account/{tenant.auth_id}/Masking//Session//", json=pair())
    assert response.status_code == 201
    assert response.json()["message"] == "Session created"


# -- bodies on DELETE and GET ---------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [lambda u: json.dumps({"session_uuid": u}).encode(), lambda u: b"{}", lambda u: b"not json at all"],
    ids=["python", "node", "garbage"],
)
def test_delete_ignores_its_body(http, body):  # type: ignore[no-untyped-def]
    uuid_ = create(http, pair())["session_uuid"]
    response = http.request(
        "DELETE", f"/Session/{uuid_}/", content=body(uuid_), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["message"] == "Session expired"
    assert http.get(f"/Session/{uuid_}/").json()["response"]["status"] == "expired"


def test_get_ignores_a_body_and_json_content_type(http):  # type: ignore[no-untyped-def]
    uuid_ = create(http, pair())["session_uuid"]
    response = http.request(
        "GET", f"/Session/{uuid_}/", content=b"{broken", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["response"]["session_uuid"] == uuid_


# -- POST body parsing ----------------------------------------------------------------------
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_post_body_is_json_whatever_the_content_type(http, content_type):  # type: ignore[no-untyped-def]
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = {**pair(), "session_expiry": 700}
    response = http.post("/Session/", content=json.dumps(body).encode(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["session"]["duration"] == 700


def test_null_fields_are_absent_on_create(http, clock):  # type: ignore[no-untyped-def]
    now = clock.now
    body = {
        **pair(),
        "session_expiry": None,
        "call_time_limit": None,
        "ring_timeout": None,
        "record": None,
        "record_file_format": None,
        "recording_callback_url": None,
        "recording_callback_method": None,
        "initiate_call_to_first_party": None,
        "callback_url": None,
        "callback_method": None,
        "first_party_play_url": None,
        "second_party_play_url": None,
        "is_pin_authentication_required": None,
        "first_party_pin": None,
        "unknown_caller_play": None,
        "subaccount": None,
        "geomatch": None,
        "create_session_with_single_party": None,
        "virtual_number_cooloff_period": None,
    }
    session = create(http, body)["session"]
    assert session["expiry_time"] == ts(now + 1800)
    assert (session["call_time_limit"], session["ring_timeout"]) == (14400, 45)
    assert (session["record"], session["record_file_format"]) == (False, "mp3")
    assert (session["callback_url"], session["callback_method"]) == ("", "POST")
    assert (session["recording_callback_url"], session["recording_callback_method"]) == ("", "POST")
    assert (session["first_party_play_url"], session["second_party_play_url"]) == ("", "")
    assert session["is_pin_authentication_required"] is False
    assert session["unknown_caller_play"] == ""
    assert session["create_session_with_single_party"] is False
    assert "subaccount" not in session


def test_null_party_counts_as_missing(http):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json={"first_party": fresh_number(), "second_party": None})
    assert_error(response, 400, "Mandatory parameter missing. second_party must be present.")


def test_null_fields_are_absent_on_update(http, clock):  # type: ignore[no-untyped-def]
    created = create(http, {**pair(), "record": True, "callback_url": "https://hooks.example.com/s"})
    clock.advance(2)
    body = {
        "session_expiry": None,
        "record": None,
        "callback_url": None,
        "pin_retry": None,
        "is_pin_authentication_required": None,
        "first_party": None,
    }
    response = http.post(f"/Session/{created['session_uuid']}/", json=body)
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    assert session == {**created["session"], "modified_time": ts(clock.now)}


def test_unknown_keys_are_ignored(http):  # type: ignore[no-untyped-def]
    body = {**pair(), "api_id": "x", "session_uuid": "y", "is_pin_authentication": True, "colour": "blue"}
    created = create(http, body)
    assert created["session_uuid"] != "y"
    assert created["session"]["is_pin_authentication_required"] is False


def test_update_with_only_session_uuid_or_empty_object(http, clock):  # type: ignore[no-untyped-def]
    created = create(http, pair())
    uuid_ = created["session_uuid"]
    for body in ({"session_uuid": uuid_}, {}, None):
        clock.advance(1)
        if body is None:
            response = http.post(f"/Session/{uuid_}/", content=b"")
        else:
            response = http.post(f"/Session/{uuid_}/", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Session updated"
        assert response.json()["session"] == {**created["session"], "modified_time": ts(clock.now)}


def test_list_accepts_an_encoded_space_and_json_content_type(server, http_for, clock):  # type: ignore[no-untyped-def]
    client = http_for(server.tenant(numbers=1))
    created = create(client, pair())
    since = ts(clock.now - 60)[:19]
    response = client.get(
        "/Session/", params={"created_time__gte": since}, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert [o["session_uuid"] for o in response.json()["response"]["objects"]] == [created["session_uuid"]]
