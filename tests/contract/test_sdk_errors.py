"""Every error message of contract §8.1 and the catalogue §8.2, through the official SDK where it
can send the request, and through raw HTTP where it cannot (wrong methods, malformed bodies,
invalid URLs on create, non-updatable fields, other accounts' paths).

Validation errors never create anything, so this module shares one account (``tenant``) between
its tests; tests that need a particular pool make their own account.
"""

from __future__ import annotations

import uuid
from typing import Any

import plivo
import pytest

from tests.contract.helpers import (
    AUDIO,
    PROMPT,
    assert_error,
    ca_number,
    digits,
    filter_time,
    freephone_number,
    gb_number,
    raises_exact,
)
from tests.support import fresh_number

ValidationError = plivo.exceptions.ValidationError
AuthenticationError = plivo.exceptions.AuthenticationError
ResourceNotFoundError = plivo.exceptions.ResourceNotFoundError
InvalidRequestError = plivo.exceptions.InvalidRequestError

EXPIRED = "Session already expired"
EXHAUSTED = "Number pool exhausted or not available"
AUTH_FAILED = "Authentication failed"
NOT_FOUND = "Session not found"
NOT_ALLOWED = "Method not allowed"
INVALID_JSON = "Invalid JSON body."
LONG_URL = "https://hooks.example.com/" + "a" * (1000 - len("https://hooks.example.com/"))
assert len(LONG_URL) == 1000


@pytest.fixture(scope="module")
def tenant(server):  # type: ignore[no-untyped-def]
    """One account for the whole module (overrides the per-test one of tests/conftest.py)."""
    return server.tenant()


def missing(field: str) -> str:
    return f"Mandatory parameter missing. {field} must be present."


def bad_phone(field: str) -> str:
    return f"Invalid parameter. {field} is not a valid phone number."


def out_of_range(field: str) -> str:
    return f"Invalid parameter. {field} is outside the allowed range."


def not_bool(field: str) -> str:
    return f"Invalid parameter. {field} allowed values are true or false."


def not_method(field: str) -> str:
    return f"Invalid parameter. {field} allowed values are GET or POST."


def not_url(field: str) -> str:
    return f"Invalid parameter. {field} should be a valid URL."


def not_pin(field: str) -> str:
    return f"Invalid parameter. {field} should be 4 to 15 digits."


def not_updatable(field: str) -> str:
    return f"Invalid parameter. {field} cannot be updated for an active session."


FORMAT = "Invalid parameter. record_file_format allowed values are mp3 or wav."
TOO_LONG = "Invalid parameter. recording_callback_url should be under 1000 characters."
PINS_EQUAL = "Invalid parameter. first_party_pin and second_party_pin must be different."
PARTIES_EQUAL = "Invalid parameter. first_party and second_party must be different."
SUBACCOUNT = "Invalid parameter. subaccount is not valid."
INITIATE = "Invalid parameter. initiate_call_to_first_party is not available on this server."
LIMIT = "Invalid parameter. limit should be between 1 and 20."
OFFSET = "Invalid parameter. offset should be 0 or more."
STATUS = "Invalid parameter. status allowed values are active, in-progress, expired or all."


def bad_time(field: str) -> str:
    return f"Invalid parameter. {field} should be a UTC time as YYYY-MM-DD HH:MM[:ss[.uuuuuu]]."


def bad_count(field: str) -> str:
    return f"Invalid parameter. {field} should be a whole number 0 or more."


def pair() -> dict[str, str]:
    return {"first_party": fresh_number(), "second_party": fresh_number()}


def pin_on(**extra: Any) -> dict[str, Any]:
    return {
        "is_pin_authentication_required": True,
        "first_party_pin": "1234",
        "second_party_pin": "5678",
        "pin_prompt_play": PROMPT,
        **extra,
    }


def new_session(sessions, **extra):  # type: ignore[no-untyped-def]
    return sessions.create_masking_session(**pair(), **extra)


