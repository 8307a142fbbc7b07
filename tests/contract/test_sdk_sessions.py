"""The five session operations through the official Plivo SDK (plivo==4.63.0).

Contract sections: §3 endpoints, §4 create, §5 update, §6 list, §7 responses, §9 Python SDK.
"""

from __future__ import annotations

import re
import uuid

import plivo
import pytest

from tests.contract.helpers import (
    AUDIO,
    PROMPT,
    default_session,
    digits,
    filter_time,
    link_path,
    page_query,
    plain,
    raises_exact,
    ts,
)
from tests.support import fresh_number

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000 UTC")


def new_pair() -> tuple[str, str]:
    return fresh_number(), fresh_number()


# -- create ------------------------------------------------------------------------------------
def test_create_response_shape_and_defaults(sessions, tenant, clock):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    now = clock.now
    created = sessions.create_masking_session(first_party=first, second_party=second)
    body = plain(created)

    assert list(body) == ["api_id", "session_uuid", "virtual_number", "message", "session"]
    uuid.UUID(body["api_id"])
    assert UUID4.fullmatch(body["session_uuid"])
    assert body["message"] == "Session created"
    # Top-level virtual_number carries '+', session.virtual_number does not (§7.1).
    assert body["virtual_number"] == tenant.numbers[0]
    assert body["virtual_number"].startswith("+")
    assert body["session"] == default_session(
        session_uuid=body["session_uuid"],
        first=first,
        second=second,
        virtual=tenant.numbers[0],
        created=now,
    )


def test_create_timestamps_are_go_style_utc_whole_seconds(sessions, clock):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    session = created.session
    for name in ("created_time", "modified_time", "expiry_time"):
        assert TIMESTAMP.fullmatch(session[name]), session[name]
    assert session.created_time == ts(clock.now)
    assert session.created_time == session.modified_time


def test_create_answers_201_with_json(http, tenant):  # type: ignore[no-untyped-def]
    response = http.post("/Session/", json={"first_party": fresh_number(), "second_party": fresh_number()})
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["virtual_number"] == tenant.numbers[0]


def test_each_response_has_a_fresh_api_id(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    got = sessions.get_masking_session(created.session_uuid)
    listed = sessions.list_masking_session()
    ids = {created.api_id, got.api_id, listed.api_id}
    assert len(ids) == 3
    for value in ids:
        uuid.UUID(value)


def test_create_with_every_optional_setting(sessions, clock):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    now = clock.now
    created = sessions.create_masking_session(
        first_party=first,
        second_party=second,
        session_expiry=600,
        call_time_limit=120,
        record=True,
        record_file_format="wav",
        recording_callback_url="https://hooks.example.com/recording",
        recording_callback_method="GET",
        initiate_call_to_first_party=False,
        callback_url="https://hooks.example.com/status",
        callback_method="GET",
        ring_timeout=30,
        first_party_play_url="https://media.example.com/first.mp3",
        second_party_play_url="https://media.example.com/second.wav",
        unknown_caller_play="https://media.example.com/unknown.mp3",
        geomatch=True,
        virtual_number_cooloff_period=3500,
    )
    s = plain(created.session)
    assert s["expiry_time"] == ts(now + 600)
    assert s["duration"] == 600
    assert s["call_time_limit"] == 120
    assert s["record"] is True
    assert s["record_file_format"] == "wav"
    assert s["recording_callback_url"] == "https://hooks.example.com/recording"
    assert s["recording_callback_method"] == "GET"
    assert s["initiate_call_to_first_party"] is False
    assert s["callback_url"] == "https://hooks.example.com/status"
    assert s["callback_method"] == "GET"
    assert s["ring_timeout"] == 30
    assert s["first_party_play_url"] == "https://media.example.com/first.mp3"
    assert s["second_party_play_url"] == "https://media.example.com/second.wav"
    assert s["unknown_caller_play"] == "https://media.example.com/unknown.mp3"
    assert s["virtual_number_cooloff_period"] == 3500


@pytest.mark.parametrize("value", [60, 86400])
def test_session_expiry_bounds_are_accepted(sessions, clock, value):  # type: ignore[no-untyped-def]
    now = clock.now
    created = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=value
    )
    assert created.session.duration == value
    assert created.session.expiry_time == ts(now + value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("call_time_limit", 60),
        ("call_time_limit", 86400),
        ("ring_timeout", 1),
        ("ring_timeout", 86400),
    ],
)
def test_integer_setting_bounds_are_accepted(sessions, field, value):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), **{field: value}
    )
    assert created.session[field] == value


