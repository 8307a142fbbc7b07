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
    left_longest_ago,
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


def test_quarantine_takes_the_first_free_number_the_parties_have_not_left_lately() -> None:
    assert list(candidates(POOL, {"+1N3"}, Policy.QUARANTINE, {"+1N1"})) == ["+1N2"]
    assert list(candidates(POOL, set(), Policy.QUARANTINE)) == ["+1N1", "+1N2", "+1N3"]  # first-fit


def test_quarantine_comes_last_to_the_number_left_longest_ago() -> None:
    left = {"+1N1": 500, "+1N2": 700, "+1N3": 500}
    assert list(candidates(POOL, set(), Policy.QUARANTINE, left)) == []
    assert left_longest_ago(POOL, {"+1N1"}, left) == ["+1N3", "+1N2"]
    assert left_longest_ago(POOL, set(), left) == ["+1N1", "+1N3", "+1N2"]  # ties in rank order


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=30, unique=True),
    st.sets(st.integers(0, 50)),
    st.dictionaries(st.integers(0, 50), st.integers(0, 5)),
)
def test_quarantine_offers_every_free_number_once_fresh_ones_first_in_rank_order(
    ranks: list[int], blocked: set[int], left_at: dict[int, int]
) -> None:
    pool = [PoolNumber(f"+{r}", r, 0) for r in sorted(ranks)]
    held = {f"+{b}" for b in blocked}
    left = {f"+{n}": t for n, t in left_at.items()}
    fresh = list(candidates(pool, held, Policy.QUARANTINE, left))
    used = left_longest_ago(pool, held, left)
    assert sorted(fresh + used) == sorted(f"+{r}" for r in ranks if r not in blocked)
    assert fresh == sorted(fresh, key=lambda n: int(n)) and not set(fresh) & set(left)
    assert [left[n] for n in used] == sorted(left[n] for n in used)
