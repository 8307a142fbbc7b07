"""The pure allocator and the keys a session holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from maskline.domain.allocation import (
    LENGTHS_NEEDED,
    WILDCARD,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    fewest_late_calls,
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


def test_quarantine_takes_the_first_free_number_the_parties_have_not_left_lately() -> None:
    assert list(candidates(POOL, {"+1N3"}, Policy.QUARANTINE, {"+1N1"})) == ["+1N2"]
    assert list(candidates(POOL, set(), Policy.QUARANTINE)) == ["+1N1", "+1N2", "+1N3"]  # first-fit


HOUR, DAY = 3600, 86400


def test_quarantine_comes_last_to_the_numbers_left_lately() -> None:
    left = {"+1N1": [500], "+1N2": [700], "+1N3": [500]}
    assert list(candidates(POOL, set(), Policy.QUARANTINE, left)) == []


def test_with_sessions_of_days_the_number_left_longest_ago_comes_first() -> None:
    now = 10 * HOUR
    left = {"+1N1": [now - HOUR], "+1N2": [now - 7 * HOUR], "+1N3": [now - HOUR]}
    days = [2 * DAY] * LENGTHS_NEEDED
    assert fewest_late_calls(POOL, {"+1N1"}, left, days, now) == ["+1N2", "+1N3"]
    assert fewest_late_calls(POOL, set(), left, days, now) == ["+1N2", "+1N1", "+1N3"]  # ties in rank order


def test_with_short_sessions_a_number_whose_late_calls_come_after_them_is_as_good() -> None:
    """Sessions last 20 minutes: one placed on a number left 15 minutes ago ends before that
    departure's one-hour call, but one left 55 minutes ago would still carry it then."""
    now = 10 * HOUR
    left = {"+1N1": [now - 55 * 60], "+1N2": [now - 15 * 60]}
    short = [20 * 60] * LENGTHS_NEEDED
    assert fewest_late_calls(POOL, set(), left, short, now) == ["+1N2", "+1N1"]
    # Too few sessions have ended to tell how long they last: the one left longest ago first.
    assert fewest_late_calls(POOL, set(), left, short[1:], now) == ["+1N1", "+1N2"]


def test_every_departure_counts_not_only_the_last() -> None:
    now = 10 * HOUR
    twice = {"+1N1": [now - 2 * HOUR, now - 9 * HOUR], "+1N2": [now - 2 * HOUR]}
    days = [2 * DAY] * LENGTHS_NEEDED
    assert fewest_late_calls(POOL, set(), twice, days, now) == ["+1N2", "+1N1"]


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=30, unique=True),
    st.sets(st.integers(0, 50)),
    st.dictionaries(st.integers(0, 50), st.lists(st.integers(0, 2 * DAY), min_size=1, max_size=4)),
    st.lists(st.integers(1, 3 * DAY), max_size=20),
)
def test_quarantine_offers_every_free_number_once_fresh_ones_first_in_rank_order(
    ranks: list[int], blocked: set[int], left_at: dict[int, list[int]], lengths: list[int]
) -> None:
    now = 2 * DAY
    pool = [PoolNumber(f"+{r}", r, 0) for r in sorted(ranks)]
    held = {f"+{b}" for b in blocked}
    left = {f"+{n}": t for n, t in left_at.items()}
    fresh = list(candidates(pool, held, Policy.QUARANTINE, left))
    used = fewest_late_calls(pool, held, left, lengths, now)
    assert sorted(fresh + used) == sorted(f"+{r}" for r in ranks if r not in blocked)
    assert fresh == sorted(fresh, key=lambda n: int(n)) and not set(fresh) & set(left)
    # The order does not depend on the order the departures were read in.
    shuffled = {n: list(reversed(t)) for n, t in left.items()}
    assert fewest_late_calls(pool, held, shuffled, list(reversed(lengths)), now) == used