def test_recording_callback_url_of_999_characters_is_accepted(sessions):  # type: ignore[no-untyped-def]
    url = "https://hooks.example.com/" + "a" * (999 - len("https://hooks.example.com/"))
    assert len(url) == 999
    created = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), recording_callback_url=url
    )
    assert created.session.recording_callback_url == url


def test_recording_callback_url_length_counts_characters(sessions):  # type: ignore[no-untyped-def]
    prefix = "https://hooks.example.com/"
    url = prefix + "\u00e9" * (999 - len(prefix))  # 999 characters, more than 999 bytes in UTF-8
    created = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), recording_callback_url=url
    )
    assert created.session.recording_callback_url == url
    with raises_exact(
        plivo.exceptions.ValidationError,
        "Invalid parameter. recording_callback_url should be under 1000 characters.",
    ):
        sessions.create_masking_session(
            first_party=fresh_number(), second_party=fresh_number(), recording_callback_url=url + "\u00e9"
        )


def test_sdk_refuses_malformed_urls_on_create_before_sending(sessions):  # type: ignore[no-untyped-def]
    # §9.3: client-side check; the server never sees this request.
    first = fresh_number()
    with pytest.raises(plivo.exceptions.ValidationError, match="callback_url should match format"):
        sessions.create_masking_session(first_party=first, second_party=fresh_number(), callback_url="nope")
    assert sessions.list_masking_session(first_party=first).response.meta.total_count == 0


def test_parties_with_and_without_plus_are_stored_the_same(sessions):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    created = sessions.create_masking_session(first_party=digits(first), second_party=second)
    assert created.session.first_party == digits(first)
    assert created.session.second_party == digits(second)
    listed = sessions.list_masking_session(first_party=first)
    assert [o.session_uuid for o in listed.response.objects] == [created.session_uuid]


# -- get ---------------------------------------------------------------------------------------
def test_get_returns_session_under_response(sessions, tenant, clock):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    now = clock.now
    created = sessions.create_masking_session(first_party=first, second_party=second)
    got = plain(sessions.get_masking_session(created.session_uuid))
    assert set(got) == {"api_id", "response"}
    assert got["response"] == default_session(
        session_uuid=created.session_uuid,
        first=first,
        second=second,
        virtual=tenant.numbers[0],
        created=now,
    )


def test_get_accepts_an_upper_case_uuid(http, sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    response = http.get(f"/Session/{created.session_uuid.upper()}/")
    assert response.status_code == 200
    assert response.json()["response"]["session_uuid"] == created.session_uuid


# -- list --------------------------------------------------------------------------------------
def test_list_shape_meta_and_objects(sessions, tenant, clock):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    now = clock.now
    created = sessions.create_masking_session(first_party=first, second_party=second)
    listed = plain(sessions.list_masking_session())
    assert set(listed) == {"api_id", "response"}
    assert set(listed["response"]) == {"meta", "objects"}
    assert listed["response"]["meta"] == {
        "limit": 20,
        "next": None,
        "offset": 0,
        "previous": None,
        "total_count": 1,
    }
    [obj] = listed["response"]["objects"]
    expected = default_session(
        session_uuid=created.session_uuid, first=first, second=second, virtual=tenant.numbers[0], created=now
    )
    expected["resource_uri"] = f"/v1/Account/{tenant.auth_id}/Masking/Session/{created.session_uuid}/"
    assert obj == expected
    assert list(obj) == sorted(obj)  # keys sorted, as in the fixtures


def test_list_is_newest_first(sessions, clock):  # type: ignore[no-untyped-def]
    uuids = []
    for _ in range(3):
        uuids.append(
            sessions.create_masking_session(
                first_party=fresh_number(), second_party=fresh_number()
            ).session_uuid
        )
        clock.advance(1)
    listed = sessions.list_masking_session()
    assert [o.session_uuid for o in listed.response.objects] == uuids[::-1]


def test_list_newest_first_within_the_same_second(sessions):  # type: ignore[no-untyped-def]
    uuids = [
        sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number()).session_uuid
        for _ in range(3)
    ]
    listed = sessions.list_masking_session()
    assert [o.session_uuid for o in listed.response.objects] == uuids[::-1]


