"""The replies' bytes: key order, null against absent, numbers as the SDKs' fixtures show them.
The expected bytes are what the API answered before the replies were Structs (contract §7)."""

from __future__ import annotations

import re

import msgspec

from maskline.domain.calls import Call, CallState
from maskline.domain.model import Number, NumberState, Session
from maskline.domain.params import SessionSettings
from maskline.http.render import (
    ListedSession,
    SessionCreated,
    SessionExpired,
    list_object,
    number_object,
    session_object,
)
from maskline.http.wire import Error

MAIN, SUB = "MA" + "1" * 18, "SA" + "1" * 18
SINGLE_PARTY_WITH_PIN_AND_CALLS = Session(
    uuid="0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40",
    account_id=SUB,
    main_id=MAIN,
    first_party="+14155550111",
    second_party="",
    virtual_number="+14155550133",
    created=1767225600,
    modified=1767225700,
    expiry=1767227400,
    settings=SessionSettings(
        call_time_limit=14400,
        ring_timeout=45,
        is_pin_authentication_required=True,
        generate_pin=False,
        generate_pin_length=4,
        first_party_pin="1234",
        second_party_pin="4321",
        pin_prompt_play="https://e.com/p.mp3",
        pin_retry=1,
        pin_retry_wait=5,
        incorrect_pin_play="",
        create_session_with_single_party=True,
    ),
    total_call_count=1,
    last_interaction=1767225760,
    interactions=[
        Call(
            account_id=SUB,
            call_id="c1",
            virtual_number="+14155550133",
            caller="+14155550111",
            started=1767225700,
            state=list(CallState)[0],
            ended=1767225760,
            a_leg="/a/",
            a_status="no-answer",
            duration=60,
        ),
        Call(
            account_id=SUB,
            call_id="c2",
            virtual_number="+14155550133",
            caller="+14155550122",
            caller_is_first=False,
            started=1767225800,
            state=list(CallState)[0],
            a_leg="/a2/",
            b_leg="/b2/",
            a_status="in-progress",
            b_status="in-progress",
            recording_url="https://r/1.mp3",
        ),
    ],
)
PLAIN = Session(
    uuid="0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e41",
    account_id=MAIN,
    main_id=MAIN,
    first_party="+14155550111",
    second_party="+14155550122",
    virtual_number="+14155550133",
    created=1767225600,
    modified=1767225600,
    expiry=1767227400,
    settings=SessionSettings(call_time_limit=60, ring_timeout=1),
)


def test_a_session_with_pin_calls_and_a_subaccount() -> None:
    assert msgspec.json.encode(session_object(SINGLE_PARTY_WITH_PIN_AND_CALLS, 1767225900)) == (
        b'{"session_uuid":"0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40","first_party":"14155550111","seco'
        b'nd_party":"","virtual_number":"14155550133","status":"active","initiate_call_to_first_pa'
        b'rty":false,"callback_url":"","callback_method":"POST","created_time":"2026-01-01 00:00:0'
        b'0 +0000 UTC","modified_time":"2026-01-01 00:01:40 +0000 UTC","expiry_time":"2026-01-01 0'
        b'0:30:00 +0000 UTC","duration":1800,"amount":0,"call_time_limit":14400,"ring_timeout":45,'
        b'"first_party_play_url":"","second_party_play_url":"","record":false,"record_file_format"'
        b':"mp3","recording_callback_url":"","recording_callback_method":"POST","interaction":[{"s'
        b'tart_time":"2026-01-01 00:01:40 +0000 UTC","end_time":"2026-01-01 00:02:40 +0000 UTC","t'
        b'ype":"call","total_call_amount":0,"call_billed_duration":0,"recording_resource_url":null'
        b',"auth_id":"SA111111111111111111","total_call_count":1,"duration":60,"first_party_resour'
        b'ce_url":"/a/","first_party_status":"no-answer"},{"start_time":"2026-01-01 00:03:20 +0000'
        b' UTC","end_time":"","type":"call","total_call_amount":0,"call_billed_duration":0,"record'
        b'ing_resource_url":"https://r/1.mp3","auth_id":"SA111111111111111111","total_call_count":'
        b'2,"duration":0,"first_party_resource_url":"/b2/","first_party_status":"in-progress","sec'
        b'ond_party_resource_url":"/a2/","second_party_status":"in-progress"}],"total_call_amount"'
        b':0,"total_call_count":1,"total_call_billed_duration":0,"total_session_amount":0,"last_in'
        b'teraction_time":"2026-01-01 00:02:40 +0000 UTC","is_pin_authentication_required":true,"g'
        b'enerate_pin":false,"generate_pin_length":4,"first_party_pin":"1234","second_party_pin":"'
        b'4321","pin_prompt_play":"https://e.com/p.mp3","pin_retry":1,"pin_retry_wait":5,"incorrec'
        b't_pin_play":"","unknown_caller_play":"","create_session_with_single_party":true,"virtual'
        b'_number_cooloff_period":0,"force_pin_authentication":false,"subaccount":"SA1111111111111'
        b'11111"}'
    )


