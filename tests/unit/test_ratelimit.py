"""Token buckets: never more than the burst plus the rate over time, and an honest wait."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maskline.domain.ratelimit import Limiter


@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_served_never_exceed_the_burst_plus_the_rate(rate: float, burst: int, gaps: list[float]) -> None:
    limiter = Limiter(rate, burst)
    now, served = 0.0, 0
    for gap in gaps:
        now += gap
        wait = limiter.take("account", now)
        if wait == 0:
            served += 1
        else:
            assert 0 < wait <= 1 / rate + 1e-9
            assert limiter.take("account", now + wait + 1e-9) == 0  # the wait was long enough
            served += 1
            now += wait + 1e-9
        assert served <= burst + rate * now + 1e-6


def test_keys_are_independent_and_waiting_takes_nothing() -> None:
    limiter = Limiter(1, 2)
    assert limiter.take("a", 0) == 0 and limiter.take("a", 0) == 0
    assert limiter.take("a", 0) == pytest.approx(1.0)
    assert limiter.wait("a", 0.5) == pytest.approx(0.5) and limiter.wait("a", 0.5) == pytest.approx(0.5)
    assert limiter.take("b", 0) == 0  # another account is not held back
    assert limiter.take("a", 1.0) == 0


def test_it_forgets_the_oldest_keys_beyond_its_capacity() -> None:
    limiter = Limiter(1, 1, capacity=4)
    for key in "abcd":
        limiter.take(key, 0)
    limiter.take("e", 0)  # forgets a and b: they start full again
    assert limiter.take("a", 0) == 0 and limiter.take("d", 0) > 0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        Limiter(0, 5)
    with pytest.raises(ValueError):
        Limiter(1, 0)


def test_asking_remembers_nothing() -> None:
    limiter = Limiter(1, 1, capacity=2)
    assert limiter.take("a", 0) == 0
    for key in "bcdefgh":  # unknown keys may be served, and asking does not crowd "a" out
        assert limiter.wait(key, 0) == 0
    assert limiter.wait("a", 0.25) == pytest.approx(0.75)
    assert limiter.take("a", 0.25) == pytest.approx(0.75)