def test_list_pagination_links(sessions, tenant):  # type: ignore[no-untyped-def]
    uuids = [
        sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number()).session_uuid
        for _ in range(3)
    ]
    base = f"/v1/Account/{tenant.auth_id}/Masking/Session/"

    first_page = sessions.list_masking_session(limit=2)
    meta = first_page.response.meta
    assert (meta.limit, meta.offset, meta.total_count, meta.previous) == (2, 0, 3, None)
    assert link_path(meta.next) == base
    assert page_query(meta.next) == {"limit": ["2"], "offset": ["2"]}
    assert [o.session_uuid for o in first_page.response.objects] == uuids[:0:-1]

    second_page = sessions.list_masking_session(limit=2, offset=2)
    meta = second_page.response.meta
    assert (meta.limit, meta.offset, meta.total_count, meta.next) == (2, 2, 3, None)
    assert link_path(meta.previous) == base
    assert page_query(meta.previous) == {"limit": ["2"], "offset": ["0"]}
    assert [o.session_uuid for o in second_page.response.objects] == uuids[:1]


def test_list_page_links_repeat_the_filters(sessions):  # type: ignore[no-untyped-def]
    first = fresh_number()
    for _ in range(3):
        sessions.create_masking_session(first_party=first, second_party=fresh_number())
    # Three sessions with the same first party need three numbers: the tenant has exactly 3.
    page = sessions.list_masking_session(first_party=first, status="active", limit=1, offset=1)
    meta = page.response.meta
    assert meta.total_count == 3
    assert page_query(meta.next) == {
        "limit": ["1"],
        "offset": ["2"],
        "first_party": [first],
        "status": ["active"],
    }
    assert page_query(meta.previous) == {
        "limit": ["1"],
        "offset": ["0"],
        "first_party": [first],
        "status": ["active"],
    }


def test_following_next_links_visits_every_session_once(sessions):  # type: ignore[no-untyped-def]
    uuids = [
        sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number()).session_uuid
        for _ in range(5)
    ]
    seen: list[str] = []
    params: dict[str, int] = {"limit": 2}
    while True:
        page = sessions.list_masking_session(**params)
        seen += [o.session_uuid for o in page.response.objects]
        if page.response.meta.next is None:
            break
        query = page_query(page.response.meta.next)
        params = {"limit": int(query["limit"][0]), "offset": int(query["offset"][0])}
    assert seen == uuids[::-1]


def test_list_offset_past_the_end_is_empty(sessions):  # type: ignore[no-untyped-def]
    sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    page = sessions.list_masking_session(offset=5)
    assert page.response.objects == []
    assert page.response.meta.total_count == 1
    assert page.response.meta.next is None


def test_list_filter_by_parties(sessions):  # type: ignore[no-untyped-def]
    a, b, c = fresh_number(), fresh_number(), fresh_number()
    ab = sessions.create_masking_session(first_party=a, second_party=b).session_uuid
    cb = sessions.create_masking_session(first_party=c, second_party=b).session_uuid

    def found(**filters):  # type: ignore[no-untyped-def]
        return {o.session_uuid for o in sessions.list_masking_session(**filters).response.objects}

    assert found(first_party=a) == {ab}
    assert found(first_party=digits(a)) == {ab}
    assert found(first_party=c) == {cb}
    assert found(second_party=b) == {ab, cb}
    assert found(second_party=a) == set()
    assert found(first_party=a, second_party=b) == {ab}


def test_list_filter_by_virtual_number(sessions, tenant):  # type: ignore[no-untyped-def]
    a = fresh_number()
    on_first = sessions.create_masking_session(first_party=a, second_party=fresh_number())
    on_second = sessions.create_masking_session(first_party=a, second_party=fresh_number())
    # a already holds a live session on the first number, so the second session needs another one.
    assert on_first.virtual_number != on_second.virtual_number
    for number in (on_second.virtual_number, digits(on_second.virtual_number)):
        listed = sessions.list_masking_session(virtual_number=number)
        assert [o.session_uuid for o in listed.response.objects] == [on_second.session_uuid]
    assert sessions.list_masking_session(virtual_number=tenant.numbers[2]).response.meta.total_count == 0


def test_list_filter_by_status(sessions):  # type: ignore[no-untyped-def]
    live = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    ended = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    sessions.delete_masking_session(ended.session_uuid)

    def found(status):  # type: ignore[no-untyped-def]
        return [o.session_uuid for o in sessions.list_masking_session(status=status).response.objects]

    assert found("active") == [live.session_uuid]
    assert found("expired") == [ended.session_uuid]
    assert found("all") == [ended.session_uuid, live.session_uuid]
    assert found("in-progress") == []


def test_list_filter_by_duration(sessions):  # type: ignore[no-untyped-def]
    short = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=600
    )
    long = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=3600
    )

    def found(**filters):  # type: ignore[no-untyped-def]
        return {o.session_uuid for o in sessions.list_masking_session(**filters).response.objects}

    assert found(duration__gte=1000) == {long.session_uuid}
    assert found(duration__gte=600) == {short.session_uuid, long.session_uuid}
    assert found(duration__gt=600) == {long.session_uuid}
    assert found(duration__lt=3600) == {short.session_uuid}
    assert found(duration__lte=3600) == {short.session_uuid, long.session_uuid}
    assert found(duration=600) == {short.session_uuid}


