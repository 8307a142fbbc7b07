"""The simulator: traces, degrees, replay, K*, and the guarantee every policy keeps."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskline.domain.allocation import CooloffScope
from maskline.sim import workloads
from maskline.sim.optimum import optimum
from maskline.sim.replay import POLICIES, k_star, replay, trace_sizing
from maskline.sim.report import simulate, table
from maskline.sim.trace import TraceSession, max_degree, read_trace, write_trace
from tests.support import table_rows


def test_a_trace_file_round_trips_and_bad_lines_are_named() -> None:
    trace = [TraceSession(0, 600, "+14155550100", "+14155550101", cooloff=60, pool="US", expiry=900)]
    out = io.StringIO()
    write_trace(trace, out)
    assert read_trace(out.getvalue().splitlines()) == trace
    with pytest.raises(ValueError, match="line 2"):
        read_trace(['{"start": 0, "end": 5, "first": "a", "second": "b"}', '{"start": 5, "end": 1}'])
    with pytest.raises(ValueError, match="line 1: a session must end after it starts"):
        read_trace(['{"start": 5, "end": 5, "first": "a", "second": "b"}'])


def test_degrees_count_live_sessions_and_with_held_their_cool_off() -> None:
    trace = [
        TraceSession(0, 100, "A", "B", cooloff=50),
        TraceSession(100, 200, "A", "C"),  # starts when the first ends: not concurrent
        TraceSession(120, 200, "A", "D"),
    ]
    assert max_degree(trace) == 2
    assert max_degree(trace, held=True) == 3  # the first is still held against A until 150


def test_first_fit_meets_its_trap_and_other_policies_escape_it() -> None:
    for delta in (3, 5, 10):
        trap = workloads.first_fit_trap(delta)
        assert max_degree(trap) == delta
        assert k_star(trap, POLICIES["first_fit"]).k_star == 2 * delta - 1
        assert replay(trap, 2 * delta - 2, POLICIES["first_fit"]).refused == 1
        assert k_star(trap, POLICIES["least_recent"]).k_star < 2 * delta - 1


def test_per_party_cool_off_needs_fewer_numbers_than_global() -> None:
    trace = [s.with_cooloff(1800) for s in workloads.ride_hailing(3, drivers=40, hours=4)]
    per_party = k_star(trace, POLICIES["first_fit"], CooloffScope.PER_PARTY)
    global_ = k_star(trace, POLICIES["first_fit"], CooloffScope.GLOBAL)
    assert per_party.k_star <= per_party.bound
    assert global_.k_star > per_party.k_star


def test_workloads_are_seeded() -> None:
    assert workloads.food_delivery(7, couriers=5) == workloads.food_delivery(7, couriers=5)
    assert workloads.food_delivery(7, couriers=5) != workloads.food_delivery(8, couriers=5)


def test_the_large_workloads_have_ten_times_the_parties_of_the_realistic_ones() -> None:
    for large, usual in (("ride-hailing-10x", "ride-hailing"), ("food-delivery-10x", "food-delivery")):
        big, small = workloads.LARGE[large](1), workloads.REALISTIC[usual](1)
        hubs = [len({s.first for s in trace}) for trace in (big, small)]
        assert hubs[0] == 10 * hubs[1]
        assert 8 * len(small) < len(big) < 12 * len(small)


def test_the_report_has_a_row_per_workload_and_policy() -> None:
    rows = simulate(
        {"trap-3": lambda seed: workloads.first_fit_trap(3)}, list(POLICIES), [1], CooloffScope.PER_PARTY, 4
    )
    assert [(r.policy, r.delta, r.bound) for r in rows] == [(p, 3, 5) for p in POLICIES]
    first_fit = rows[0]
    assert first_fit.k_star == 5 and first_fit.refusal_rate == pytest.approx(1 / 9)
    assert ["trap-3", "first_fit", "9", "3", "3", "5", "1.67", "5", "11.11%"] in table_rows(table(rows))


sessions = st.lists(
    st.tuples(
        st.integers(0, 500),
        st.integers(1, 400),
        st.integers(0, 7),
        st.integers(0, 7),
        st.sampled_from([0, 100]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150)
@given(raw=sessions, policy=st.sampled_from(list(POLICIES)), seed=st.integers(0, 3))
def test_no_policy_refuses_with_2delta_held_minus_1_numbers(
    raw: list[tuple[int, int, int, int, int]], policy: str, seed: int
) -> None:
    trace = [TraceSession(t, t + d, f"P{a}", f"P{b}", cooloff=c) for t, d, a, b, c in raw if a != b]
    if not trace:
        return
    held = max_degree(trace, held=True)
    assert replay(trace, 2 * held - 1, POLICIES[policy], seed=seed).refused == 0
    assert held <= k_star(trace, POLICIES[policy], seeds=(seed,)).k_star <= 2 * held - 1


def test_the_optimum_is_delta_on_the_trap_and_more_on_an_odd_cycle() -> None:
    for delta in (3, 5):
        assert optimum(workloads.first_fit_trap(delta)) == delta
    triangle = [TraceSession(0, 10, "A", "B"), TraceSession(1, 10, "B", "C"), TraceSession(2, 10, "C", "A")]
    assert max_degree(triangle) == 2 and optimum(triangle) == 3
    # One after the other on the same parties: a cool-off makes them conflict, globally even
    # on other parties.
    serial = [TraceSession(0, 10, "A", "B", cooloff=5), TraceSession(12, 20, "A", "C")]
    assert optimum(serial) == 2 and optimum([serial[0], serial[1].with_cooloff(0)]) == 2
    assert optimum([serial[0], TraceSession(16, 20, "A", "C")]) == 1
    assert optimum([serial[0], TraceSession(12, 20, "D", "C")], CooloffScope.GLOBAL) == 2
    assert optimum([serial[0], TraceSession(12, 20, "D", "C")], CooloffScope.PER_PARTY) == 1


@settings(max_examples=60)
@given(raw=sessions, scope=st.sampled_from(list(CooloffScope)))
def test_no_policy_beats_the_optimum(raw: list[tuple[int, int, int, int, int]], scope: CooloffScope) -> None:
    trace = [TraceSession(t, t + d, f"P{a}", f"P{b}", cooloff=c) for t, d, a, b, c in raw if a != b][:25]
    if not trace:
        return
    best = optimum(trace, scope)
    assert max_degree(trace, held=scope is CooloffScope.PER_PARTY) <= best
    for policy in POLICIES.values():
        assert best <= k_star(trace, policy, scope).k_star


def test_each_pool_is_its_own_instance_and_sizes_add_up() -> None:
    # The same three parties, concurrently, in two countries: each pool needs its own numbers.
    us = [TraceSession(0, 100, "A", "B", pool="US"), TraceSession(5, 100, "A", "C", pool="US")]
    gb = [TraceSession(0, 100, "A", "B", pool="GB")]
    sized = trace_sizing(us + gb, POLICIES["first_fit"], CooloffScope.PER_PARTY)
    assert (sized.delta, sized.k_star) == (2 + 1, 2 + 1)
    assert replay(us + gb, 2, POLICIES["first_fit"]).refused == 1  # one pool of two: A has three


def test_the_report_applies_a_cool_off_in_either_scope() -> None:
    def serial(seed: int) -> list[TraceSession]:
        return [
            TraceSession(0, 100, "A", "B"),
            TraceSession(150, 300, "C", "D"),
            TraceSession(151, 300, "A", "E"),
        ]

    per_party, global_ = (
        simulate({"serial": serial}, ["first_fit"], [1], scope, cooloff=100)[0]
        for scope in (CooloffScope.PER_PARTY, CooloffScope.GLOBAL)
    )
    # Without cool-off one number serves all three. Per party, the first number stays held against
    # A (and B) until 200: C and D take it, A and E need another. Globally it is frozen for
    # everyone until 200: C and D need another, which A and E can share with them.
    assert simulate({"serial": serial}, ["first_fit"], [1], CooloffScope.PER_PARTY)[0].k_star == 1
    assert (per_party.delta_held, per_party.k_star) == (2, 2)
    assert (global_.delta_held, global_.k_star) == (1, 2)
