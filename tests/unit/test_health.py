"""Number health: Fisher's exact test and the Benjamini–Hochberg correction checked against
their definitions, and the judgement on simulated pools: a sick number is flagged, healthy
noise is not (at the chosen false discovery rate or below), and too few calls never flag."""

from __future__ import annotations

import random
from math import comb

from hypothesis import given, settings
from hypothesis import strategies as st

from maskline.domain.health import (
    ALPHA,
    MIN_CALLS,
    HealthRules,
    NumberCalls,
    assess,
    benjamini_hochberg,
    carrier_failure,
    hypergeometric_lower_tail,
)


def _comb(n: int, k: int) -> int:
    return comb(n, k) if 0 <= k <= n else 0


def exact_lower_tail(k: int, n: int, successes: int, population: int) -> float:
    ways = sum(_comb(successes, x) * _comb(population - successes, n - x) for x in range(k + 1))
    return ways / comb(population, n)


@st.composite
def draws(draw: st.DrawFn) -> tuple[int, int, int, int]:
    population = draw(st.integers(1, 120))
    successes = draw(st.integers(0, population))
    n = draw(st.integers(0, population))
    return draw(st.integers(0, n)), n, successes, population


@given(draws())
def test_the_tail_is_the_hypergeometric_sum(case: tuple[int, int, int, int]) -> None:
    got, exact = hypergeometric_lower_tail(*case), exact_lower_tail(*case)
    assert abs(got - exact) <= 1e-9 * max(exact, 1e-12) + 1e-15


def test_tails_far_from_the_mode_neither_overflow_nor_lose_their_size() -> None:
    assert hypergeometric_lower_tail(80, 200, 930, 1200) < 1e-30  # 40% against 85%
    assert hypergeometric_lower_tail(2000, 2000, 30_000, 40_000) == 1.0
    assert 0.4 < hypergeometric_lower_tail(170, 200, 1020, 1200) < 0.7  # the pool's own rate
    assert hypergeometric_lower_tail(100, 20_000, 15_000, 100_000) == 0.0  # underflows to nothing


@given(st.lists(st.floats(0, 1), max_size=30), st.sampled_from([0.01, 0.05, 0.2]))
def test_benjamini_hochberg_is_the_step_up_rule(pvalues: list[float], alpha: float) -> None:
    found = benjamini_hochberg(pvalues, alpha)
    ranked = sorted(pvalues)
    last = max((r for r in range(1, len(ranked) + 1) if ranked[r - 1] <= alpha * r / len(ranked)), default=0)
    assert sum(found) == last
    if last:
        threshold = ranked[last - 1]
        assert found == [p <= threshold for p in pvalues]


def simulated(
    rng: random.Random, rates: list[float], calls: list[int], short: float = 0.1, failing: float = 0.0
) -> list[NumberCalls]:
    """A pool of numbers, each dialling ``calls[i]`` parties who answer at ``rates[i]``; of the
    unanswered, a ``failing`` share fails in the carrier's network."""
    pool = []
    for i, (rate, n) in enumerate(zip(rates, calls, strict=True)):
        answered = sum(rng.random() < rate for _ in range(n))
        shorts = sum(rng.random() < short for _ in range(answered))
        failed = sum(rng.random() < failing for _ in range(n - answered))
        causes = {"NO_ANSWER": n - answered - failed, "NETWORK_OUT_OF_ORDER": failed}
        causes = {cause: k for cause, k in causes.items() if k}
        pool.append(NumberCalls("MA1", "MA1", "US", f"+1628555{i:04d}", n, answered, shorts, causes))
    return pool


def test_carrier_failures_are_told_from_the_called_partys_doing() -> None:
    assert not any(map(carrier_failure, ["USER_BUSY", "no-answer", "486", "", "NORMAL_CLEARING"]))
    assert all(map(carrier_failure, ["UNALLOCATED_NUMBER", "failed", "NETWORK_OUT_OF_ORDER", "404", "503"]))


@settings(derandomize=True)
@given(st.integers(0, 2**32))
def test_a_number_the_carrier_fails_to_connect_is_flagged_though_as_often_answered(seed: int) -> None:
    """Its unanswered calls fail in the network where the others' ring out: a dropped number."""
    rng = random.Random(seed)
    pool = simulated(rng, [0.80] * 12, [300] * 12)
    c = pool[5]
    pool[5] = NumberCalls(
        c.main_id, c.pool, c.country, c.number, c.dialled, c.answered, c.short,
        {"UNALLOCATED_NUMBER": c.dialled - c.answered},
    )  # fmt: skip
    judged = assess(pool)
    assert [h.calls.number for h in judged if h.flagged] == [c.number]
    assert judged[5].worse == ("carrier failures",) and judged[5].failure_p is not None