def test_list_filter_by_created_time(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    early = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(120)
    late = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())

    def found(**filters):  # type: ignore[no-untyped-def]
        return {o.session_uuid for o in sessions.list_masking_session(**filters).response.objects}

    assert found(created_time__gt=filter_time(t0 + 60)) == {late.session_uuid}
    assert found(created_time__gt=filter_time(t0)) == {late.session_uuid}
    assert found(created_time__gte=filter_time(t0)) == {early.session_uuid, late.session_uuid}
    assert found(created_time__lt=filter_time(t0 + 60)) == {early.session_uuid}
    assert found(created_time__lte=filter_time(t0 + 120)) == {early.session_uuid, late.session_uuid}
    assert found(created_time=filter_time(t0)) == {early.session_uuid}
    # Minute precision (HH:MM) is accepted as well.
    assert early.session_uuid in found(created_time__gte=filter_time(t0)[:16])


def test_list_filter_by_expiry_time(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    short = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=600
    )
    long = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=3600
    )

    def found(**filters):  # type: ignore[no-untyped-def]
        return {o.session_uuid for o in sessions.list_masking_session(**filters).response.objects}

    assert found(expiry_time__gt=filter_time(t0 + 1000)) == {long.session_uuid}
    assert found(expiry_time__lte=filter_time(t0 + 600)) == {short.session_uuid}
    assert found(expiry_time=filter_time(t0 + 3600)) == {long.session_uuid}


def test_list_default_window_is_seven_days(sessions, clock):  # type: ignore[no-untyped-def]
    old = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(7 * 86400 + 60)
    new = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    listed = sessions.list_masking_session()
    assert [o.session_uuid for o in listed.response.objects] == [new.session_uuid]
    # An explicit window still finds the old one.
    explicit = sessions.list_masking_session(created_time__gte=filter_time(clock.now - 10 * 86400))
    assert {o.session_uuid for o in explicit.response.objects} == {old.session_uuid, new.session_uuid}