def test_a_listed_session_has_its_keys_sorted_but_not_its_interactions() -> None:
    listed = list_object(SINGLE_PARTY_WITH_PIN_AND_CALLS, 1767227500, MAIN)
    assert isinstance(listed, ListedSession)
    assert msgspec.json.encode(listed) == (
        b'{"amount":0,"call_time_limit":14400,"callback_method":"POST","callback_url":"","create_s'
        b'ession_with_single_party":true,"created_time":"2026-01-01 00:00:00 +0000 UTC","duration"'
        b':1800,"expiry_time":"2026-01-01 00:30:00 +0000 UTC","first_party":"14155550111","first_p'
        b'arty_pin":"1234","first_party_play_url":"","force_pin_authentication":false,"generate_pi'
        b'n":false,"generate_pin_length":4,"incorrect_pin_play":"","initiate_call_to_first_party":'
        b'false,"interaction":[{"start_time":"2026-01-01 00:01:40 +0000 UTC","end_time":"2026-01-0'
        b'1 00:02:40 +0000 UTC","type":"call","total_call_amount":0,"call_billed_duration":0,"reco'
        b'rding_resource_url":null,"auth_id":"SA111111111111111111","total_call_count":1,"duration'
        b'":60,"first_party_resource_url":"/a/","first_party_status":"no-answer"},{"start_time":"2'
        b'026-01-01 00:03:20 +0000 UTC","end_time":"","type":"call","total_call_amount":0,"call_bi'
        b'lled_duration":0,"recording_resource_url":"https://r/1.mp3","auth_id":"SA111111111111111'
        b'111","total_call_count":2,"duration":0,"first_party_resource_url":"/b2/","first_party_st'
        b'atus":"in-progress","second_party_resource_url":"/a2/","second_party_status":"in-progres'
        b's"}],"is_pin_authentication_required":true,"last_interaction_time":"2026-01-01 00:02:40 '
        b'+0000 UTC","modified_time":"2026-01-01 00:01:40 +0000 UTC","pin_prompt_play":"https://e.'
        b'com/p.mp3","pin_retry":1,"pin_retry_wait":5,"record":false,"record_file_format":"mp3","r'
        b'ecording_callback_method":"POST","recording_callback_url":"","resource_uri":"/v1/Account'
        b'/MA111111111111111111/Masking/Session/0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40/","ring_timeo'
        b'ut":45,"second_party":"","second_party_pin":"4321","second_party_play_url":"","session_u'
        b'uid":"0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40","status":"expired","subaccount":"SA111111111'
        b'111111111","total_call_amount":0,"total_call_billed_duration":0,"total_call_count":1,"to'
        b'tal_session_amount":0,"unknown_caller_play":"","virtual_number":"14155550133","virtual_n'
        b'umber_cooloff_period":0}'
    )


def test_a_plain_session() -> None:
    assert msgspec.json.encode(session_object(PLAIN, 1767225900)) == (
        b'{"session_uuid":"0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e41","first_party":"14155550111","seco'
        b'nd_party":"14155550122","virtual_number":"14155550133","status":"active","initiate_call_'
        b'to_first_party":false,"callback_url":"","callback_method":"POST","created_time":"2026-01'
        b'-01 00:00:00 +0000 UTC","modified_time":"2026-01-01 00:00:00 +0000 UTC","expiry_time":"2'
        b'026-01-01 00:30:00 +0000 UTC","duration":1800,"amount":0,"call_time_limit":60,"ring_time'
        b'out":1,"first_party_play_url":"","second_party_play_url":"","record":false,"record_file_'
        b'format":"mp3","recording_callback_url":"","recording_callback_method":"POST","interactio'
        b'n":null,"total_call_amount":0,"total_call_count":0,"total_call_billed_duration":0,"total'
        b'_session_amount":0,"last_interaction_time":"","is_pin_authentication_required":false,"ge'
        b'nerate_pin":null,"generate_pin_length":null,"first_party_pin":null,"second_party_pin":nu'
        b'll,"pin_prompt_play":null,"pin_retry":null,"pin_retry_wait":null,"incorrect_pin_play":nu'
        b'll,"unknown_caller_play":"","create_session_with_single_party":false,"virtual_number_coo'
        b'loff_period":0,"force_pin_authentication":false}'
    )


def test_a_number_of_a_subaccount() -> None:
    number = Number("+14155550133", MAIN, SUB, "US", NumberState.RETIRED, 1767225600, live_sessions=2)
    assert msgspec.json.encode(number_object(number, MAIN)) == (
        b'{"number":"14155550133","country":"US","subaccount":"SA111111111111111111","status":"ret'
        b'ired","live_session_count":2,"added_time":"2026-01-01 00:00:00 +0000 UTC","resource_uri"'
        b':"/v1/Account/MA111111111111111111/Masking/Number/14155550133/"}'
    )


def test_replies_begin_with_a_new_api_id() -> None:
    api_id = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    first, second = (msgspec.json.encode(SessionExpired()) for _ in range(2))
    assert re.fullmatch(f'{{"api_id":"{api_id}","message":"Session expired"}}'.encode(), first)
    assert first != second
    assert re.fullmatch(
        f'{{"api_id":"{api_id}","error":"x"}}'.encode(), msgspec.json.encode(Error(error="x"))
    )
    created = SessionCreated(session_uuid="u", virtual_number="+1", session=session_object(PLAIN, 0))
    head = '"session_uuid":"u","virtual_number":"\\+1","message":"Session created","session":{'
    assert re.match(f'{{"api_id":"{api_id}",{head}'.encode(), msgspec.json.encode(created))