# -- create: one invalid field at a time, through the SDK ------------------------------------
CREATE_CASES: list[tuple[str, dict[str, Any], str]] = [
    # first_party / second_party
    ("first missing", {"first_party": None}, missing("first_party")),
    ("first empty", {"first_party": ""}, missing("first_party")),
    ("first blank", {"first_party": "   "}, missing("first_party")),
    ("first short", {"first_party": "12345"}, bad_phone("first_party")),
    ("first letters", {"first_party": "not-a-number"}, bad_phone("first_party")),
    ("first unassigned", {"first_party": "+10005550100"}, bad_phone("first_party")),
    ("first too long", {"first_party": "+1" + "4" * 70}, bad_phone("first_party")),
    ("second missing", {"second_party": None}, missing("second_party")),
    ("second empty", {"second_party": ""}, missing("second_party")),
    ("second short", {"second_party": "12345"}, bad_phone("second_party")),
    ("second letters", {"second_party": "abc"}, bad_phone("second_party")),
    # create_session_with_single_party
    (
        "single not bool",
        {"create_session_with_single_party": "maybe"},
        not_bool("create_session_with_single_party"),
    ),
    # session_expiry
    ("expiry 59", {"session_expiry": 59}, out_of_range("session_expiry")),
    ("expiry 86401", {"session_expiry": 86401}, out_of_range("session_expiry")),
    ("expiry abc", {"session_expiry": "abc"}, out_of_range("session_expiry")),
    ("expiry true", {"session_expiry": True}, out_of_range("session_expiry")),
    ("expiry 1.5", {"session_expiry": 1.5}, out_of_range("session_expiry")),
    ("expiry negative", {"session_expiry": -60}, out_of_range("session_expiry")),
    ("expiry string 59", {"session_expiry": "59"}, out_of_range("session_expiry")),
    ("expiry string fraction", {"session_expiry": "600.5"}, out_of_range("session_expiry")),
    # call_time_limit
    ("ctl 59", {"call_time_limit": 59}, out_of_range("call_time_limit")),
    ("ctl 86401", {"call_time_limit": 86401}, out_of_range("call_time_limit")),
    ("ctl abc", {"call_time_limit": "abc"}, out_of_range("call_time_limit")),
    ("ctl true", {"call_time_limit": True}, out_of_range("call_time_limit")),
    ("ctl 1.5", {"call_time_limit": 1.5}, out_of_range("call_time_limit")),
    ("ctl negative", {"call_time_limit": -1}, out_of_range("call_time_limit")),
    # ring_timeout
    ("ring -1", {"ring_timeout": -1}, out_of_range("ring_timeout")),
    ("ring 86401", {"ring_timeout": 86401}, out_of_range("ring_timeout")),
    ("ring abc", {"ring_timeout": "abc"}, out_of_range("ring_timeout")),
    ("ring true", {"ring_timeout": True}, out_of_range("ring_timeout")),
    ("ring 2.5", {"ring_timeout": 2.5}, out_of_range("ring_timeout")),
    # record, record_file_format
    ("record yes", {"record": "yes"}, not_bool("record")),
    ("record 1", {"record": 1}, not_bool("record")),
    ("record 0", {"record": 0}, not_bool("record")),
    ("format ogg", {"record_file_format": "ogg"}, FORMAT),
    ("format number", {"record_file_format": 3}, FORMAT),
    # recording_callback_url (values the SDK's loose client-side pattern lets through)
    ("rec url 1000", {"recording_callback_url": LONG_URL}, TOO_LONG),
    ("rec url space", {"recording_callback_url": "http://exa mple.com/r"}, not_url("recording_callback_url")),
    ("rec url no host", {"recording_callback_url": "http:///path"}, not_url("recording_callback_url")),
    (
        "rec url invalid and long",
        {"recording_callback_url": LONG_URL[:-1] + " "},
        not_url("recording_callback_url"),
    ),
    # methods
    ("rec method PUT", {"recording_callback_method": "PUT"}, not_method("recording_callback_method")),
    ("rec method number", {"recording_callback_method": 1}, not_method("recording_callback_method")),
    ("cb method PUT", {"callback_method": "PUT"}, not_method("callback_method")),
    ("cb method DELETE", {"callback_method": "DELETE"}, not_method("callback_method")),
    # initiate_call_to_first_party
    ("initiate true", {"initiate_call_to_first_party": True}, INITIATE),
    ("initiate string true", {"initiate_call_to_first_party": "true"}, INITIATE),
    ("initiate not bool", {"initiate_call_to_first_party": "soon"}, not_bool("initiate_call_to_first_party")),
    # other URLs that pass the SDK's pattern
    ("cb url space", {"callback_url": "http://bad host/x"}, not_url("callback_url")),
    ("first play no host", {"first_party_play_url": "https:///a.mp3"}, not_url("first_party_play_url")),
    ("second play space", {"second_party_play_url": "http://a b/c.mp3"}, not_url("second_party_play_url")),
    ("unknown play space", {"unknown_caller_play": "http://a b/c.mp3"}, not_url("unknown_caller_play")),
    # flags
    (
        "pin flag not bool",
        {"is_pin_authentication_required": "maybe"},
        not_bool("is_pin_authentication_required"),
    ),
    ("geomatch not bool", {"geomatch": "perhaps"}, not_bool("geomatch")),
    ("cooloff 3601", {"virtual_number_cooloff_period": 3601}, out_of_range("virtual_number_cooloff_period")),
    ("cooloff -1", {"virtual_number_cooloff_period": -1}, out_of_range("virtual_number_cooloff_period")),
    ("cooloff abc", {"virtual_number_cooloff_period": "abc"}, out_of_range("virtual_number_cooloff_period")),
    # PIN block (PIN auth on)
    ("pin first 3 digits", pin_on(first_party_pin="123"), not_pin("first_party_pin")),
    ("pin first 16 digits", pin_on(first_party_pin="1" * 16), not_pin("first_party_pin")),
    ("pin first letters", pin_on(first_party_pin="12a4"), not_pin("first_party_pin")),
    ("pin first int 3 digits", pin_on(first_party_pin=123), not_pin("first_party_pin")),
    ("pin first negative int", pin_on(first_party_pin=-1234), not_pin("first_party_pin")),
    ("pin second 3 digits", pin_on(second_party_pin="999"), not_pin("second_party_pin")),
    ("pin second 16 digits", pin_on(second_party_pin="2" * 16), not_pin("second_party_pin")),
    ("pin second spaces", pin_on(second_party_pin="12 34"), not_pin("second_party_pin")),
    ("pins equal", pin_on(first_party_pin="4321", second_party_pin="4321"), PINS_EQUAL),
    ("pins equal int and string", pin_on(first_party_pin=4321, second_party_pin="4321"), PINS_EQUAL),
    ("pin first missing", pin_on(first_party_pin=None), missing("first_party_pin")),
    ("pin first empty", pin_on(first_party_pin=""), missing("first_party_pin")),
    ("pin second missing", pin_on(second_party_pin=None), missing("second_party_pin")),
    ("pins both missing", pin_on(first_party_pin=None, second_party_pin=None), missing("first_party_pin")),
    ("pin prompt missing", pin_on(pin_prompt_play=None), missing("pin_prompt_play")),
    ("pin prompt space", pin_on(pin_prompt_play="http://a b/p.mp3"), not_url("pin_prompt_play")),
    ("incorrect play space", pin_on(incorrect_pin_play="http://a b/p.mp3"), not_url("incorrect_pin_play")),
    ("generate_pin not bool", pin_on(generate_pin="x"), not_bool("generate_pin")),
    ("pin length 3", pin_on(generate_pin=True, generate_pin_length=3), out_of_range("generate_pin_length")),
    ("pin length 16", pin_on(generate_pin=True, generate_pin_length=16), out_of_range("generate_pin_length")),
    (
        "pin length abc",
        pin_on(generate_pin=True, generate_pin_length="abc"),
        out_of_range("generate_pin_length"),
    ),
    ("pin length without generate", pin_on(generate_pin_length=20), out_of_range("generate_pin_length")),
    (
        "pin generated prompt missing",
        pin_on(generate_pin=True, pin_prompt_play=None),
        missing("pin_prompt_play"),
    ),
    ("pin retry 6", pin_on(pin_retry=6), out_of_range("pin_retry")),
    ("pin retry -1", pin_on(pin_retry=-1), out_of_range("pin_retry")),
    ("pin retry wait 4", pin_on(pin_retry_wait=4), out_of_range("pin_retry_wait")),
    ("pin retry wait 11", pin_on(pin_retry_wait=11), out_of_range("pin_retry_wait")),
    ("pin retry wait x", pin_on(pin_retry_wait="x"), out_of_range("pin_retry_wait")),
    ("force pin not bool", pin_on(force_pin_authentication="x"), not_bool("force_pin_authentication")),
    # subaccount named by a main account
    ("subaccount unknown", {"subaccount": "SA" + "Z" * 18}, SUBACCOUNT),
    ("subaccount malformed", {"subaccount": "nobody"}, SUBACCOUNT),
]