def test_list_window_lower_bound_defaults_to_upper_minus_seven_days(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    old = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(10 * 86400)
    sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    listed = sessions.list_masking_session(created_time__lte=filter_time(t0 + 60))
    assert [o.session_uuid for o in listed.response.objects] == [old.session_uuid]
    # Upper bound 8 days after the old session: the derived window [upper - 7 days, upper] misses it.
    listed = sessions.list_masking_session(created_time__lte=filter_time(t0 + 8 * 86400))
    assert listed.response.meta.total_count == 0


def test_list_window_from_expiry_filters(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    old = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=86400
    )
    clock.advance(8 * 86400)
    assert sessions.list_masking_session().response.meta.total_count == 0
    # With expiry_time filters and no created_time filter, the window follows expiry_time.
    listed = sessions.list_masking_session(expiry_time__gte=filter_time(t0))
    assert [o.session_uuid for o in listed.response.objects] == [old.session_uuid]


def test_list_window_of_exactly_30_days_is_accepted(sessions, clock):  # type: ignore[no-untyped-def]
    sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    listed = sessions.list_masking_session(
        created_time__gte=filter_time(clock.now - 30 * 86400), created_time__lte=filter_time(clock.now)
    )
    assert listed.response.meta.total_count == 1


# -- update ------------------------------------------------------------------------------------
def test_update_session_expiry_counts_from_the_update(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(100)
    updated = plain(sessions.update_masking_session(created.session_uuid, session_expiry=600))
    assert set(updated) == {"api_id", "message", "session"}
    assert updated["message"] == "Session updated"
    s = updated["session"]
    assert s["created_time"] == ts(t0)
    assert s["modified_time"] == ts(t0 + 100)
    assert s["expiry_time"] == ts(t0 + 100 + 600)
    assert s["duration"] == 700
    assert s["status"] == "active"
    got = sessions.get_masking_session(created.session_uuid).response
    assert (got.expiry_time, got.duration, got.modified_time) == (ts(t0 + 700), 700, ts(t0 + 100))


def test_update_can_shorten_the_session(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(1000)
    updated = sessions.update_masking_session(created.session_uuid, session_expiry=60)
    assert updated.session.expiry_time == ts(t0 + 1060)
    assert updated.session.duration == 1060


def test_update_every_updatable_setting(sessions, clock):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    before = plain(created.session)
    clock.advance(5)
    updated = sessions.update_masking_session(
        created.session_uuid,
        call_time_limit=14600,
        record=True,
        record_file_format="wav",
        recording_callback_url="https://hooks.example.com/rec",
        callback_url="https://hooks.example.com/status",
        callback_method="GET",
        ring_timeout=20,
        first_party_play_url="https://media.example.com/a.mp3",
        second_party_play_url="https://media.example.com/b.mp3",
        recording_callback_method="GET",
    )
    after = plain(updated.session)
    changed = {
        "call_time_limit": 14600,
        "record": True,
        "record_file_format": "wav",
        "recording_callback_url": "https://hooks.example.com/rec",
        "callback_url": "https://hooks.example.com/status",
        "callback_method": "GET",
        "ring_timeout": 20,
        "first_party_play_url": "https://media.example.com/a.mp3",
        "second_party_play_url": "https://media.example.com/b.mp3",
        "recording_callback_method": "GET",
        "modified_time": ts(clock.now),
    }
    assert after == {**before, **changed}
    assert plain(sessions.get_masking_session(created.session_uuid).response) == after


def test_update_with_empty_string_clears_urls(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        callback_url="https://hooks.example.com/status",
        recording_callback_url="https://hooks.example.com/rec",
        first_party_play_url=AUDIO,
    )
    updated = sessions.update_masking_session(
        created.session_uuid, callback_url="", recording_callback_url="", first_party_play_url=""
    )
    assert updated.session.callback_url == ""
    assert updated.session.recording_callback_url == ""
    assert updated.session.first_party_play_url == ""


def test_empty_update_only_bumps_modified_time(sessions, clock):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    before = plain(created.session)
    clock.advance(42)
    updated = sessions.update_masking_session(created.session_uuid)
    assert updated.message == "Session updated"
    assert plain(updated.session) == {**before, "modified_time": ts(clock.now)}


def test_update_zero_means_unchanged(sessions, clock):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        session_expiry=900,
        call_time_limit=300,
        ring_timeout=20,
    )
    clock.advance(10)
    updated = sessions.update_masking_session(
        created.session_uuid, session_expiry=0, call_time_limit=0, ring_timeout=0
    )
    s = updated.session
    assert (s.expiry_time, s.duration) == (created.session.expiry_time, 900)
    assert (s.call_time_limit, s.ring_timeout) == (300, 20)


def test_update_accepts_and_ignores_geomatch_subaccount_single_party(sessions, tenant):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    updated = sessions.update_masking_session(
        created.session_uuid,
        geomatch=False,
        create_session_with_single_party=True,
        subaccount="SA" + "Q" * 18,
    )
    assert updated.session.virtual_number == created.session.virtual_number
    assert updated.session.create_session_with_single_party is False
    assert "subaccount" not in updated.session


def test_update_string_coercions(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    updated = sessions.update_masking_session(
        created.session_uuid, record="true", call_time_limit="600", ring_timeout="15"
    )
    assert updated.session.record is True
    assert updated.session.call_time_limit == 600
    assert updated.session.ring_timeout == 15


# -- delete ------------------------------------------------------------------------------------
def test_delete_expires_the_session(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    clock.advance(50)
    deleted = plain(sessions.delete_masking_session(created.session_uuid))
    assert set(deleted) == {"api_id", "message"}
    assert deleted["message"] == "Session expired"
    uuid.UUID(deleted["api_id"])
    got = sessions.get_masking_session(created.session_uuid).response
    assert got.status == "expired"
    assert got.expiry_time == got.modified_time == ts(t0 + 50)
    assert got.created_time == ts(t0)
    assert got.duration == 50


def test_delete_answers_200_with_a_body(http, sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    response = http.delete(f"/Session/{created.session_uuid}/")
    assert response.status_code == 200
    assert response.json()["message"] == "Session expired"


def test_expired_session_is_still_listed_and_readable(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    sessions.delete_masking_session(created.session_uuid)
    [obj] = sessions.list_masking_session().response.objects
    assert obj.session_uuid == created.session_uuid
    assert obj.status == "expired"


def test_delete_frees_the_parties_on_the_number(sessions, tenant):  # type: ignore[no-untyped-def]
    a = fresh_number()
    first = sessions.create_masking_session(first_party=a, second_party=fresh_number())
    sessions.delete_masking_session(first.session_uuid)
    # The party may hold every number of the pool again, the one it left included (last: the
    # default policy gives a party the numbers it has not left lately first).
    again = [
        sessions.create_masking_session(first_party=a, second_party=fresh_number()) for _ in tenant.numbers
    ]
    assert sorted(s.virtual_number for s in again) == sorted(tenant.numbers)
    assert again[-1].virtual_number == first.virtual_number


def test_natural_expiry(sessions, clock):  # type: ignore[no-untyped-def]
    t0 = clock.now
    created = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), session_expiry=60
    )
    clock.advance(61)
    got = sessions.get_masking_session(created.session_uuid).response
    assert got.status == "expired"
    assert got.expiry_time == ts(t0 + 60)
    assert got.duration == 60
    expired = sessions.list_masking_session(status="expired").response.objects
    assert [o.session_uuid for o in expired] == [created.session_uuid]


# -- single-party sessions ---------------------------------------------------------------------
def test_single_party_with_first_party_only(sessions, tenant):  # type: ignore[no-untyped-def]
    first = fresh_number()
    created = sessions.create_masking_session(first_party=first, create_session_with_single_party=True)
    s = created.session
    assert (s.first_party, s.second_party) == (digits(first), "")
    assert s.create_session_with_single_party is True
    assert created.virtual_number == tenant.numbers[0]


def test_single_party_with_second_party_only(sessions):  # type: ignore[no-untyped-def]
    second = fresh_number()
    created = sessions.create_masking_session(second_party=second, create_session_with_single_party=True)
    assert (created.session.first_party, created.session.second_party) == ("", digits(second))


def test_single_party_flag_with_both_parties(sessions):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    created = sessions.create_masking_session(
        first_party=first, second_party=second, create_session_with_single_party=True
    )
    s = created.session
    assert (s.first_party, s.second_party) == (digits(first), digits(second))
    assert s.create_session_with_single_party is True


def test_single_party_missing_party_is_filled_by_update(sessions, clock):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    created = sessions.create_masking_session(first_party=first, create_session_with_single_party=True)
    clock.advance(3)
    updated = sessions.update_masking_session(created.session_uuid, second_party=second)
    assert updated.session.second_party == digits(second)
    assert updated.session.first_party == digits(first)
    assert updated.session.modified_time == ts(clock.now)
    assert updated.session.virtual_number == created.session.virtual_number
    listed = sessions.list_masking_session(second_party=second)
    assert [o.session_uuid for o in listed.response.objects] == [created.session_uuid]
    # Once filled, the party is fixed.
    with raises_exact(
        plivo.exceptions.ValidationError,
        "Invalid parameter. second_party cannot be updated for an active session.",
    ):
        sessions.update_masking_session(created.session_uuid, second_party=fresh_number())


def test_single_party_first_party_filled_by_update(sessions):  # type: ignore[no-untyped-def]
    first, second = new_pair()
    created = sessions.create_masking_session(second_party=second, create_session_with_single_party=True)
    updated = sessions.update_masking_session(created.session_uuid, first_party=digits(first))
    assert (updated.session.first_party, updated.session.second_party) == (digits(first), digits(second))


def test_filling_the_party_frees_the_number_for_another_open_session(server, sdk_for):  # type: ignore[no-untyped-def]
    # An open single-party session (no PIN) takes every unknown caller on its number, so only
    # one may be live per number (§11.5); once its party is filled in, the number is open again.
    client = sdk_for(server.tenant(numbers=1)).masking_sessions
    open_one = client.create_masking_session(
        first_party=fresh_number(), create_session_with_single_party=True
    )
    with raises_exact(plivo.exceptions.ValidationError, "Number pool exhausted or not available"):
        client.create_masking_session(first_party=fresh_number(), create_session_with_single_party=True)
    client.update_masking_session(open_one.session_uuid, second_party=fresh_number())
    other = client.create_masking_session(first_party=fresh_number(), create_session_with_single_party=True)
    assert other.virtual_number == open_one.virtual_number


# -- PIN sessions ------------------------------------------------------------------------------
def test_pin_session_with_given_pins(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="98765",
        pin_prompt_play=PROMPT,
    )
    s = plain(created.session)
    assert s["is_pin_authentication_required"] is True
    assert s["generate_pin"] is False
    assert s["generate_pin_length"] == 4
    assert (s["first_party_pin"], s["second_party_pin"]) == ("1234", "98765")
    assert s["pin_prompt_play"] == PROMPT
    assert s["pin_retry"] == 1
    assert s["pin_retry_wait"] == 5
    assert s["force_pin_authentication"] is False


def test_pin_session_with_every_pin_setting(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=True,
        first_party_pin="123456789012345",
        second_party_pin="0000",
        pin_prompt_play=PROMPT,
        incorrect_pin_play=AUDIO,
        pin_retry=5,
        pin_retry_wait=10,
        force_pin_authentication=True,
    )
    s = created.session
    assert (s.first_party_pin, s.second_party_pin) == ("123456789012345", "0000")
    assert s.incorrect_pin_play == AUDIO
    assert (s.pin_retry, s.pin_retry_wait) == (5, 10)
    assert s.force_pin_authentication is True


@pytest.mark.parametrize("length", [4, 9, 15])
def test_generated_pins(sessions, length):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=True,
        generate_pin=True,
        generate_pin_length=length,
        pin_prompt_play=PROMPT,
    )
    s = created.session
    assert s.generate_pin is True
    assert s.generate_pin_length == length
    for pin in (s.first_party_pin, s.second_party_pin):
        assert isinstance(pin, str)
        assert re.fullmatch(rf"[0-9]{{{length}}}", pin), pin
    assert s.first_party_pin != s.second_party_pin


def test_generated_pins_default_to_four_digits(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=True,
        generate_pin=True,
        pin_prompt_play=PROMPT,
    )
    s = created.session
    assert s.generate_pin_length == 4
    assert re.fullmatch(r"[0-9]{4}", s.first_party_pin)
    assert re.fullmatch(r"[0-9]{4}", s.second_party_pin)
    assert s.first_party_pin != s.second_party_pin


def test_generate_pin_replaces_given_pins_without_checking_them(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=True,
        generate_pin=True,
        generate_pin_length=6,
        first_party_pin="12",
        second_party_pin="12",
        pin_prompt_play=PROMPT,
    )
    assert created.session.first_party_pin != "12"
    assert re.fullmatch(r"[0-9]{6}", created.session.first_party_pin)
    assert re.fullmatch(r"[0-9]{6}", created.session.second_party_pin)


def test_pin_fields_are_ignored_when_pin_auth_is_off(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=False,
        generate_pin="x",
        generate_pin_length=99,
        first_party_pin="x",
        second_party_pin="x",
        pin_prompt_play="http://not valid/p.mp3",
        incorrect_pin_play="http://not valid/i.mp3",
        pin_retry=99,
        pin_retry_wait=99,
        force_pin_authentication="x",
    )
    s = plain(created.session)
    for name in (
        "generate_pin",
        "generate_pin_length",
        "first_party_pin",
        "second_party_pin",
        "pin_prompt_play",
        "incorrect_pin_play",
        "pin_retry",
        "pin_retry_wait",
    ):
        assert s[name] is None, name
    assert s["force_pin_authentication"] is False
    assert s["is_pin_authentication_required"] is False


def test_pin_retry_zero_is_literal_and_pin_retry_wait_zero_is_default(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        second_party=fresh_number(),
        is_pin_authentication_required=True,
        first_party_pin="1111",
        second_party_pin="2222",
        pin_prompt_play=PROMPT,
        pin_retry=0,
        pin_retry_wait=0,
    )
    assert created.session.pin_retry == 0
    assert created.session.pin_retry_wait == 5


def test_pin_session_with_single_party(sessions):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        first_party=fresh_number(),
        create_session_with_single_party=True,
        is_pin_authentication_required=True,
        generate_pin=True,
        pin_prompt_play=PROMPT,
    )
    assert created.session.second_party == ""
    assert created.session.first_party_pin != created.session.second_party_pin


# -- geomatch ----------------------------------------------------------------------------------
def test_geomatch_false_lets_a_foreign_party_use_the_pool(sessions, tenant):  # type: ignore[no-untyped-def]
    from tests.contract.helpers import gb_number

    created = sessions.create_masking_session(
        first_party=gb_number(), second_party=fresh_number(), geomatch=False
    )
    assert created.virtual_number in tenant.numbers


def test_geomatch_uses_the_second_party_of_a_single_party_session(sessions, tenant):  # type: ignore[no-untyped-def]
    created = sessions.create_masking_session(
        second_party=fresh_number(), create_session_with_single_party=True
    )
    assert created.virtual_number in tenant.numbers


def test_geomatch_matches_the_number_country(server, sdk_for):  # type: ignore[no-untyped-def]
    from tests.contract.helpers import gb_number

    gb_pool = [gb_number(), gb_number()]
    account = server.tenant(numbers=gb_pool)
    created = sdk_for(account).masking_sessions.create_masking_session(
        first_party=gb_number(), second_party=fresh_number()
    )
    assert created.virtual_number in gb_pool


def test_geomatch_uses_the_configured_country_of_the_number(server, sdk_for):  # type: ignore[no-untyped-def]
    from tests.contract.helpers import ca_number

    # +1 628 numbers configured as Canadian serve Canadian parties, not US ones (§11.9).
    account = server.tenant(numbers=1, country="CA")
    client = sdk_for(account).masking_sessions
    created = client.create_masking_session(first_party=ca_number(), second_party=fresh_number())
    assert created.virtual_number == account.numbers[0]
    with raises_exact(plivo.exceptions.ValidationError, "Number pool exhausted or not available"):
        client.create_masking_session(first_party=fresh_number(), second_party=fresh_number())


# -- subaccounts -------------------------------------------------------------------------------
def test_main_creates_for_its_subaccount(server, tenant, sessions):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=2, parent=tenant.auth_id)
    created = sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), subaccount=sub.auth_id
    )
    assert created.virtual_number in sub.numbers
    assert created.session.subaccount == sub.auth_id
    got = sessions.get_masking_session(created.session_uuid).response
    assert got.subaccount == sub.auth_id


