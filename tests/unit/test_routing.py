"""Every branch of the routing decision."""

from __future__ import annotations

from maskline.domain.model import Session
from maskline.domain.params import SessionSettings
from maskline.domain.routing import (
    NO_SESSION,
    UNKNOWN_CALLER,
    Bridge,
    NumberView,
    Play,
    PromptPin,
    Reject,
    route,
    route_pin,
)

A, B, X, V = "+14155550001", "+14155550002", "+14155550099", "+16285550100"


def session(first: str = A, second: str = B, **settings: object) -> Session:
    return Session(
        uuid="s-" + first + second,
        account_id="MA",
        main_id="MA",
        first_party=first,
        second_party=second,
        virtual_number=V,
        created=0,
        modified=0,
        expiry=100,
        settings=SessionSettings(call_time_limit=600, ring_timeout=30, **settings),  # type: ignore[arg-type]
    )


PIN = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1111",
    "second_party_pin": "2222",
    "pin_prompt_play": "https://x/prompt.mp3",
    "pin_retry": 1,
    "pin_retry_wait": 5,
    "incorrect_pin_play": "https://x/wrong.mp3",
}


def test_a_party_reaches_the_other_party() -> None:
    s = session(first_party_play_url="https://x/1.mp3", second_party_play_url="https://x/2.mp3")
    decision = route(A, NumberView(own=s))
    assert decision == Bridge(s, B, caller_is_first=True)
    assert (decision.caller_play, decision.callee_play) == ("https://x/1.mp3", "https://x/2.mp3")
    back = route(B, NumberView(own=s))
    assert back == Bridge(s, A, caller_is_first=False)
    assert (back.caller_play, back.callee_play) == ("https://x/2.mp3", "https://x/1.mp3")


def test_registered_caller_on_a_pin_session_is_authorised() -> None:
    s = session(**PIN)
    assert route(A, NumberView(own=s, pin=s)) == Bridge(s, B, True, "AuthorizedCaller")


def test_forced_pin_prompts_registered_callers() -> None:
    s = session(**PIN, force_pin_authentication=True)
    assert route(A, NumberView(own=s, pin=s)) == PromptPin(s)


def test_single_party_session_routes_back_by_the_last_interaction() -> None:
    s = session(first="", second=B, create_session_with_single_party=True)
    assert route(B, NumberView(own=s, open=s)) == Reject(UNKNOWN_CALLER)
    s.last_counterpart = X
    assert route(B, NumberView(own=s, open=s)) == Bridge(s, X, caller_is_first=False)


def test_unknown_caller_reaches_an_open_single_party_session() -> None:
    s = session(first="", second=B, create_session_with_single_party=True)
    assert route(X, NumberView(open=s)) == Bridge(s, B, caller_is_first=True)


def test_unknown_caller_is_asked_for_a_pin() -> None:
    s = session(**PIN)
    assert route(X, NumberView(pin=s, prompt=session(unknown_caller_play="https://x/u.mp3"))) == PromptPin(s)


def test_unknown_caller_hears_the_prompt_then_hangs_up() -> None:
    p = session(unknown_caller_play="https://x/u.mp3")
    assert route(X, NumberView(prompt=p)) == Play("https://x/u.mp3", p)


def test_unknown_caller_without_prompt_is_rejected() -> None:
    assert route(X, NumberView()) == Reject(UNKNOWN_CALLER)
    assert route(None, NumberView()) == Reject(UNKNOWN_CALLER)
    assert UNKNOWN_CALLER == 403 and NO_SESSION == 404


def test_pins_connect_across() -> None:
    s = session(**PIN)
    assert route_pin("1111", X, s, s, 0) == Bridge(s, B, True, "success")
    assert route_pin("2222", X, s, s, 0) == Bridge(s, A, False, "success")


def test_forced_registered_caller_cannot_reach_themselves() -> None:
    s = session(**PIN, force_pin_authentication=True)
    assert route_pin("1111", A, s, s, 0) == Bridge(s, B, True, "success")
    assert route_pin("2222", A, s, s, 0) == PromptPin(s, 1, after_wrong=True)


def test_pin_of_a_single_party_session_reaches_its_party() -> None:
    s = session(first="", second=B, create_session_with_single_party=True, **PIN)
    assert route_pin("2222", X, s, s, 0) == Bridge(s, B, False, "success")


def test_wrong_pins_retry_then_end() -> None:
    s = session(**PIN)
    assert route_pin("9999", X, s, None, 0) == PromptPin(s, 1, after_wrong=True)
    assert route_pin("9999", X, s, None, 1) == Play("https://x/wrong.mp3", s)
    no_retry = session(**{**PIN, "pin_retry": 0, "incorrect_pin_play": ""})
    assert route_pin("9999", X, no_retry, None, 0) == Play("", no_retry)