@pytest.mark.parametrize(
    ("overrides", "message"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES]
)
def test_create_rejects(sessions, overrides, message):  # type: ignore[no-untyped-def]
    params: dict[str, Any] = {**pair(), **overrides}
    params = {k: v for k, v in params.items() if v is not None}
    with raises_exact(ValidationError, message):
        sessions.create_masking_session(**params)


def test_rejected_creates_leave_nothing_behind(sessions):  # type: ignore[no-untyped-def]
    first = fresh_number()
    for overrides in (
        {"session_expiry": 5},
        {"record": "x"},
        pin_on(pin_prompt_play=None),
        {"subaccount": "x"},
    ):
        with pytest.raises(ValidationError):
            sessions.create_masking_session(first_party=first, second_party=fresh_number(), **overrides)
    assert sessions.list_masking_session(first_party=first).response.meta.total_count == 0


def test_create_rejects_equal_parties(sessions):  # type: ignore[no-untyped-def]
    number = fresh_number()
    with raises_exact(ValidationError, PARTIES_EQUAL):
        sessions.create_masking_session(first_party=number, second_party=number)
    # Compared after normalisation.
    with raises_exact(ValidationError, PARTIES_EQUAL):
        sessions.create_masking_session(first_party=number, second_party=" " + digits(number))


def test_single_party_without_any_party(sessions):  # type: ignore[no-untyped-def]
    with raises_exact(ValidationError, missing("first_party")):
        sessions.create_masking_session(create_session_with_single_party=True)


def test_subaccount_of_another_account_is_not_valid(server, sessions):  # type: ignore[no-untyped-def]
    stranger = server.tenant(numbers=0)
    their_sub = server.tenant(numbers=1, parent=stranger.auth_id)
    with raises_exact(ValidationError, SUBACCOUNT):
        sessions.create_masking_session(**pair(), subaccount=their_sub.auth_id)
    # A main account id is not a subaccount either.
    with raises_exact(ValidationError, SUBACCOUNT):
        sessions.create_masking_session(**pair(), subaccount=stranger.auth_id)
    # Nor is anything else shaped like one (NUL characters once reached PostgreSQL: a 500).
    for odd in ("SA" + "\x00" * 18, "SA" + "é" * 18, "SA1"):
        with raises_exact(ValidationError, SUBACCOUNT):
            sessions.create_masking_session(**pair(), subaccount=odd)


