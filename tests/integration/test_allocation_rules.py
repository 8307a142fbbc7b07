"""Allocation on the real store: the party invariant, the 2Δ−1 guarantee, pools and cool-off."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import event, given, settings, target
from hypothesis import strategies as st

from maskline.domain import errors
from maskline.domain.allocation import LATE_CALL_HORIZON, CooloffScope, Policy
from maskline.domain.errors import MaskingError
from maskline.store import sql_allocation as sql
from tests.databases import Databases, sessions_without_holds
from tests.integration.harness import MAIN, Harness
from tests.support import same_error

US = [f"+1628555{i:04d}" for i in range(100)]
PARTIES = [f"+1415200{i:04d}" for i in range(40)]
GB_NUMBER, GB_PARTY = "+442071838750", "+447400123456"


def numbers(k: int) -> list[str]:
    return US[:k]


def assert_invariant(h: Harness) -> None:
    """No party holds two live (or, per party, cooling) sessions on one number."""
    now = int(h.clock())
    assert sessions_without_holds(h.config.database_url, now) == []
    rows = h.query("SELECT first_party, second_party, virtual_number FROM sessions WHERE expiry > ?", now)
    pairs = Counter((party, number) for first, second, number in rows for party in (first, second) if party)
    assert all(count == 1 for count in pairs.values()), pairs.most_common(3)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 7), st.integers(0, 7), st.integers(60, 900)),
        st.tuples(st.just("create"), st.integers(0, 7), st.integers(0, 7), st.integers(60, 900)),
        st.tuples(st.just("expire"), st.integers(0, 40), st.just(0), st.just(0)),
        st.tuples(st.just("advance"), st.integers(1, 400), st.just(0), st.just(0)),
    ),
    min_size=20,
    max_size=60,
)


@settings(max_examples=80)
@given(
    delta=st.integers(1, 4),
    cooloff=st.sampled_from([0, 200]),
    policy=st.sampled_from(list(Policy)),
    ops=operations,
)
def test_random_traffic_keeps_the_invariant_and_2delta_minus_1_suffices(
    databases: Databases, delta: int, cooloff: int, policy: Policy, ops: list[tuple[str, int, int, int]]
) -> None:
    with Harness(databases.new(), numbers(2 * delta - 1), policy=policy) as h:
        replay(h, delta, cooloff, ops)


def replay(h: Harness, delta: int, cooloff: int, ops: list[tuple[str, int, int, int]]) -> None:
    made: list[tuple[str, str, object]] = []  # (first, second, session)
    for kind, a, b, seconds in ops:
        now = int(h.clock())
        if kind == "advance":
            h.clock.advance(seconds)
        elif kind == "expire" and made:
            session = made[a % len(made)][2]
            if session.expiry > now:  # type: ignore[attr-defined]
                made[a % len(made)] = (*made[a % len(made)][:2], h.expire(session))  # type: ignore[arg-type]
            else:
                with pytest.raises(MaskingError) as caught:
                    h.expire(session)  # type: ignore[arg-type]
                assert same_error(caught.value, errors.SessionAlreadyExpired())
        elif kind == "create" and a != b:
            first, second = PARTIES[a], PARTIES[b]
            # Degree of each party with the new session, cool-off holds included (Δ_c).
            degree = Counter()
            for f, s, session in made:
                if session.expiry + cooloff > now:  # type: ignore[attr-defined]
                    degree.update([f, s])
            if max(degree[first], degree[second]) + 1 > delta:
                continue
            created = h.create(first, second, session_expiry=seconds, virtual_number_cooloff_period=cooloff)
            made.append((first, second, created))
        assert_invariant(h)
    target(float(len(made)))
    event(f"sessions created: {min(len(made), 10)}{'+' if len(made) >= 10 else ''}")


@pytest.mark.parametrize("delta", [2, 3, 4, 6])
def test_first_fit_trap_needs_exactly_2delta_minus_1(harness: Any, delta: int) -> None:
    """Allocation spec §4: a bipartite tree on which first-fit uses number 2Δ−1."""
    party = iter(f"+1415300{i:04d}" for i in range(1000))

    def trap(h: Harness) -> tuple[str, str]:
        u, v = next(party), next(party)
        for _ in range(delta - 1):
            h.create(u, next(party))
        hubs = [next(party) for _ in range(delta - 1)]
        for w in hubs:
            for _ in range(delta - 1):
                h.create(w, next(party))
        for w in hubs:
            h.create(v, w)
        return u, v

    enough = harness(numbers(2 * delta - 1))
    u, v = trap(enough)
    assert enough.create(u, v).virtual_number == US[2 * delta - 2]  # the (2Δ−1)-th number

    short = harness(numbers(2 * delta - 2))
    u, v = trap(short)
    assert same_error(short.refusal(u, v), errors.PoolExhausted())


def test_pool_exhausted_when_the_pair_repeats_beyond_the_pool(harness: Any) -> None:
    h = harness(numbers(2))
    h.create(PARTIES[0], PARTIES[1])
    h.create(PARTIES[0], PARTIES[1])
    assert same_error(h.refusal(PARTIES[0], PARTIES[1]), errors.PoolExhausted())
    assert h.create(PARTIES[2], PARTIES[3]).virtual_number == US[0]  # numbers are shared


def test_expiry_frees_the_number_without_delete(harness: Any) -> None:
    h = harness(numbers(1))
    session = h.create(PARTIES[0], PARTIES[1], session_expiry=60)
    assert same_error(h.refusal(PARTIES[0], PARTIES[2]), errors.PoolExhausted())
    h.clock.advance(60)
    assert h.get(session).status(int(h.clock())).value == "expired"
    assert h.create(PARTIES[0], PARTIES[2]).virtual_number == US[0]


def test_per_party_cooloff_holds_the_number_back_from_its_parties_only(harness: Any) -> None:
    h = harness(numbers(2))
    ended = h.expire(h.create(PARTIES[0], PARTIES[1], virtual_number_cooloff_period=300))
    assert ended.virtual_number == US[0]
    assert h.create(PARTIES[0], PARTIES[2]).virtual_number == US[1]  # A is cooling on US[0]
    assert h.create(PARTIES[3], PARTIES[4]).virtual_number == US[0]  # strangers are not
    h.clock.advance(300)
    assert h.create(PARTIES[1], PARTIES[5]).virtual_number == US[0]  # cool-off over


def test_global_cooloff_holds_the_number_back_from_everyone(harness: Any) -> None:
    h = harness(numbers(1), scope=CooloffScope.GLOBAL)
    h.expire(h.create(PARTIES[0], PARTIES[1], virtual_number_cooloff_period=300))
    assert same_error(h.refusal(PARTIES[5], PARTIES[6]), errors.PoolExhausted())
    h.clock.advance(299)
    assert same_error(h.refusal(PARTIES[5], PARTIES[6]), errors.PoolExhausted())
    h.clock.advance(1)
    assert h.create(PARTIES[5], PARTIES[6]).virtual_number == US[0]


def test_quarantine_keeps_a_party_off_the_numbers_it_left_lately(harness: Any) -> None:
    h = harness(numbers(3), policy=Policy.QUARANTINE)
    courier = PARTIES[0]
    assert h.expire(h.create(courier, PARTIES[1])).virtual_number == US[0]
    h.clock.advance(10)
    assert h.expire(h.create(courier, PARTIES[2])).virtual_number == US[1]  # not US[0]: left it
    h.clock.advance(10)
    assert h.create(PARTIES[5], PARTIES[6]).virtual_number == US[0]  # strangers pack as first-fit
    h.clock.advance(10)
    # US[2] is the only number the courier has not left; then it has left every free one
    # lately and, with too few ended sessions to tell how long sessions last, the one left
    # longest ago comes first.
    assert h.create(courier, PARTIES[3]).virtual_number == US[2]
    assert h.create(courier, PARTIES[4]).virtual_number == US[0]


def test_quarantine_weighs_how_long_its_own_pools_sessions_last(harness: Any) -> None:
    """A courier has left both numbers of the pool: the one left 55 minutes ago would carry that
    session's one-hour late call in 5 minutes, the one left 15 minutes ago in 45. The pool's
    sessions have lasted 20 to 40 minutes, so the second is taken, though it was left later:
    and the subaccount's day-long sessions, ended after them, do not count in the main pool."""
    minute, day = 60, 86400
    h = harness(numbers(2), policy=Policy.QUARANTINE)
    sub = h.subaccount("SA" + "2" * 18)
    h.add(US[30:94], subaccount=sub.auth_id)
    theirs = [
        h.create(f"+1415201{i:04d}", f"+1415202{i:04d}", account=sub, session_expiry=day) for i in range(64)
    ]
    h.clock.advance(day - 4 * 60 * minute)
    for i in range(8):  # strangers: 20 minutes each
        strangers = h.create(PARTIES[10 + i], PARTIES[20 + i])
        h.clock.advance(20 * minute)
        h.expire(strangers)
    courier = PARTIES[0]
    first = h.create(courier, PARTIES[1], session_expiry=day)
    h.clock.advance(25 * minute)
    h.expire(first)  # 55 minutes before the new session
    second = h.create(courier, PARTIES[2], session_expiry=day)
    assert (first.virtual_number, second.virtual_number) == (US[0], US[1])
    h.clock.advance(40 * minute)
    h.expire(second)  # 15 minutes before
    h.clock.advance(5 * minute)
    for session in theirs:
        h.expire(session)
    h.clock.advance(10 * minute)
    assert h.create(courier, PARTIES[3]).virtual_number == US[1]


