"""A trace replayed through the HTTP API, as fast as the server answers, gets the numbers the
simulator gives it: an ended session counts as left the moment it ends, whether or not the
sweep has run since."""

from __future__ import annotations

from dataclasses import replace

import pytest

from maskline.domain import allocation
from maskline.domain.allocation import CooloffScope, Policy, PoolNumber, fewest_late_calls
from maskline.sim.replay import POLICIES, replay
from maskline.sim.trace import Trace, TraceSession
from maskline.sim.workloads import food_delivery, ride_hailing
from tests.databases import Databases
from tests.support import START, FakeClock, ServerThread, fresh_number


def deleted_early(trace: Trace) -> Trace:
    """The trace with every other session told a longer expiry at creation and ended by DELETE
    at its end; the rest expire by themselves."""
    return [replace(s, expiry=s.end + 600) if i % 2 else s for i, s in enumerate(trace)]


def hand_built() -> Trace:
    """A party leaves a number and comes back a second later, while an unused number is free:
    quarantine must send it to the unused one."""
    a, b, c, d = (f"+1415203{i:04d}" for i in range(4))
    return [
        TraceSession(0, 600, a, b),
        TraceSession(0, 3000, c, d),
        TraceSession(100, 700, a, c, expiry=3000),  # ended by DELETE
        TraceSession(701, 1300, a, b, expiry=3000),
        TraceSession(1300, 1900, a, b),
    ]


def tied_at_the_cut() -> Trace:
    """Seventy sessions end in the same second, six of them three hours long and the rest twenty
    minutes; a courier has left both numbers of the pool, the first a day ago, the second a
    quarter of an hour ago. The 64 lengths read are the latest by (end, creation): the short
    ones, so the second number comes first. With the six long ones among them it would be the
    first (``test_the_tie_at_the_cut_decides``)."""
    courier, end = "+14152050000", 86_000
    strangers = [(f"+14152051{i:03d}", f"+14152052{i:03d}") for i in range(70)]
    return [
        TraceSession(0, 60, courier, "+14152053000"),  # leaves number 1 a day before the last create
        TraceSession(100, 85_500, courier, "+14152053001"),  # on number 2, left 15 minutes before it
        *(TraceSession(end - 3 * 3600, end, a, b) for a, b in strangers[:6]),
        *(TraceSession(end - 20 * 60, end, a, b) for a, b in strangers[6:]),
        TraceSession(86_400, 87_000, courier, "+14152053002"),
    ]


def served(
    trace: Trace, pool: list[str], database: str, policy: Policy, scope: CooloffScope, sweep: float
) -> list[str | None]:
    """The rank of the number each session of ``trace`` got from a running server, creating and
    expiring in the trace's order as fast as it answers, the clock set to each event's time, the
    sweep running every ``sweep`` seconds of real time; None: refused."""
    clock = FakeClock(START)
    server = ServerThread(database, clock, policy=policy, cooloff_scope=scope, sweep_interval=sweep).start()
    try:
        tenant = server.tenant(pool)
        # At one instant, ends come before starts, as in the simulator.
        events = sorted(
            [(s.start, 1, i) for i, s in enumerate(trace)]
            + [(s.end, 0, i) for i, s in enumerate(trace) if s.expiry is not None and s.expiry > s.end]
        )
        numbers: list[str | None] = [None] * len(trace)
        made: dict[int, str] = {}
        with server.api(tenant) as http:
            for at, starts, i in events:
                clock.now = START + at
                s = trace[i]
                if not starts:
                    if i in made:
                        assert http.delete(f"/Session/{made[i]}").status_code == 200
                    continue
                reply = http.post(
                    "/Session/",
                    json={
                        "first_party": s.first,
                        "second_party": s.second,
                        "session_expiry": (s.expiry or s.end) - s.start,
                        "virtual_number_cooloff_period": s.cooloff,
                    },
                )
                if reply.status_code == 201:
                    made[i] = reply.json()["session_uuid"]
                    numbers[i] = str(pool.index(reply.json()["virtual_number"]) + 1)
                else:
                    assert "Number pool exhausted" in reply.text, reply.text
        return numbers
    finally:
        server.stop()