def test_subaccount_may_only_name_itself(server, tenant, sdk_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    sibling = server.tenant(numbers=1, parent=tenant.auth_id)
    client = sdk_for(sub).masking_sessions
    with raises_exact(ValidationError, SUBACCOUNT):
        client.create_masking_session(**pair(), subaccount=sibling.auth_id)
    with raises_exact(ValidationError, SUBACCOUNT):
        client.create_masking_session(**pair(), subaccount=tenant.auth_id)
    with raises_exact(ValidationError, SUBACCOUNT):
        client.list_masking_session(subaccount=sibling.auth_id)


def test_list_subaccount_filter_must_be_own_subaccount(server, sessions):  # type: ignore[no-untyped-def]
    stranger = server.tenant(numbers=0)
    their_sub = server.tenant(numbers=0, parent=stranger.auth_id)
    for value in (their_sub.auth_id, "SA" + "Y" * 18):
        with raises_exact(ValidationError, SUBACCOUNT):
            sessions.list_masking_session(subaccount=value)


# -- create: invalid URLs the SDK would refuse on the client (§9.3), sent raw ----------------
URL_FIELDS = [
    "recording_callback_url",
    "callback_url",
    "first_party_play_url",
    "second_party_play_url",
    "unknown_caller_play",
]


@pytest.mark.parametrize("field", URL_FIELDS)
@pytest.mark.parametrize(
    "value", ["not a url", "ftp://example.com/file.mp3", "example.com/x", "https://", 42]
)
def test_create_rejects_invalid_url_raw(http, field, value):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json={**pair(), field: value})
    assert_error(response, 400, not_url(field))


@pytest.mark.parametrize("field", ["pin_prompt_play", "incorrect_pin_play"])
def test_create_rejects_invalid_pin_urls_raw(http, field):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json={**pair(), **pin_on(), field: "not a url"})
    assert_error(response, 400, not_url(field))


def test_create_url_check_comes_before_the_length_check_raw(http):  # type: ignore[no-untyped-def]
    value = "x" * 1200
    response = http.post("/Session/", json={**pair(), "recording_callback_url": value})
    assert_error(response, 400, not_url("recording_callback_url"))


# -- create: check order (§4.3) --------------------------------------------------------------
ORDER_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("first before second", {"first_party": "123", "second_party": None}, bad_phone("first_party")),
    ("second before expiry", {"second_party": None, "session_expiry": 5}, missing("second_party")),
    ("expiry before ctl", {"session_expiry": 5, "call_time_limit": 5}, out_of_range("session_expiry")),
    ("ctl before ring", {"call_time_limit": 5, "ring_timeout": -5}, out_of_range("call_time_limit")),
    ("record before url", {"record": "x", "recording_callback_url": "http://a b"}, not_bool("record")),
    (
        "ctl before initiate",
        {"call_time_limit": 5, "initiate_call_to_first_party": True},
        out_of_range("call_time_limit"),
    ),
    (
        "initiate before callback method",
        {"initiate_call_to_first_party": True, "callback_method": "PUT"},
        INITIATE,
    ),
    (
        "single bothless after fields",
        {
            "first_party": None,
            "second_party": None,
            "create_session_with_single_party": True,
            "session_expiry": 5,
        },
        out_of_range("session_expiry"),
    ),
    ("subaccount before geomatch", {"subaccount": "SA" + "X" * 18, "geomatch": "x"}, SUBACCOUNT),
    ("geomatch before cooloff", {"geomatch": "x", "virtual_number_cooloff_period": -1}, not_bool("geomatch")),
    (
        "pins equal before prompt",
        pin_on(first_party_pin="1111", second_party_pin="1111", pin_prompt_play=None),
        PINS_EQUAL,
    ),
    ("pin missing after pin retry", pin_on(first_party_pin=None, pin_retry=7), out_of_range("pin_retry")),
    (
        "pin length before pins",
        pin_on(generate_pin_length=2, first_party_pin="1"),
        out_of_range("generate_pin_length"),
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES]
)
def test_create_first_failure_wins(sessions, overrides, message):  # type: ignore[no-untyped-def]
    params: dict[str, Any] = {**pair(), **overrides}
    params = {k: v for k, v in params.items() if v is not None}
    with raises_exact(ValidationError, message):
        sessions.create_masking_session(**params)


def test_parties_equal_comes_before_pin_checks(sessions):  # type: ignore[no-untyped-def]
    number = fresh_number()
    with raises_exact(ValidationError, PARTIES_EQUAL):
        sessions.create_masking_session(
            first_party=number, second_party=number, is_pin_authentication_required=True
        )


def test_cooloff_range_comes_before_parties_equal(sessions):  # type: ignore[no-untyped-def]
    number = fresh_number()
    with raises_exact(ValidationError, out_of_range("virtual_number_cooloff_period")):
        sessions.create_masking_session(
            first_party=number, second_party=number, virtual_number_cooloff_period=4000
        )


def test_validation_comes_before_allocation(server, sdk_for):  # type: ignore[no-untyped-def]
    empty = sdk_for(server.tenant(numbers=0)).masking_sessions
    with raises_exact(ValidationError, not_bool("record")):
        empty.create_masking_session(**pair(), record="x")
    with raises_exact(ValidationError, EXHAUSTED):
        empty.create_masking_session(**pair())


