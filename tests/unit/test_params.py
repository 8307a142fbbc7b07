"""Validation of create and update bodies: coercions, ranges, check order, cross-field rules."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from maskline.bodies import decode_body
from maskline.config import Config, ConfigError
from maskline.domain import errors
from maskline.domain.errors import MaskingError
from maskline.domain.model import Session
from maskline.domain.params import (
    ALIASES,
    PARAMS,
    Defaults,
    Integer,
    Param,
    SessionSettings,
    apply_update,
    generate_pins,
    parse_create,
    parse_update,
)
from tests.support import same_error

A, B, C = "+14155550111", "+14155550122", "+14155550133"
BASE = {"first_party": A, "second_party": B}
PIN = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "4321",
    "pin_prompt_play": "https://example.com/prompt.mp3",
}


def create(body: dict, *, subaccount: str | None = None, calls: bool = False):  # type: ignore[no-untyped-def]
    return parse_create(
        body, Defaults(), subaccount_valid=lambda v: v == subaccount, can_initiate_calls=calls
    )


def error_of(body: dict) -> MaskingError:
    with pytest.raises(MaskingError) as caught:
        create(body)
    return caught.value


def test_defaults_fill_a_minimal_body() -> None:
    request = create({"first_party": "14155550111", "second_party": " +14155550122 "})
    assert (request.first_party, request.second_party) == (A, B)
    assert request.session_expiry == 1800
    s = request.settings
    assert (s.call_time_limit, s.ring_timeout, s.record, s.record_file_format) == (14400, 45, False, "mp3")
    assert s.geomatch is True and s.virtual_number_cooloff_period == 0
    assert s.generate_pin is None and s.first_party_pin is None and s.pin_retry is None
    assert s.unknown_caller_play == "" and s.callback_method == "POST"


@pytest.mark.parametrize("field", ["session_expiry", "call_time_limit", "ring_timeout"])
def test_zero_means_default(field: str) -> None:
    request = create({**BASE, field: 0})
    assert (request.session_expiry, request.settings.call_time_limit, request.settings.ring_timeout) == (
        1800,
        14400,
        45,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_expiry", 59),
        ("session_expiry", 86401),
        ("session_expiry", "abc"),
        ("session_expiry", True),
        ("session_expiry", 1.5),
        ("session_expiry", -60),
        ("session_expiry", "-60"),
        ("session_expiry", "６０"),
        ("call_time_limit", 59),
        ("call_time_limit", 86401),
        ("ring_timeout", 86401),
        ("ring_timeout", [1]),
        ("virtual_number_cooloff_period", 3601),
        ("virtual_number_cooloff_period", "x"),
    ],
)
def test_integers_out_of_range(field: str, value: object) -> None:
    assert same_error(error_of({**BASE, field: value}), errors.OutOfRange(field))


def test_integers_accept_digit_strings() -> None:
    request = create({**BASE, "session_expiry": "600", "ring_timeout": "1", "call_time_limit": 86400})
    assert (request.session_expiry, request.settings.ring_timeout, request.settings.call_time_limit) == (
        600,
        1,
        86400,
    )


def test_booleans_accept_strings_any_case() -> None:
    request = create({**BASE, "record": "TRUE", "geomatch": "false"})
    assert request.settings.record is True and request.settings.geomatch is False


@pytest.mark.parametrize("value", ["yes", 1, 0, "1", [], {}])
def test_record_must_be_boolean(value: object) -> None:
    assert error_of({**BASE, "record": value}).message == (
        "Invalid parameter. record allowed values are true or false."
    )


def test_published_messages_byte_for_byte() -> None:
    assert error_of({**BASE, "record_file_format": "ogg"}).message == (
        "Invalid parameter. record_file_format allowed values are mp3 or wav."
    )
    assert error_of({**BASE, "recording_callback_url": "ftp://x"}).message == (
        "Invalid parameter. recording_callback_url should be a valid URL."
    )
    long_url = "https://example.com/" + "a" * 980
    assert len(long_url) == 1000
    assert error_of({**BASE, "recording_callback_url": long_url}).message == (
        "Invalid parameter. recording_callback_url should be under 1000 characters."
    )
    assert create({**BASE, "recording_callback_url": long_url[:-1]}).settings.recording_callback_url
    assert (
        error_of({"second_party": B}).message == "Mandatory parameter missing. first_party must be present."
    )
    assert (
        error_of({"first_party": A}).message == "Mandatory parameter missing. second_party must be present."
    )
    assert error_of({**BASE, "first_party": "12"}).message == (
        "Invalid parameter. first_party is not a valid phone number."
    )
    assert error_of({**BASE, "second_party": "+1415"}).message == (
        "Invalid parameter. second_party is not a valid phone number."
    )


@pytest.mark.parametrize(
    "url",
    ["example.com", "http://", "https:// x.com", "mailto:a@b.c", "http://exa mple.com", 5, "http://a\x00b"],
)
def test_urls_must_be_absolute_http(url: object) -> None:
    assert same_error(error_of({**BASE, "callback_url": url}), errors.NotUrl("callback_url"))


def test_empty_url_means_unset_and_methods_normalise() -> None:
    request = create({**BASE, "callback_url": "", "callback_method": "get"})
    assert request.settings.callback_url == "" and request.settings.callback_method == "GET"
    assert same_error(error_of({**BASE, "callback_method": "PUT"}), errors.NotHttpMethod("callback_method"))


def test_first_failure_in_row_order_wins() -> None:
    body = {"first_party": "bad", "second_party": "bad", "session_expiry": 1, "record": "x"}
    assert same_error(error_of(body), errors.InvalidPhone("first_party"))
    del body["first_party"]
    body["create_session_with_single_party"] = True
    assert same_error(error_of(body), errors.InvalidPhone("second_party"))
    body["second_party"] = B
    assert same_error(error_of(body), errors.OutOfRange("session_expiry"))
    body["session_expiry"] = 60
    assert same_error(error_of(body), errors.NotBoolean("record"))


def test_single_party_sessions() -> None:
    request = create({"second_party": B, "create_session_with_single_Party": True})
    assert request.first_party is None and request.second_party == B
    assert request.settings.create_session_with_single_party is True
    assert same_error(error_of({"create_session_with_single_party": "true"}), errors.Missing("first_party"))


def test_same_party_twice() -> None:
    assert same_error(error_of({"first_party": A, "second_party": A[1:]}), errors.PartiesEqual())


def test_pin_rules_in_order() -> None:
    assert create({**BASE, **PIN}).settings.first_party_pin == "1234"
    assert same_error(error_of({**BASE, **PIN, "first_party_pin": None}), errors.Missing("first_party_pin"))
    assert same_error(error_of({**BASE, **PIN, "second_party_pin": ""}), errors.Missing("second_party_pin"))
    assert same_error(error_of({**BASE, **PIN, "second_party_pin": "1234"}), errors.PinsEqual())
    assert same_error(error_of({**BASE, **PIN, "pin_prompt_play": ""}), errors.Missing("pin_prompt_play"))
    assert same_error(error_of({**BASE, **PIN, "first_party_pin": "123"}), errors.NotPin("first_party_pin"))
    too_long = error_of({**BASE, **PIN, "first_party_pin": "1" * 16})
    assert same_error(too_long, errors.NotPin("first_party_pin"))
    assert same_error(error_of({**BASE, **PIN, "pin_retry": 6}), errors.OutOfRange("pin_retry"))
    assert same_error(error_of({**BASE, **PIN, "pin_retry_wait": 4}), errors.OutOfRange("pin_retry_wait"))
    too_long = error_of({**BASE, **PIN, "generate_pin_length": 16})
    assert same_error(too_long, errors.OutOfRange("generate_pin_length"))


def test_pin_defaults_and_integer_pins() -> None:
    s = create({**BASE, **PIN, "first_party_pin": 98765, "pin_retry": 0, "pin_retry_wait": 0}).settings
    assert s.first_party_pin == "98765"
    assert (s.pin_retry, s.pin_retry_wait, s.generate_pin, s.generate_pin_length) == (0, 5, False, 4)
    assert s.incorrect_pin_play == ""


def test_pin_fields_ignored_without_pin_auth() -> None:
    s = create({**BASE, "first_party_pin": "x", "pin_retry": 99, "force_pin_authentication": "junk"}).settings
    assert s.first_party_pin is None and s.pin_retry is None and s.force_pin_authentication is False


def test_generated_pins_ignore_given_ones() -> None:
    s = create(
        {**BASE, **PIN, "generate_pin": True, "first_party_pin": "bad", "generate_pin_length": 6}
    ).settings
    assert s.generate_pin is True and s.generate_pin_length == 6 and s.first_party_pin is None


def test_subaccount_and_initiate_call() -> None:
    assert create({**BASE, "sub_account": "SA1"}, subaccount="SA1").subaccount == "SA1"
    with pytest.raises(MaskingError) as caught:
        create({**BASE, "subaccount": "SA2"}, subaccount="SA1")
    assert same_error(caught.value, errors.InvalidSubaccount())
    calling = error_of({**BASE, "initiate_call_to_first_party": True})
    assert same_error(calling, errors.InitiateCallUnavailable())
    assert create(
        {**BASE, "initiate_call_to_first_party": True}, calls=True
    ).settings.initiate_call_to_first_party


@given(st.integers(min_value=4, max_value=15))
def test_generated_pins_differ(length: int) -> None:
    import random

    first, second = generate_pins(length, random.Random(length).randrange)
    assert first != second and len(first) == len(second) == length and (first + second).isdigit()


def _session(**settings: object) -> Session:
    return Session(
        uuid="u",
        account_id="MA",
        main_id="MA",
        first_party=A,
        second_party="",
        virtual_number=C,
        created=1000,
        modified=1000,
        expiry=2800,
        settings=SessionSettings(
            call_time_limit=14400, ring_timeout=45, create_session_with_single_party=True, **settings
        ),  # type: ignore[arg-type]
    )


def test_update_counts_expiry_from_now_and_keeps_others() -> None:
    session = _session()
    request = parse_update(
        {"session_uuid": "u", "session_expiry": 600, "record": True, "ring_timeout": 0}, session
    )
    updated = apply_update(session, request, now=1500)
    assert (updated.expiry, updated.modified, updated.duration) == (2100, 1500, 1100)
    assert updated.settings.record is True and updated.settings.ring_timeout == 45


def test_update_fills_the_missing_party_only() -> None:
    session = _session()
    assert parse_update({"second_party": B}, session).second_party == B
    with pytest.raises(MaskingError) as caught:
        parse_update({"first_party": B}, session)
    assert same_error(caught.value, errors.NotUpdatable("first_party"))
    with pytest.raises(MaskingError) as caught:
        parse_update({"second_party": A}, session)
    assert same_error(caught.value, errors.PartiesEqual())


@pytest.mark.parametrize(
    "field",
    [
        "is_pin_authentication_required",
        "pin_retry",
        "initiate_call_to_first_party",
        "virtual_number_cooloff_period",
        "unknown_caller_play",
    ],
)
def test_update_refuses_create_only_fields(field: str) -> None:
    with pytest.raises(MaskingError) as caught:
        parse_update({field: 1}, _session())
    assert same_error(caught.value, errors.NotUpdatable(field))


def test_update_ignores_geomatch_subaccount_and_nulls() -> None:
    request = parse_update(
        {"geomatch": "x", "subaccount": 5, "record": None, "create_session_with_single_party": 1}, _session()
    )
    assert request.settings == {} and request.session_expiry is None


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b"12", b"\xff\xfe", b"null"])
def test_bodies_that_are_not_objects(raw: bytes) -> None:
    with pytest.raises(MaskingError) as caught:
        decode_body(raw)
    assert same_error(caught.value, errors.InvalidJson())


def test_empty_body_is_an_empty_object() -> None:
    assert decode_body(b"") == {} and decode_body(b"  \n") == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "first_party",
    "second_party",
    "create_session_with_single_party",
    "session_expiry",
    "call_time_limit",
    "ring_timeout",
    "record",
    "record_file_format",
    "recording_callback_url",
    "recording_callback_method",
    "callback_url",
    "callback_method",
    "first_party_play_url",
    "is_pin_authentication_required",
    "generate_pin",
    "generate_pin_length",
    "first_party_pin",
    "second_party_pin",
    "pin_prompt_play",
    "pin_retry",
    "pin_retry_wait",
    "incorrect_pin_play",
    "unknown_caller_play",
    "force_pin_authentication",
    "subaccount",
    "geomatch",
    "virtual_number_cooloff_period",
]


@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
def test_any_json_gives_a_request_or_a_400(body: dict) -> None:
    try:
        create(body)
    except MaskingError as error:
        assert error.status == 400
    try:
        parse_update(body, _session())
    except MaskingError as error:
        assert error.status == 400


def test_the_table_is_the_documented_rows_in_order() -> None:
    assert [p.name for p in PARAMS] == [
        "first_party", "second_party", "create_session_with_single_party", "session_expiry",
        "call_time_limit", "ring_timeout", "record", "record_file_format", "recording_callback_url",
        "recording_callback_method", "initiate_call_to_first_party", "callback_url", "callback_method",
        "first_party_play_url", "second_party_play_url", "is_pin_authentication_required", "generate_pin",
        "generate_pin_length", "first_party_pin", "second_party_pin", "pin_prompt_play", "pin_retry",
        "pin_retry_wait", "incorrect_pin_play", "unknown_caller_play", "force_pin_authentication",
        "subaccount", "geomatch", "virtual_number_cooloff_period",
    ]  # fmt: skip
    defaults = {p.name: p.default for p in PARAMS}
    assert (defaults["record_file_format"], defaults["geomatch"], defaults["force_pin_authentication"]) == (
        "mp3",
        True,
        False,
    )  # from the fields
    assert (defaults["generate_pin"], defaults["pin_retry"], defaults["first_party_pin"]) == (False, 1, None)


def test_every_setting_is_echoed_in_the_session_object() -> None:
    """A setting is shown in the session object, at its place in Plivo's (docs/api.md, "The
    session object"); geomatch is not in Plivo's object."""
    from maskline.http.render import Session as SessionObject

    shown = {f.name for f in msgspec.structs.fields(SessionObject)}
    kept = {f.name for f in msgspec.structs.fields(SessionSettings)}
    assert kept - shown == {"geomatch"}


