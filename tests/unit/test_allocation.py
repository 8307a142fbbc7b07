"""The pure allocator and the keys a session holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from maskline.domain.allocation import (
    WILDCARD,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    hold_until,
    pin_key,
    session_keys,
)
from maskline.domain.params import SessionSettings

SETTINGS = SessionSettings(call_time_limit=60, ring_timeout=45)


def test_keys_of_a_plain_session() -> None:
    assert session_keys("+1A", "+1B", SETTINGS) == ("+1A", "+1B")


def test_open_single_party_session_holds_the_wildcard() -> None:
    assert session_keys("", "+1B", SETTINGS) == ("+1B", WILDCARD)


def test_pin_sessions_hold_their_pins_instead() -> None:
    settings = SessionSettings(
        call_time_limit=60,
        ring_timeout=45,
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="4321",
    )
    assert session_keys("+1A", "", settings) == ("+1A", pin_key("1234"), pin_key("4321"))


def test_hold_until_by_scope() -> None:
    assert hold_until(100, 30, CooloffScope.PER_PARTY) == 130
    assert hold_until(100, 30, CooloffScope.GLOBAL) == 100


POOL = [PoolNumber("+1N1", 1, 90), PoolNumber("+1N2", 2, 10), PoolNumber("+1N3", 3, 50)]


def test_first_fit_takes_the_lowest_rank() -> None:
    assert list(candidates(POOL, {"+1N1"}, Policy.FIRST_FIT)) == ["+1N2", "+1N3"]


def test_least_recent_takes_the_longest_unused() -> None:
    assert list(candidates(POOL, set(), Policy.LEAST_RECENT)) == ["+1N2", "+1N3", "+1N1"]


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=30, unique=True),
    st.sets(st.integers(0, 50)),
    st.sampled_from(list(Policy)),
)
def test_candidates_are_exactly_the_free_numbers(ranks: list[int], blocked: set[int], policy: Policy) -> None:
    pool = [PoolNumber(f"+{r}", r, -r) for r in sorted(ranks)]
    chosen = list(candidates(pool, {f"+{b}" for b in blocked}, policy))
    assert sorted(chosen) == sorted(f"+{r}" for r in ranks if r not in blocked)