# -- allocation -------------------------------------------------------------------------------
def test_pool_exhausted_when_the_party_holds_the_only_number(server, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    a = fresh_number()
    client.create_masking_session(first_party=a, second_party=fresh_number())
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(first_party=a, second_party=fresh_number())
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(first_party=fresh_number(), second_party=a)
    # Other parties still fit on the same number.
    client.create_masking_session(first_party=fresh_number(), second_party=fresh_number())


def test_pool_exhausted_for_the_same_pair_twice(server, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    params = pair()
    client.create_masking_session(**params)
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(**params)


def test_pool_exhausted_with_an_empty_pool(server, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=0)).masking_sessions
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(**pair())


@pytest.mark.parametrize("foreign", [gb_number, ca_number], ids=["GB", "CA"])
def test_pool_exhausted_on_geomatch_mismatch(sessions, foreign):  # type: ignore[no-untyped-def]
    with raises_exact(ValidationError, EXHAUSTED):
        sessions.create_masking_session(first_party=foreign(), second_party=fresh_number())


def test_geomatch_follows_the_first_party_not_the_second(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=gb_number())
    assert created.session.status == "active"
    with raises_exact(ValidationError, EXHAUSTED):
        sessions.create_masking_session(first_party=gb_number(), second_party=fresh_number(), geomatch=True)


def test_pool_exhausted_for_a_second_open_single_party_session(server, sdk_for):  # type: ignore[no-untyped-def]
    # §11.5 / §12 #17: at most one single-party session without PIN per number.
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    client.create_masking_session(first_party=fresh_number(), create_session_with_single_party=True)
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(first_party=fresh_number(), create_session_with_single_party=True)


def test_pool_exhausted_for_a_pin_already_live_on_the_number(server, sdk_for):  # type: ignore[no-untyped-def]
    # §11.3 / §12 #16: PINs are unique among live PIN sessions on a number.
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    client.create_masking_session(**pair(), **pin_on(first_party_pin="2468", second_party_pin="1357"))
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(**pair(), **pin_on(first_party_pin="2468", second_party_pin="9999"))
    client.create_masking_session(**pair(), **pin_on(first_party_pin="1111", second_party_pin="2222"))


def test_pool_exhausted_for_a_party_without_a_region(sessions):  # type: ignore[no-untyped-def]
    # +800 numbers have region "001": they match no number under geomatch (§11.9).
    with raises_exact(ValidationError, EXHAUSTED):
        sessions.create_masking_session(first_party=freephone_number(), second_party=fresh_number())
    created = sessions.create_masking_session(
        first_party=freephone_number(), second_party=fresh_number(), geomatch=False
    )
    assert created.session.status == "active"


def test_per_party_cooloff_after_delete(server, sdk_for, clock):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    a, b = fresh_number(), fresh_number()
    ended = client.create_masking_session(first_party=a, second_party=b, virtual_number_cooloff_period=60)
    client.delete_masking_session(ended.session_uuid)
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(first_party=a, second_party=fresh_number())
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(first_party=fresh_number(), second_party=b)
    # Other parties get the number at once.
    client.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(60)
    again = client.create_masking_session(first_party=a, second_party=fresh_number())
    assert again.virtual_number == ended.virtual_number


def test_per_party_cooloff_after_natural_expiry(server, sdk_for, clock):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    a = fresh_number()
    client.create_masking_session(
        first_party=a, second_party=fresh_number(), session_expiry=60, virtual_number_cooloff_period=120
    )
    clock.advance(61)
    with raises_exact(ValidationError, EXHAUSTED):
        client.create_masking_session(first_party=a, second_party=fresh_number())
    clock.advance(120)
    client.create_masking_session(first_party=a, second_party=fresh_number())


def test_pool_exhausted_for_a_subaccount_without_numbers(server, tenant, sdk_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=0, parent=tenant.auth_id)
    with raises_exact(ValidationError, EXHAUSTED):
        sdk_for(sub).masking_sessions.create_masking_session(**pair())


# -- already expired --------------------------------------------------------------------------
def test_delete_twice(sessions):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    sessions.delete_masking_session(created.session_uuid)
    with raises_exact(ValidationError, EXPIRED):
        sessions.delete_masking_session(created.session_uuid)


def test_update_after_delete(sessions):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    sessions.delete_masking_session(created.session_uuid)
    with raises_exact(ValidationError, EXPIRED):
        sessions.update_masking_session(created.session_uuid, record=True)
    with raises_exact(ValidationError, EXPIRED):
        sessions.update_masking_session(created.session_uuid)


def test_update_and_delete_after_natural_expiry(sessions, clock):  # type: ignore[no-untyped-def]
    created = new_session(sessions, session_expiry=60)
    clock.advance(61)
    with raises_exact(ValidationError, EXPIRED):
        sessions.update_masking_session(created.session_uuid, session_expiry=600)
    with raises_exact(ValidationError, EXPIRED):
        sessions.delete_masking_session(created.session_uuid)
    assert sessions.get_masking_session(created.session_uuid).response.status == "expired"


def test_expiry_is_reached_at_expiry_time(sessions, clock):  # type: ignore[no-untyped-def]
    created = new_session(sessions, session_expiry=60)
    clock.advance(60)
    assert sessions.get_masking_session(created.session_uuid).response.status == "expired"
    with raises_exact(ValidationError, EXPIRED):
        sessions.delete_masking_session(created.session_uuid)


def test_already_expired_comes_before_field_checks(sessions, http):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    sessions.delete_masking_session(created.session_uuid)
    with raises_exact(ValidationError, EXPIRED):
        sessions.update_masking_session(created.session_uuid, session_expiry=5)
    assert_error(http.post(f"/Session/{created.session_uuid}/", content=b"{oops"), 400, EXPIRED)
    assert_error(http.post(f"/Session/{created.session_uuid}/", json={"pin_retry": 1}), 400, EXPIRED)


# -- update: field validation through the SDK -------------------------------------------------
UPDATE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("expiry 59", {"session_expiry": 59}, out_of_range("session_expiry")),
    ("expiry 86401", {"session_expiry": 86401}, out_of_range("session_expiry")),
    ("expiry abc", {"session_expiry": "abc"}, out_of_range("session_expiry")),
    ("expiry true", {"session_expiry": True}, out_of_range("session_expiry")),
    ("expiry 1.5", {"session_expiry": 1.5}, out_of_range("session_expiry")),
    ("ctl 59", {"call_time_limit": 59}, out_of_range("call_time_limit")),
    ("ctl 86401", {"call_time_limit": 86401}, out_of_range("call_time_limit")),
    ("ctl false", {"call_time_limit": False}, out_of_range("call_time_limit")),
    ("ring -1", {"ring_timeout": -1}, out_of_range("ring_timeout")),
    ("ring 86401", {"ring_timeout": 86401}, out_of_range("ring_timeout")),
    ("record yes", {"record": "yes"}, not_bool("record")),
    ("format ogg", {"record_file_format": "ogg"}, FORMAT),
    ("rec url invalid", {"recording_callback_url": "not a url"}, not_url("recording_callback_url")),
    ("rec url 1000", {"recording_callback_url": LONG_URL}, TOO_LONG),
    ("rec method", {"recording_callback_method": "PATCH"}, not_method("recording_callback_method")),
    ("cb url invalid", {"callback_url": "nope"}, not_url("callback_url")),
    ("cb method", {"callback_method": "PUT"}, not_method("callback_method")),
    (
        "first play invalid",
        {"first_party_play_url": "ftp://x.example/a.mp3"},
        not_url("first_party_play_url"),
    ),
    ("second play invalid", {"second_party_play_url": "a.mp3"}, not_url("second_party_play_url")),
    ("first party on two-party session", {"first_party": fresh_number()}, not_updatable("first_party")),
    ("second party on two-party session", {"second_party": fresh_number()}, not_updatable("second_party")),
    (
        "first party before expiry",
        {"first_party": fresh_number(), "session_expiry": 5},
        not_updatable("first_party"),
    ),
    ("expiry before record", {"session_expiry": 5, "record": "x"}, out_of_range("session_expiry")),
    ("record before callback", {"record": "x", "callback_url": "nope"}, not_bool("record")),
]


