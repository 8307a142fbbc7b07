"""Late calls: a party calling its number after its session ended, and who it reaches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskline.domain.allocation import CooloffScope, Policy
from maskline.domain.model import HistoryRow
from maskline.sim import workloads
from maskline.sim.misroutes import DELAYS, HOUR, MINUTE, SIDES, busy_sides, misroutes
from maskline.sim.plan import late_call_plan, late_rate, plan
from maskline.sim.replay import POLICIES, k_star, replay
from maskline.sim.report import late_calls, misroute_table, simulate
from maskline.sim.trace import TraceSession
from tests.support import table_rows


def test_a_courier_calling_back_reaches_the_next_customer_on_the_number() -> None:
    trace = [
        TraceSession(0, 1000, "C", "R1"),  # ends at 1000
        TraceSession(1100, 5000, "C", "R2"),  # the courier has the number again, with R2
        TraceSession(2000, 2600, "C", "R3"),  # on another number
        TraceSession(4000, 4100, "X", "Y"),  # traffic until 4000: the horizon
    ]
    found = misroutes(trace, ["1", "1", "2", "1"], delays=(10 * MINUTE, HOUR))
    # 10 min after C–R1 ends, C holds number 1 with R2: misrouted; R1 holds nothing there. 10 min
    # after C–R3 ends (3200), C holds number 2 with nobody. X and Y end past the horizon.
    assert (found.cases["busy", 10 * MINUTE], found.misrouted["busy", 10 * MINUTE]) == (2, 1)
    assert (found.cases["other", 10 * MINUTE], found.misrouted["other", 10 * MINUTE]) == (2, 0)
    assert found.rate(10 * MINUTE) == 0.25 and found.rate(10 * MINUTE, "busy") == 0.5
    # An hour after C–R1 ends is 4600, past the last start: no case is counted at all.
    assert found.cases["busy", HOUR] == 0 and found.rate(HOUR) is None


def test_the_same_counterpart_again_and_a_refused_session_are_not_misroutes() -> None:
    trace = [
        TraceSession(0, 100, "A", "B"),
        TraceSession(200, 9000, "A", "B"),  # the same pair on the same number: reaches B
        TraceSession(300, 9000, "A", "C"),  # refused: never on a number
        TraceSession(8000, 8100, "D", "E"),
    ]
    found = misroutes(trace, ["1", "1", None, "2"], delays=(600,))
    assert found.rate(600) == 0.0 and sum(found.cases.values()) == 2  # A and B after the first
    with pytest.raises(ValueError):
        misroutes(trace, ["1"])


def test_the_busy_side_has_more_sessions_and_the_first_party_wins_a_tie() -> None:
    trace = [TraceSession(0, 10, "R", "C"), TraceSession(5, 10, "C", "S"), TraceSession(6, 9, "X", "Y")]
    assert busy_sides(trace) == ["C", "C", "X"]
    # The driver, courier or agent; in the marketplace, a little-known seller can have fewer
    # sessions than one of its buyers.
    for name, share in (("ride-hailing", 1), ("food-delivery", 1), ("agents-20", 1), ("marketplace", 0.9)):
        trace = workloads.REALISTIC[name](1)
        first = sum(busy == s.first for busy, s in zip(busy_sides(trace), trace, strict=True))
        assert first >= share * len(trace)


sessions = st.lists(
    st.tuples(st.integers(0, 20_000), st.integers(1, 8_000), st.integers(0, 7), st.integers(0, 7)),
    min_size=1,
    max_size=60,
)


def _trace(raw: list[tuple[int, int, int, int]]) -> list[TraceSession]:
    trace = [TraceSession(t, t + d, f"P{a}", f"P{b}") for t, d, a, b in raw if a != b]
    return sorted(trace, key=lambda s: s.start)


def _by_hand(trace: list[TraceSession], numbers: list[str | None], delay: int) -> tuple[int, int]:
    """Cases and misroutes at ``delay``, by looking at every session for every case."""
    horizon = max(s.start for s in trace)
    cases = misrouted = 0
    for s, n in zip(trace, numbers, strict=True):
        for party, counterpart in ((s.first, s.second), (s.second, s.first)):
            at = s.end + delay
            if n is None or at > horizon:
                continue
            cases += 1
            misrouted += any(
                m == n
                and party in (o.first, o.second)
                and counterpart not in (o.first, o.second)
                and o.start <= at < o.end
                for o, m in zip(trace, numbers, strict=True)
            )
    return cases, misrouted


@settings(max_examples=150)
@given(raw=sessions, policy=st.sampled_from(list(POLICIES)), size=st.integers(1, 10), seed=st.integers(0, 3))
def test_misroutes_are_what_a_look_at_every_session_finds_and_a_share(
    raw: list[tuple[int, int, int, int]], policy: str, size: int, seed: int
) -> None:
    trace = _trace(raw)
    if not trace:
        return
    numbers = replay(trace, size, POLICIES[policy], seed=seed).numbers
    found = misroutes(trace, numbers)
    for delay in DELAYS:
        cases = sum(found.cases[side, delay] for side in SIDES)
        misrouted = sum(found.misrouted[side, delay] for side in SIDES)
        assert (cases, misrouted) == _by_hand(trace, numbers, delay)
        for side in (None, *SIDES):
            rate = found.rate(delay, side)
            assert rate is None or 0 <= rate <= 1


@given(raw=sessions)
def test_a_policy_that_never_reuses_a_number_misroutes_nothing(raw: list[tuple[int, int, int, int]]) -> None:
    trace = _trace(raw)
    if not trace:
        return
    found = misroutes(trace, [str(i) for i in range(len(trace))])
    assert sum(found.misrouted.values()) == 0


@given(raw=sessions, policy=st.sampled_from(list(POLICIES)), size=st.integers(1, 10))
def test_a_trace_of_one_pair_of_parties_misroutes_nothing(
    raw: list[tuple[int, int, int, int]], policy: str, size: int
) -> None:
    """Two parties only: whatever numbers they are given, each only ever reaches the other."""
    trace = [TraceSession(t, t + d, "A", "B") for t, d, _, _ in raw]
    numbers = replay(trace, size, POLICIES[policy]).numbers
    assert sum(misroutes(trace, numbers).misrouted.values()) == 0


def test_the_report_gives_misroutes_per_side_and_both() -> None:
    rows = simulate(
        {"food-delivery": lambda seed: workloads.food_delivery(seed, couriers=20, hours=4)},
        ["first_fit", "quarantine"],
        [1],
        CooloffScope.PER_PARTY,
        late_calls=True,
    )
    first_fit, quarantine = (r.late for r in rows)
    assert first_fit is not None and quarantine is not None
    assert first_fit.numbers >= rows[0].k_star
    # Customers order once: only couriers are ever misrouted; first-fit hands numbers straight back.
    assert first_fit.rates["other", HOUR] == 0
    busy, both = first_fit.rates["busy", HOUR], first_fit.rates[None, HOUR]
    assert busy is not None and both is not None and busy > 0.3 and both < busy
    assert quarantine.rates[None, HOUR] is not None and both > quarantine.rates[None, HOUR]
    assert first_fit.rates[None, 24 * HOUR] is None  # a 4 h trace has no traffic a day after
    lines = table_rows(misroute_table([first_fit, quarantine], SIDES))
    assert [line[:4] for line in lines] == [
        ["food-delivery", "first_fit", str(first_fit.numbers), side] for side in SIDES
    ] + [["food-delivery", "quarantine", str(quarantine.numbers), side] for side in SIDES]
    assert lines[0][-1] == "–"
    alone = late_calls(
        {"food-delivery": lambda seed: workloads.food_delivery(seed, couriers=20, hours=4)},
        ["first_fit", "quarantine"],
        [1],
        CooloffScope.PER_PARTY,
    )
    assert alone == [first_fit, quarantine]


def _history(trace: list[TraceSession]) -> list[HistoryRow]:
    return [HistoryRow(s.start, s.end, s.end, s.first, s.second, "", s.pool, "") for s in trace]


def test_the_plan_finds_the_pool_that_keeps_late_calls_under_one_percent() -> None:
    trace = workloads.food_delivery(1, couriers=20, hours=4)
    after = max(s.end for s in trace)
    [first_fit] = plan(_history(trace), None, after, Policy.FIRST_FIT, late_calls=True)
    assert first_fit.misrouted is not None and first_fit.misrouted > 0.2
    assert first_fit.late_pool is None and first_fit.late_searched == 4 * first_fit.needed
    [spread] = plan(_history(trace), None, after, Policy.QUARANTINE, late_calls=True)
    order = POLICIES["quarantine"]
    assert spread.late_pool is not None and spread.late_pool > spread.needed
    assert (
        late_rate(trace, spread.late_pool, order)
        < 0.01
        <= (late_rate(trace, spread.late_pool - 1, order) or 0)
    )
    # With the numbers in service: measured there.
    [served] = plan(
        _history(trace), {("default", ""): spread.late_pool}, after, Policy.QUARANTINE, late_calls=True
    )
    assert (
        served.misrouted == late_rate(trace, spread.late_pool, order) and served.late_pool == spread.late_pool
    )
    assert plan(_history(trace), None, after, Policy.QUARANTINE)[0].misrouted is None  # not asked


@settings(max_examples=60)
@given(raw=sessions, policy=st.sampled_from(list(Policy)))
def test_the_pool_for_late_calls_misroutes_under_one_percent_or_is_not_found(
    raw: list[tuple[int, int, int, int]], policy: Policy
) -> None:
    trace = _trace(raw)
    if not trace:
        return
    order = POLICIES[policy.value]
    needed = k_star(trace, order).k_star
    current, pool, top = late_call_plan(trace, order, needed, needed)
    if current is None:
        assert pool is None and top is None
        return
    assert 0 <= current <= 1 and top == 4 * needed
    if pool is None:
        assert (late_rate(trace, top, order) or 0) >= 0.01
    else:
        assert needed <= pool <= top and (late_rate(trace, pool, order) or 0) < 0.01


def test_more_slack_means_more_numbers_and_no_more_misroutes_an_hour_on_for_quarantine() -> None:
    trace = {"food-delivery": lambda seed: workloads.food_delivery(seed, couriers=20, hours=4)}
    tight, loose = (
        late_calls(trace, ["quarantine"], [1], CooloffScope.PER_PARTY, slack=s)[0] for s in (1.0, 2.0)
    )
    assert loose.numbers >= 2 * tight.numbers - 1
    assert loose.rates[None, HOUR] is not None and tight.rates[None, HOUR] is not None
    assert loose.rates[None, HOUR] < tight.rates[None, HOUR]