def test_quarantine_forgets_departures_older_than_the_late_call_horizon(harness: Any) -> None:
    h = harness(numbers(2), policy=Policy.QUARANTINE)
    h.expire(h.create(PARTIES[0], PARTIES[1]))
    h.clock.advance(LATE_CALL_HORIZON - 1)
    assert h.create(PARTIES[0], PARTIES[2]).virtual_number == US[1]
    h.clock.advance(1)
    assert h.create(PARTIES[1], PARTIES[3]).virtual_number == US[0]


def test_geomatch_takes_numbers_of_the_first_partys_country(harness: Any) -> None:
    h = harness(numbers(1))
    h.add([GB_NUMBER])
    assert h.create(GB_PARTY, PARTIES[0]).virtual_number == GB_NUMBER
    assert h.create(PARTIES[1], GB_PARTY).virtual_number == US[0]
    assert same_error(h.refusal(GB_PARTY, PARTIES[2]), errors.PoolExhausted())  # GB_PARTY holds the GB number
    h.add([US[1]])
    assert same_error(h.refusal(GB_PARTY, PARTIES[2]), errors.PoolExhausted())  # US numbers do not match
    assert h.create(GB_PARTY, PARTIES[2], geomatch=False).virtual_number == US[1]


def test_geomatch_tells_us_from_canada(harness: Any) -> None:
    h = harness(numbers(1))
    canadian = "+14165550123"
    assert same_error(h.refusal(canadian, PARTIES[0]), errors.PoolExhausted())
    h.add(["+14165550199"])
    assert h.create(canadian, PARTIES[0]).virtual_number == "+14165550199"
    h.add(["+16285559999"], country="CA")  # a US number configured as Canadian
    assert h.create(canadian, PARTIES[1]).virtual_number == "+16285559999"