@pytest.mark.parametrize(
    ("params", "message"), [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES]
)
def test_update_rejects(sessions, clock, params, message):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    clock.advance(1)
    with raises_exact(ValidationError, message):
        sessions.update_masking_session(created.session_uuid, **params)
    # A rejected update changes nothing.
    after = sessions.get_masking_session(created.session_uuid).response
    assert after.modified_time == created.session.modified_time
    assert after.expiry_time == created.session.expiry_time


# -- update: fields that cannot be updated (no SDK sends them; raw HTTP) ----------------------
NOT_UPDATABLE: list[tuple[str, Any]] = [
    ("initiate_call_to_first_party", False),
    ("is_pin_authentication_required", True),
    ("pin_prompt_play", PROMPT),
    ("pin_retry", 2),
    ("pin_retry_wait", 6),
    ("incorrect_pin_play", AUDIO),
    ("unknown_caller_play", AUDIO),
    ("generate_pin", True),
    ("generate_pin_length", 6),
    ("first_party_pin", "1234"),
    ("second_party_pin", "5678"),
    ("force_pin_authentication", True),
    ("virtual_number_cooloff_period", 60),
]


@pytest.mark.parametrize(("field", "value"), NOT_UPDATABLE, ids=[f for f, _ in NOT_UPDATABLE])
def test_update_rejects_non_updatable_field(sessions, http, field, value):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    response = http.post(
        f"/Session/{created.session_uuid}/", json={"session_uuid": created.session_uuid, field: value}
    )
    assert_error(response, 400, not_updatable(field))


def test_update_non_updatable_field_fails_at_its_row(sessions, http):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    path = f"/Session/{created.session_uuid}/"
    # initiate_call_to_first_party's row comes before callback_url's.
    response = http.post(path, json={"callback_url": "nope", "initiate_call_to_first_party": True})
    assert_error(response, 400, not_updatable("initiate_call_to_first_party"))
    # record's row comes before pin_retry's.
    assert_error(http.post(path, json={"pin_retry": 1, "record": "x"}), 400, not_bool("record"))
    # session_expiry's row comes before is_pin_authentication_required's.
    response = http.post(path, json={"is_pin_authentication_required": True, "session_expiry": 1})
    assert_error(response, 400, out_of_range("session_expiry"))


def test_update_pin_session_pins_cannot_be_changed(sessions, http):  # type: ignore[no-untyped-def]
    created = new_session(sessions, **pin_on())
    response = http.post(f"/Session/{created.session_uuid}/", json={"first_party_pin": "9999"})
    assert_error(response, 400, not_updatable("first_party_pin"))


