"""Every branch of the message decisions: keywords, and whom a text reaches."""

from __future__ import annotations

import pytest

from maskline.domain.messages import (
    Drop,
    Keyword,
    Relay,
    keyword,
    route_message,
)
from maskline.domain.routing import NumberView
from tests.unit.test_routing import PIN, A, B, X, session


@pytest.mark.parametrize("word", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
def test_opt_out_words_in_any_case_and_spacing(word: str) -> None:
    for text in (word, word.lower(), word.title(), f"  {word}\n", f"\t{word.lower()} "):
        assert keyword(text) is Keyword.OPT_OUT


@pytest.mark.parametrize(("text", "kind"), [("start", Keyword.OPT_IN), (" Unstop ", Keyword.OPT_IN)])
def test_opt_in_words(text: str, kind: Keyword) -> None:
    assert keyword(text) is kind


def test_help() -> None:
    assert keyword(" help ") is Keyword.HELP


@pytest.mark.parametrize(
    "text", ["", "stop it", "please stop", "STOP!", "S TOP", "help me", "started", "ＳＴＯＰ", "ſtop"]
)
def test_only_the_whole_message_is_a_keyword(text: str) -> None:
    assert keyword(text) is None


def test_a_party_reaches_the_other_party_both_ways() -> None:
    s = session()
    assert route_message(A, NumberView(own=s)) == Relay(s, B)
    assert route_message(B, NumberView(own=s)) == Relay(s, A)


def test_an_unknown_sender_reaches_nobody() -> None:
    assert route_message(X, NumberView()) == Drop(unknown=True)
    assert route_message(None, NumberView()) == Drop(unknown=True)


def test_a_prompt_session_takes_no_unknown_sender() -> None:
    s = session(unknown_caller_play="https://x/who.mp3")
    assert route_message(X, NumberView(prompt=s)) == Drop(unknown=True)


def test_registered_parties_of_a_pin_session_relay_even_when_forced() -> None:
    s = session(**PIN, force_pin_authentication=True)
    assert route_message(A, NumberView(own=s, pin=s)) == Relay(s, B)
    assert route_message(B, NumberView(own=s, pin=s)) == Relay(s, A)


def test_an_unknown_sender_never_reaches_a_pin_session() -> None:
    s = session(**PIN)
    assert route_message(X, NumberView(pin=s)) == Drop(unknown=True)
    # The PIN itself, texted, is no way in either.
    assert route_message(X, NumberView(pin=s, prompt=s)) == Drop(unknown=True)


def test_an_open_single_party_session_takes_any_sender_and_remembers_them() -> None:
    s = session(first="", create_session_with_single_party=True)
    assert route_message(X, NumberView(open=s)) == Relay(s, B, counterpart=X)
    first_only = session(second="", create_session_with_single_party=True)
    assert route_message(X, NumberView(open=first_only)) == Relay(first_only, A, counterpart=X)


def test_the_single_partys_replies_go_to_whoever_wrote_last() -> None:
    s = session(first="", create_session_with_single_party=True)
    assert route_message(B, NumberView(own=s)) == Drop(unknown=False)  # nobody wrote yet
    s.last_counterpart = X
    assert route_message(B, NumberView(own=s)) == Relay(s, X)