# Derandomized: a healthy number is itself flagged about once in 3,000 such pools, which a
# random run would meet now and then; a fixed set of examples keeps the strict assertion.
@settings(derandomize=True)
@given(st.integers(0, 2**32), st.integers(5, 30), st.integers(200, 400))
def test_a_sick_number_among_healthy_ones_is_flagged(seed: int, size: int, calls: int) -> None:
    rng = random.Random(seed)
    rates = [0.85] * size
    sick = rng.randrange(size)
    rates[sick] = 0.40
    judged = assess(simulated(rng, rates, [calls] * size))
    assert [h.calls.number for h in judged if h.flagged] == [judged[sick].calls.number]
    assert judged[sick].worse == ("answer rate",)
    assert judged[sick].calls.top_cause == "NO_ANSWER"


@settings(derandomize=True)
@given(st.integers(0, 2**32))
def test_a_number_whose_calls_are_cut_short_is_flagged(seed: int) -> None:
    rng = random.Random(seed)
    pool = simulated(rng, [0.85] * 12, [300] * 12)
    c = pool[3]
    pool[3] = NumberCalls(c.main_id, c.pool, c.country, c.number, c.dialled, c.answered, c.answered // 2)
    judged = assess(pool)
    assert [h.calls.number for h in judged if h.flagged] == [c.number]
    assert judged[3].worse == ("short calls",)


def false_alarms(alpha: float, seeds: range, size: int = 20) -> int:
    """Pools of numbers answered at one rate, and failing at one, where any number was flagged."""
    alarms = 0
    rules = HealthRules(alpha=alpha, min_gap=0.0)  # the test alone decides
    for seed in seeds:
        rng = random.Random(seed)
        rate, failing = rng.uniform(0.5, 0.95), rng.choice([0.0, 0.2])
        calls = [rng.randint(MIN_CALLS, 300) for _ in range(size)]
        alarms += any(h.flagged for h in assess(simulated(rng, [rate] * size, calls, failing=failing), rules))
    return alarms


def test_healthy_noise_is_flagged_at_the_chosen_rate_or_below() -> None:
    """With every number healthy, every flag is false: the pools with any flag are at most the
    false discovery rate, within what chance allows (a binomial bound, 3 standard deviations)."""
    seeds = range(300)
    for alpha in (0.2, 0.05, ALPHA):
        bound = alpha * len(seeds) + 3 * (alpha * (1 - alpha) * len(seeds)) ** 0.5
        assert false_alarms(alpha, seeds) <= bound, alpha


def test_a_fixed_threshold_would_fail_where_the_test_does_not() -> None:
    """The noise test can fail: judging each number alone against the pool's rate (no
    correction, a plain 5% level) flags healthy pools far more often than 5%."""
    rng = random.Random(7)
    pools = [simulated(rng, [0.8] * 20, [60] * 20) for _ in range(100)]
    uncorrected = sum(
        any(
            hypergeometric_lower_tail(
                c.answered, c.dialled, sum(x.answered for x in p), sum(x.dialled for x in p)
            )
            < 0.05
            for c in p
        )
        for p in pools
    )
    assert uncorrected > 30
    assert sum(any(h.flagged for h in assess(p)) for p in pools) <= 3


@given(
    st.integers(0, 2**32),
    st.integers(0, MIN_CALLS - 1),
    st.integers(1, 40),
)
def test_too_few_calls_never_flag(seed: int, few: int, size: int) -> None:
    """A number with fewer than MIN_CALLS calls is not tested, however it fares: even one
    whose every call went unanswered."""
    rng = random.Random(seed)
    pool = simulated(rng, [0.9] * size, [rng.randint(0, 500) for _ in range(size)])
    pool.append(NumberCalls("MA1", "MA1", "US", "+16285559999", few, 0, 0, {"USER_BUSY": few}))
    judged = assess(pool)
    assert not judged[-1].flagged and judged[-1].answer_p is None
    # Nor is a pool judged against too few calls of the rest.
    alone = assess([NumberCalls("MA1", "MA1", "US", "+16285550000", 500, 10), pool[-1]])
    assert not any(h.flagged for h in alone)


def test_pools_and_countries_are_judged_apart() -> None:
    """A number is compared with its own pool and country only: answered at 40% among others
    at 40%, it is healthy, whatever another pool's rate."""
    rng = random.Random(3)
    us = simulated(rng, [0.85] * 10, [300] * 10)
    gb = [
        NumberCalls("MA1", "MA1", "GB", c.number[:-4] + "9" + c.number[-3:], c.dialled, c.answered // 2)
        for c in simulated(rng, [0.80] * 10, [300] * 10)
    ]
    judged = assess(us + gb)
    assert [h.calls for h in judged] == us + gb  # in the given order
    assert not any(h.flagged for h in judged)


def test_rates_and_top_cause() -> None:
    c = NumberCalls("MA1", "MA1", "US", "+16285550100", 10, 4, 1, {"busy": 3, "no-answer": 3})
    assert (c.answer_rate, c.short_rate, c.top_cause) == (0.4, 0.25, "busy")  # a tie: by name
    idle = NumberCalls("MA1", "MA1", "US", "+16285550101")
    assert (idle.answer_rate, idle.short_rate, idle.top_cause) == (None, None, "")