def test_the_sdk_spellings_come_from_the_table() -> None:
    assert ALIASES == {
        "create_session_with_single_Party": "create_session_with_single_party",
        "geo_match": "geomatch",
        "sub_account": "subaccount",
    }
    request = create({**BASE, "geo_match": False, "create_session_with_single_Party": "true"})
    assert request.settings.geomatch is False and request.settings.create_session_with_single_party


def test_configured_defaults_are_the_ones_parsing_uses() -> None:
    defaults = Config.from_env({"MASKLINE_SESSION_EXPIRY": "600", "MASKLINE_CALL_TIME_LIMIT": "120"}).defaults
    assert (defaults["session_expiry"], defaults["call_time_limit"], defaults["ring_timeout"]) == (
        600,
        120,
        45,
    )
    request = parse_create(BASE, defaults, subaccount_valid=lambda v: False, can_initiate_calls=False)
    assert (request.session_expiry, request.settings.call_time_limit, request.settings.ring_timeout) == (
        600,
        120,
        45,
    )
    assert Defaults(ring_timeout=30) == Config.from_env({"MASKLINE_RING_TIMEOUT": "30"}).defaults
    with pytest.raises(TypeError):
        Defaults(record_file_format="wav")  # type: ignore[arg-type]


@pytest.mark.parametrize("param", [p for p in PARAMS if p.configurable], ids=lambda p: p.name)
def test_a_configured_default_keeps_to_the_parameters_range(param: Param) -> None:
    assert isinstance(param.read, Integer)
    low, high = param.read.low, param.read.high
    assert Config.from_env({param.env: str(low)}).defaults[param.name] == low
    for outside in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=f"{param.env} should be a whole number from {low} to {high}"):
            Config.from_env({param.env: str(outside)})
