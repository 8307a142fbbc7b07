"""The request parsers on anything a client can send: odd types, sizes and unicode. Each one
answers with a value or a 400 in the catalogue, never anything else."""

from __future__ import annotations

import re

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from maskline.bodies import decode_body
from maskline.domain.errors import MaskingError
from maskline.domain.listing import Windows, parse_list
from maskline.domain.params import Defaults, parse_create
from maskline.domain.phone import region_of, to_e164

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
NOW = 1_767_225_600
# Text with the awkward parts of unicode: other scripts' digits, full-width forms, combining
# marks, right-to-left text, surrogates' neighbours, NUL and other controls.
odd_text = st.text(
    alphabet=st.characters(codec="utf-8")
    | st.sampled_from(list("0123456789+-() .٠١٢٣٤٥٦٧٨٩０１２３４５６７８９\u200f\u0301\x00\t\n")),
    max_size=40,
)


@given(odd_text)
def test_phone_numbers_are_e164_ascii_or_nothing(raw: str) -> None:
    number = to_e164(raw)
    if number is not None:
        assert E164.fullmatch(number), number  # stored and compared as ASCII E.164 only
        assert to_e164(number) == number  # and parsing it again changes nothing
        region = region_of(number)
        assert region is None or re.fullmatch(r"[A-Z]{2}", region)


@given(st.binary(max_size=300) | odd_text.map(str.encode))
@example(b'"\x80"')  # found by this test: bytes that are not UTF-8 inside a JSON string
def test_any_bytes_decode_to_an_object_or_a_400(raw: bytes) -> None:
    try:
        body = decode_body(raw)
    except MaskingError as error:
        assert (error.status, error.message) == (400, "Invalid JSON body.")
    else:
        assert isinstance(body, dict)


@settings(max_examples=50)
@given(st.integers(0, 200_000), st.sampled_from(["[", '{"a":', '"x']))
def test_deep_or_huge_json_is_a_400_not_a_crash(depth: int, opener: str) -> None:
    try:
        decode_body((opener * (depth // len(opener) + 1)).encode())
    except MaskingError as error:
        assert error.status == 400


@given(
    first=odd_text,
    second=odd_text,
    expiry=st.one_of(st.integers(), st.floats(allow_nan=True), odd_text, st.none(), st.booleans()),
    url=st.text(max_size=3000)
    | st.sampled_from(["http://example.com/" + "é" * 990, "https://" + "a" * 2000]),
)
def test_create_bodies_of_odd_values_give_a_session_or_a_400(
    first: str, second: str, expiry: object, url: str
) -> None:
    body = {"first_party": first, "second_party": second, "session_expiry": expiry, "callback_url": url}
    try:
        request = parse_create(
            body, Defaults(), subaccount_valid=lambda value: False, can_initiate_calls=False
        )
    except MaskingError as error:
        assert error.status == 400 and error.message.startswith(("Invalid parameter.", "Mandatory parameter"))
    else:
        for party in (request.first_party, request.second_party):
            assert party is None or E164.fullmatch(party)
        assert 60 <= request.session_expiry <= 86400
        assert len(request.settings.callback_url) < 3000


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "first_party",
                "virtual_number",
                "created_time__gte",
                "status",
                "limit",
                "offset",
                "expiry_time",
                "duration__lt",
                "subaccount",
            ]
        )
        | odd_text,
        odd_text,
        max_size=6,
    )
)
def test_list_queries_give_a_query_or_a_400(params: dict[str, str]) -> None:
    try:
        query = parse_list(params, NOW, Windows())
    except MaskingError as error:
        assert error.status == 400
    else:
        assert 1 <= query.limit <= 20 and query.offset >= 0


def test_a_body_of_the_largest_allowed_size_still_parses() -> None:
    body = {"first_party": "+14155550100", "second_party": "+14155550101", "pad": "x" * 65_000}
    assert decode_body(msgspec.json.encode(body))["pad"] == "x" * 65_000


@given(st.text(max_size=200))
def test_a_kept_end_cause_is_short_and_never_a_phone_number(raw: str) -> None:
    from maskline.domain.calls import MAX_CAUSE, leg_cause

    cause = leg_cause(raw)
    assert len(cause) <= MAX_CAUSE and cause == cause.strip()
    assert not re.search(r"\d{5}", cause) and re.fullmatch(r"[A-Za-z0-9_.\- ]*", cause)
    if re.fullmatch(r"[A-Z_]{1,40}", raw):  # the carriers' own words are kept as they are
        assert cause == raw