# -- update: filling the missing party of a single-party session ------------------------------
def test_update_filling_a_party_validates_the_number(server, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    first = fresh_number()
    created = client.create_masking_session(first_party=first, create_session_with_single_party=True)
    with raises_exact(ValidationError, bad_phone("second_party")):
        client.update_masking_session(created.session_uuid, second_party="12345")
    with raises_exact(ValidationError, PARTIES_EQUAL):
        client.update_masking_session(created.session_uuid, second_party=digits(first))
    # The present party cannot be replaced.
    with raises_exact(ValidationError, not_updatable("first_party")):
        client.update_masking_session(created.session_uuid, first_party=fresh_number())


def test_update_party_already_live_on_the_virtual_number(server, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    a = fresh_number()
    busy = client.create_masking_session(first_party=a, second_party=fresh_number())
    single = client.create_masking_session(first_party=fresh_number(), create_session_with_single_party=True)
    assert single.virtual_number == busy.virtual_number
    taken = "Invalid parameter. second_party already has a live session on this virtual number."
    with raises_exact(ValidationError, taken):
        client.update_masking_session(single.session_uuid, second_party=a)
    # Field checks come before the allocation check.
    with raises_exact(ValidationError, not_bool("record")):
        client.update_masking_session(single.session_uuid, second_party=a, record="x")
    assert client.get_masking_session(single.session_uuid).response.second_party == ""
    # Once the other session has ended, the party may be added.
    client.delete_masking_session(busy.session_uuid)
    updated = client.update_masking_session(single.session_uuid, second_party=a)
    assert updated.session.second_party == digits(a)


def test_update_first_party_already_live_on_the_virtual_number(server, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    b = fresh_number()
    client.create_masking_session(first_party=fresh_number(), second_party=b)
    single = client.create_masking_session(second_party=fresh_number(), create_session_with_single_party=True)
    with raises_exact(
        ValidationError, "Invalid parameter. first_party already has a live session on this virtual number."
    ):
        client.update_masking_session(single.session_uuid, first_party=b)


# -- list ------------------------------------------------------------------------------------
LIST_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("limit 0", {"limit": 0}, LIMIT),
    ("limit 21", {"limit": 21}, LIMIT),
    ("limit abc", {"limit": "abc"}, LIMIT),
    ("limit negative", {"limit": -1}, LIMIT),
    ("offset -1", {"offset": -1}, OFFSET),
    ("offset abc", {"offset": "abc"}, OFFSET),
    ("status bogus", {"status": "bogus"}, STATUS),
    ("created gt words", {"created_time__gt": "yesterday"}, bad_time("created_time__gt")),
    ("created bad month", {"created_time": "2026-13-01 00:00"}, bad_time("created_time")),
    ("created lt date only", {"created_time__lt": "2026-01-01"}, bad_time("created_time__lt")),
    ("expiry lte us style", {"expiry_time__lte": "01/02/2026 10:00"}, bad_time("expiry_time__lte")),
    ("expiry gte zone", {"expiry_time__gte": "2026-01-01 00:00:00+01:00"}, bad_time("expiry_time__gte")),
    ("duration gte x", {"duration__gte": "x"}, bad_count("duration__gte")),
    ("duration negative", {"duration": -5}, bad_count("duration")),
    ("first party invalid", {"first_party": "12345"}, bad_phone("first_party")),
    ("second party invalid", {"second_party": "abc"}, bad_phone("second_party")),
    ("virtual number invalid", {"virtual_number": "999"}, bad_phone("virtual_number")),
]


@pytest.mark.parametrize(("filters", "message"), [c[1:] for c in LIST_CASES], ids=[c[0] for c in LIST_CASES])
def test_list_rejects(sessions, filters, message):  # type: ignore[no-untyped-def]
    with raises_exact(ValidationError, message):
        sessions.list_masking_session(**filters)


@pytest.mark.parametrize("family", ["created_time", "expiry_time"])
def test_list_window_over_30_days(sessions, clock, family):  # type: ignore[no-untyped-def]
    message = f"Invalid parameter. {family} filters should span at most 30 days."
    start, end = filter_time(clock.now - 31 * 86400), filter_time(clock.now)
    with raises_exact(ValidationError, message):
        sessions.list_masking_session(**{f"{family}__gte": start, f"{family}__lte": end})
    # A missing upper bound is now.
    with raises_exact(ValidationError, message):
        sessions.list_masking_session(**{f"{family}__gt": start})


# -- 401 -------------------------------------------------------------------------------------
def test_wrong_token_on_every_operation(tenant, sdk_for):  # type: ignore[no-untyped-def]
    client = sdk_for(tenant, token="wrong-token-123").masking_sessions
    some = str(uuid.uuid4())
    calls = [
        lambda: client.create_masking_session(**pair()),
        lambda: client.get_masking_session(some),
        lambda: client.list_masking_session(),
        lambda: client.update_masking_session(some, record=True),
        lambda: client.delete_masking_session(some),
    ]
    for call in calls:
        with raises_exact(AuthenticationError, AUTH_FAILED):
            call()


def test_unknown_account(tenant, sdk_for):  # type: ignore[no-untyped-def]
    from tests.support import Tenant

    ghost = Tenant("MA" + "Q" * 18, "some-token-123", [])
    with raises_exact(AuthenticationError, AUTH_FAILED):
        sdk_for(ghost).masking_sessions.list_masking_session()


def test_path_auth_id_must_match_the_credentials(server, tenant, http_for):  # type: ignore[no-untyped-def]
    other = server.tenant(numbers=1)
    client = http_for(tenant, path_id=other.auth_id)
    assert_error(client.get("/Session/"), 401, AUTH_FAILED)
    assert_error(client.post("/Session/", json=pair()), 401, AUTH_FAILED)


def test_subaccount_and_parent_paths_are_not_interchangeable(server, tenant, http_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    assert_error(http_for(sub, path_id=tenant.auth_id).get("/Session/"), 401, AUTH_FAILED)
    assert_error(http_for(tenant, path_id=sub.auth_id).get("/Session/"), 401, AUTH_FAILED)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer abc", "Basic !!!not-base64!!!", "Basic bm9jb2xvbg==", "Basic"],
    ids=["missing", "bearer", "bad base64", "no colon", "scheme only"],
)
def test_bad_authorization_header(tenant, http_for, header):  # type: ignore[no-untyped-def]
    client = http_for(tenant, auth=None)
    headers = {} if header is None else {"Authorization": header}
    assert_error(client.get("/Session/", headers=headers), 401, AUTH_FAILED)


def test_authentication_comes_before_method_and_lookup(tenant, http_for):  # type: ignore[no-untyped-def]
    client = http_for(tenant, auth=(tenant.auth_id, "wrong-token-123"))
    assert_error(client.put("/Session/"), 401, AUTH_FAILED)
    assert_error(client.get(f"/Session/{uuid.uuid4()}/"), 401, AUTH_FAILED)
    assert_error(client.post("/Session/", content=b"{oops"), 401, AUTH_FAILED)


# -- 404 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "session_uuid",
    ["0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40", "not-a-uuid", "1234", "0" * 32 + "zz"],
    ids=["unknown uuid", "words", "digits", "hex with junk"],
)
def test_unknown_session(sessions, session_uuid):  # type: ignore[no-untyped-def]
    with raises_exact(ResourceNotFoundError, NOT_FOUND):
        sessions.get_masking_session(session_uuid)
    with raises_exact(ResourceNotFoundError, NOT_FOUND):
        sessions.update_masking_session(session_uuid, record=True)
    with raises_exact(ResourceNotFoundError, NOT_FOUND):
        sessions.delete_masking_session(session_uuid)


def test_session_of_another_account(server, sessions, sdk_for):  # type: ignore[no-untyped-def]
    other = sdk_for(server.tenant(numbers=1)).masking_sessions
    theirs = other.create_masking_session(**pair())
    with raises_exact(ResourceNotFoundError, NOT_FOUND):
        sessions.get_masking_session(theirs.session_uuid)
    with raises_exact(ResourceNotFoundError, NOT_FOUND):
        sessions.update_masking_session(theirs.session_uuid, record=True)
    with raises_exact(ResourceNotFoundError, NOT_FOUND):
        sessions.delete_masking_session(theirs.session_uuid)
    listed = sessions.list_masking_session(first_party=theirs.session.first_party)
    assert listed.response.meta.total_count == 0
    # Untouched.
    assert other.get_masking_session(theirs.session_uuid).response.status == "active"


def test_unknown_session_comes_before_body_checks(http):  # type: ignore[no-untyped-def]
    assert_error(http.post(f"/Session/{uuid.uuid4()}/", content=b"[1, 2"), 404, NOT_FOUND)


# -- 405 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/Session/", "POST, GET"),
        ("PATCH", "/Session/", "POST, GET"),
        ("DELETE", "/Session/", "POST, GET"),
        ("OPTIONS", "/Session/", "POST, GET"),
        ("PUT", "/Session/{uuid}/", "GET, POST, DELETE"),
        ("PATCH", "/Session/{uuid}/", "GET, POST, DELETE"),
    ],
)
def test_method_not_allowed_raw(http, method, path, allow):  # type: ignore[no-untyped-def]
    # 405 comes before the session lookup (§5 check order), so an unknown uuid still gets 405.
    response = http.request(method, path.format(uuid=uuid.uuid4()), json={})
    assert_error(response, 405, NOT_ALLOWED)
    assert response.headers["allow"] == allow  # the methods the path takes