def test_subaccount_pools_never_mix(harness: Any) -> None:
    h = harness(numbers(1))
    sub = h.subaccount("SA" + "1" * 18)
    assert same_error(h.refusal(PARTIES[0], PARTIES[1], subaccount=sub.auth_id), errors.PoolExhausted())
    h.add([US[50]], subaccount=sub.auth_id)
    mine = h.create(PARTIES[0], PARTIES[1], subaccount=sub.auth_id)
    assert (mine.virtual_number, mine.account_id) == (US[50], sub.auth_id)
    theirs = h.create(PARTIES[2], PARTIES[3], account=sub)
    assert theirs.virtual_number == US[50]
    assert h.create(PARTIES[2], PARTIES[3]).virtual_number == US[0]  # main's own pool
    assert h.get(theirs).uuid == theirs.uuid  # main sees its subaccount's sessions
    main_session = h.create(PARTIES[4], PARTIES[5])
    with pytest.raises(MaskingError) as caught:
        h.get(main_session, account=sub)
    assert same_error(caught.value, errors.SessionNotFound())


def test_retired_numbers_keep_live_sessions_and_take_no_new_ones(harness: Any) -> None:
    h = harness(numbers(2))
    live = h.create(PARTIES[0], PARTIES[1])
    h.run(h.numbers.retire(MAIN, [US[0]]))
    assert h.create(PARTIES[2], PARTIES[3]).virtual_number == US[1]
    assert h.get(live).virtual_number == US[0]
    listed = {n.number: n for n in h.run(h.numbers.list(MAIN))}
    assert listed[US[0]].state.value == "retired" and listed[US[0]].live_sessions == 1
    h.add([US[0]])  # re-adding puts it back in service
    assert h.create(PARTIES[4], PARTIES[5]).virtual_number == US[0]


def test_a_number_belongs_to_one_account(harness: Any) -> None:
    h = harness(numbers(1))
    other = h.subaccount("SA" + "2" * 18)
    from maskline.domain.model import Account

    stranger = Account("MA" + "9" * 18, None)
    h.run(h.store.accounts.create_account(stranger, "x", 0))
    with pytest.raises(MaskingError) as caught:
        h.add([US[0]], account=stranger)
    assert caught.value.message == f"Number {US[0]} already belongs to another account."
    h.add([US[0]], subaccount=other.auth_id)  # the same account moves it into a subaccount pool


def test_open_single_party_sessions_need_a_number_of_their_own(harness: Any) -> None:
    h = harness(numbers(2))
    first = h.create("", PARTIES[0], create_session_with_single_party=True)
    second = h.create("", PARTIES[1], create_session_with_single_party=True)
    assert first.virtual_number != second.virtual_number
    refused = h.refusal("", PARTIES[2], create_session_with_single_party=True)
    assert same_error(refused, errors.PoolExhausted())


