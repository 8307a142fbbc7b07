"""The simulator allocates as the server does: the same trace gets the same numbers from both."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maskline.domain import errors
from maskline.domain.allocation import CooloffScope, Policy
from maskline.domain.errors import MaskingError
from maskline.sim.replay import POLICIES, replay
from maskline.sim.trace import TraceSession
from tests.databases import Databases
from tests.integration.harness import Harness
from tests.support import START, same_error

POOL = [f"+1628559{i:04d}" for i in range(12)]
PARTIES = [f"+1415203{i:04d}" for i in range(6)]

traces = st.lists(
    st.tuples(
        st.integers(0, 120),
        st.integers(60, 600),
        st.integers(0, 5),
        st.integers(0, 5),
        st.sampled_from([0, 90]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25)
@given(
    raw=traces,
    size=st.integers(1, 12),
    policy=st.sampled_from(list(Policy)),
    scope=st.sampled_from(list(CooloffScope)),
)
def test_the_simulator_and_the_store_choose_the_same_numbers(
    databases: Databases,
    raw: list[tuple[int, int, int, int, int]],
    size: int,
    policy: Policy,
    scope: CooloffScope,
) -> None:
    pool = POOL[:size]
    trace, t = [], 0
    for gap, length, a, b, cooloff in raw:
        if a != b:
            t += gap
            trace.append(TraceSession(t, t + length, PARTIES[a], PARTIES[b], cooloff=cooloff))
    if not trace:
        return
    simulated = replay(trace, size, POLICIES[policy.value], scope).numbers
    served: list[str | None] = []
    with Harness(databases.new(), pool, policy=policy, scope=scope) as h:
        for session in trace:
            h.clock.now = START + session.start
            body = {
                "session_expiry": session.end - session.start,
                "virtual_number_cooloff_period": session.cooloff,
            }
            try:
                number = h.create(session.first, session.second, **body).virtual_number
            except MaskingError as refusal:
                assert same_error(refusal, errors.PoolExhausted())
                served.append(None)
            else:
                served.append(str(POOL.index(number) + 1))
    assert served == simulated