def test_subaccount_creates_from_its_own_pool_only(server, tenant, sdk_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    client = sdk_for(sub).masking_sessions
    a = fresh_number()
    created = client.create_masking_session(first_party=a, second_party=fresh_number())
    assert created.virtual_number == sub.numbers[0]
    assert created.session.subaccount == sub.auth_id
    # Naming itself is allowed.
    second = client.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), subaccount=sub.auth_id
    )
    assert second.virtual_number == sub.numbers[0]
    # Its single number is taken for a; the parent's three numbers are not a fallback.
    with raises_exact(plivo.exceptions.ValidationError, "Number pool exhausted or not available"):
        client.create_masking_session(first_party=a, second_party=fresh_number())


def test_main_session_does_not_use_subaccount_numbers(server, sdk_for):  # type: ignore[no-untyped-def]
    main = server.tenant(numbers=0)
    sub = server.tenant(numbers=2, parent=main.auth_id)
    client = sdk_for(main).masking_sessions
    with raises_exact(plivo.exceptions.ValidationError, "Number pool exhausted or not available"):
        client.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    created = client.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number(), subaccount=sub.auth_id
    )
    assert created.virtual_number in sub.numbers


def test_main_sees_subaccount_sessions_but_not_the_reverse(server, tenant, sessions, sdk_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=2, parent=tenant.auth_id)
    sub_client = sdk_for(sub).masking_sessions
    own = sessions.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    theirs = sub_client.create_masking_session(first_party=fresh_number(), second_party=fresh_number())

    main_list = sessions.list_masking_session()
    assert {o.session_uuid for o in main_list.response.objects} == {own.session_uuid, theirs.session_uuid}
    only_sub = sessions.list_masking_session(subaccount=sub.auth_id)
    assert [o.session_uuid for o in only_sub.response.objects] == [theirs.session_uuid]
    sub_list = sub_client.list_masking_session()
    assert [o.session_uuid for o in sub_list.response.objects] == [theirs.session_uuid]
    assert sub_list.response.objects[0].resource_uri == (
        f"/v1/Account/{sub.auth_id}/Masking/Session/{theirs.session_uuid}/"
    )

    assert sessions.get_masking_session(theirs.session_uuid).response.subaccount == sub.auth_id
    with raises_exact(plivo.exceptions.ResourceNotFoundError, "Session not found"):
        sub_client.get_masking_session(own.session_uuid)
    with raises_exact(plivo.exceptions.ResourceNotFoundError, "Session not found"):
        sub_client.update_masking_session(own.session_uuid, record=True)
    with raises_exact(plivo.exceptions.ResourceNotFoundError, "Session not found"):
        sub_client.delete_masking_session(own.session_uuid)


def test_main_updates_and_deletes_subaccount_sessions(server, tenant, sessions, sdk_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    created = sdk_for(sub).masking_sessions.create_masking_session(
        first_party=fresh_number(), second_party=fresh_number()
    )
    updated = sessions.update_masking_session(created.session_uuid, ring_timeout=33)
    assert updated.session.ring_timeout == 33
    assert updated.session.subaccount == sub.auth_id
    assert sessions.delete_masking_session(created.session_uuid).message == "Session expired"
    assert (
        sdk_for(sub).masking_sessions.get_masking_session(created.session_uuid).response.status == "expired"
    )


def test_subaccount_list_filter_may_name_itself(server, tenant, sdk_for):  # type: ignore[no-untyped-def]
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    client = sdk_for(sub).masking_sessions
    created = client.create_masking_session(first_party=fresh_number(), second_party=fresh_number())
    listed = client.list_masking_session(subaccount=sub.auth_id)
    assert [o.session_uuid for o in listed.response.objects] == [created.session_uuid]