def test_method_not_allowed_on_an_existing_session(sessions, http):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    assert_error(http.put(f"/Session/{created.session_uuid}/", json={"record": True}), 405, NOT_ALLOWED)
    assert sessions.get_masking_session(created.session_uuid).response.record is False


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_method_not_allowed_through_sdk_request(plivo_client, method):  # type: ignore[no-untyped-def]
    # The SDK's masking methods cannot send a wrong verb; its generic request() can.
    with raises_exact(InvalidRequestError, NOT_ALLOWED):
        plivo_client.request(method, ("Masking", "Session"), {}, is_voice_request=True)


# -- malformed bodies ------------------------------------------------------------------------
BAD_BODIES = [b"{not json", b"[1, 2]", b'"a string"', b"42", b"null", b"true", b'{"first_party": }']


@pytest.mark.parametrize("body", BAD_BODIES, ids=[b.decode() for b in BAD_BODIES])
def test_create_invalid_json_body(http, body):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, INVALID_JSON)


@pytest.mark.parametrize("body", BAD_BODIES, ids=[b.decode() for b in BAD_BODIES])
def test_update_invalid_json_body(sessions, http, body):  # type: ignore[no-untyped-def]
    created = new_session(sessions)
    response = http.post(
        f"/Session/{created.session_uuid}/", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, INVALID_JSON)


def test_empty_create_body_is_an_empty_object(http):  # type: ignore[no-untyped-def]
    assert_error(http.post("/Session/", content=b""), 400, missing("first_party"))
    assert_error(http.post("/Session/", content=b"  \n"), 400, missing("first_party"))


def test_oversized_body(http):  # type: ignore[no-untyped-def]
    body = {**pair(), "callback_url": "https://x.example/" + "a" * 70_000}
    response = http.post("/Session/", json=body)
    assert_error(response, 400, "Invalid JSON body. The body should be under 65536 bytes.")


def test_unknown_path_is_a_json_404(http):  # type: ignore[no-untyped-def]
    assert_error(http.get("/Nothing/here/"), 404, "Resource not found")