def test_open_single_party_session_avoids_numbers_with_cooling_sessions(harness: Any) -> None:
    h = harness(numbers(2))
    h.expire(h.create(PARTIES[0], PARTIES[1], virtual_number_cooloff_period=600))
    assert h.create("", PARTIES[2], create_session_with_single_party=True).virtual_number == US[1]


def test_pins_are_unique_on_a_number(harness: Any) -> None:
    h = harness(numbers(2))
    pin = {
        "is_pin_authentication_required": True,
        "first_party_pin": "1234",
        "second_party_pin": "5678",
        "pin_prompt_play": "https://example.com/p.mp3",
    }
    assert h.create(PARTIES[0], PARTIES[1], **pin).virtual_number == US[0]
    assert h.create(PARTIES[2], PARTIES[3], **pin).virtual_number == US[1]
    assert (
        h.create(
            PARTIES[4], PARTIES[5], **{**pin, "first_party_pin": "9999", "second_party_pin": "8888"}
        ).virtual_number
        == US[0]
    )


def test_filling_a_single_party_session(harness: Any) -> None:
    h = harness(numbers(1))
    busy = h.create(PARTIES[0], PARTIES[1])
    single = h.create("", PARTIES[2], create_session_with_single_party=True)
    assert single.virtual_number == busy.virtual_number
    with pytest.raises(MaskingError) as caught:
        h.update(single, first_party=PARTIES[0])
    assert same_error(caught.value, errors.PartyTaken("first_party"))
    filled = h.update(single, first_party=PARTIES[3])
    assert filled.first_party == PARTIES[3]
    assert ("*", US[0]) not in h.held_rows()  # no longer catches unknown callers
    assert (PARTIES[3], US[0]) in h.held_rows()
    # the number can take another open single-party session now
    assert h.create("", PARTIES[4], create_session_with_single_party=True).virtual_number == US[0]


def test_update_and_delete_move_the_holds(harness: Any) -> None:
    h = harness(numbers(1))
    session = h.create(PARTIES[0], PARTIES[1], session_expiry=600, virtual_number_cooloff_period=100)
    h.clock.advance(100)
    updated = h.update(session, session_expiry=60)
    assert updated.expiry == int(h.clock()) + 60
    h.clock.advance(60)
    assert same_error(h.refusal(PARTIES[0], PARTIES[2]), errors.PoolExhausted())  # cooling until +100
    h.clock.advance(100)
    assert h.create(PARTIES[0], PARTIES[2]).virtual_number == US[0]
    with pytest.raises(MaskingError) as caught:
        h.update(session, record=True)
    assert same_error(caught.value, errors.SessionAlreadyExpired())


def test_sweep_releases_holds_and_purges_old_sessions(harness: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(sql, "_DEPARTURES_AT_ONCE", 2)  # several inserts for one sweep's departures
    h = harness(numbers(2))
    session = h.create(PARTIES[0], PARTIES[1], session_expiry=60)
    other = h.create(PARTIES[0], PARTIES[2], session_expiry=90)
    h.clock.advance(91)
    h.run(h.sessions.sweep())
    assert h.held_rows() == []
    departed = sorted(h.query("SELECT party, virtual_number, ends_at FROM departures"))
    assert departed == sorted(
        [
            (PARTIES[0], session.virtual_number, session.expiry),
            (PARTIES[1], session.virtual_number, session.expiry),
            (PARTIES[0], other.virtual_number, other.expiry),
            (PARTIES[2], other.virtual_number, other.expiry),
        ]
    )
    assert h.get(session).uuid == session.uuid
    h.clock.advance(91 * 86400)
    h.run(h.sessions.sweep())
    with pytest.raises(MaskingError):
        h.get(session)
    assert h.query("SELECT COUNT(*) FROM departures") == [(0,)]  # forgotten with the sessions


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cb",
        "http://10.0.0.7/cb",
        "https://[::1]/cb",
        "http://localhost:8080/cb",
        "http://169.254.169.254/latest",
        "http://api.localhost/cb",
    ],
)
def test_callbacks_to_private_hosts_are_refused(harness: Any, url: str) -> None:
    h = harness(numbers(1))
    refused = h.refusal(PARTIES[0], PARTIES[1], callback_url=url)
    assert same_error(refused, errors.PrivateCallback("callback_url"))
    refused = h.refusal(PARTIES[0], PARTIES[1], recording_callback_url=url)
    assert same_error(refused, errors.PrivateCallback("recording_callback_url"))
    session = h.create(PARTIES[0], PARTIES[1], callback_url="https://hooks.example.com/cb")
    with pytest.raises(MaskingError) as caught:
        h.update(session, callback_url=url)
    assert same_error(caught.value, errors.PrivateCallback("callback_url"))
    allowed = harness(numbers(1))
    allowed.sessions._config = replace(allowed.config, allow_private_callbacks=True)
    assert allowed.create(PARTIES[0], PARTIES[1], callback_url=url).settings.callback_url == url