def workload() -> Trace:
    """Ride-hailing, its parties renamed to valid numbers."""
    return renamed(ride_hailing(1, drivers=12, hours=6))


def deliveries() -> Trace:
    """Food delivery at 1.2 × first-fit's K*: couriers come back to numbers they left lately, and
    quarantine weighs how long the sessions ended so far lasted."""
    return renamed(food_delivery(1, couriers=4, hours=4))


def renamed(trace: Trace) -> Trace:
    """``trace``, its parties renamed to valid numbers, every other session ended by DELETE."""
    names: dict[str, str] = {}
    for s in trace:
        for party in (s.first, s.second):
            names.setdefault(party, f"+1415204{len(names):04d}")
    return deleted_early([replace(s, first=names[s.first], second=names[s.second]) for s in trace])


CASES = {
    "hand-built": (hand_built, 4, CooloffScope.PER_PARTY, 0),
    "ride-hailing": (workload, 14, CooloffScope.PER_PARTY, 0),
    "ride-hailing, cool-off": (workload, 16, CooloffScope.PER_PARTY, 300),
    "ride-hailing, global cool-off": (workload, 24, CooloffScope.GLOBAL, 300),
    "food delivery": (deliveries, 10, CooloffScope.PER_PARTY, 0),
    "ties at the cut": (tied_at_the_cut, 2, CooloffScope.PER_PARTY, 0),
}


SWEEPS = {
    "no sweep": 3600.0,  # not during the replay: every end is recent news to the allocator
    "frequent sweeps": 0.01,  # now and then between two requests, now and then not
}


@pytest.mark.parametrize(
    ("policy", "sweep"),
    [(policy, "no sweep") for policy in Policy] + [(Policy.QUARANTINE, "frequent sweeps")],
)
@pytest.mark.parametrize("case", list(CASES))
def test_a_trace_replayed_over_http_gets_the_simulators_numbers(
    databases: Databases, case: str, policy: Policy, sweep: str
) -> None:
    make, size, scope, cooloff = CASES[case]
    trace = [s.with_cooloff(cooloff) for s in make()]
    assert [s.start for s in trace] == sorted(s.start for s in trace)  # replay's order
    simulated = replay(trace, size, POLICIES[policy.value], scope).numbers
    assert simulated != replay(trace, size, POLICIES["first_fit"], scope).numbers or (
        policy is Policy.FIRST_FIT
    ), "the policy must choose differently from first-fit somewhere, or the trace tests nothing"
    pool = [fresh_number("+1628") for _ in range(size)]
    assert served(trace, pool, databases.new(), policy, scope, SWEEPS[sweep]) == simulated


def test_the_food_delivery_case_weighs_how_long_sessions_last(monkeypatch: pytest.MonkeyPatch) -> None:
    """Else it would not test that the server reads the lengths the simulator keeps."""
    make, size, scope, _ = CASES["food delivery"]
    weighed = replay(make(), size, POLICIES["quarantine"], scope).numbers
    monkeypatch.setattr(allocation, "LENGTHS_NEEDED", len(make()) + 1)  # never enough ended
    assert replay(make(), size, POLICIES["quarantine"], scope).numbers != weighed


def test_the_tie_at_the_cut_decides() -> None:
    """Else the case would not test that the server reads the lengths the simulator keeps when
    sessions end in the same second."""
    make, size, scope, _ = CASES["ties at the cut"]
    trace = make()
    assert replay(trace, size, POLICIES["quarantine"], scope).numbers[-1] == "2"
    pool = [PoolNumber(str(rank), rank, 0) for rank in (1, 2)]
    left = {"1": [60], "2": [85_500]}
    short, long = [20 * 60] * 64, [3 * 3600] * 6
    assert fewest_late_calls(pool, set(), left, short, 86_400)[0] == "2"
    assert fewest_late_calls(pool, set(), left, long + short[6:], 86_400)[0] == "1"
