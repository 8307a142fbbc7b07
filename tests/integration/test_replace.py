"""Replacing a number: its live sessions move to other numbers of their pools, each whole or not
at all, and their parties still reach each other through the old number until they end."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
from typing import Any

import asyncpg
import pytest

from maskline.domain import errors
from maskline.domain.allocation import Policy
from maskline.domain.model import NumberState, Scope
from maskline.service.sessions import Moves
from tests.integration.harness import MAIN, Harness
from tests.integration.test_allocation_rules import GB_NUMBER, PARTIES, US, assert_invariant, numbers


def replace(h: Harness, *replaced: str) -> tuple[Moves, ...]:
    return h.run(h.numbers.replace(MAIN, list(replaced), h.sessions))


def reaches(h: Harness, caller: str, number: str) -> str | None:
    """The session a call from ``caller`` to ``number`` reaches, as routing finds it."""
    view = h.run(h.store.sessions.number_view(caller, number, Scope(MAIN.auth_id), int(h.clock())))
    return view.own.uuid if view.own is not None else None


def test_live_sessions_move_and_the_old_number_still_joins_their_parties(harness: Any) -> None:
    h = harness(numbers(4))
    a, b, c, d, e = PARTIES[:5]
    ab, cd = h.create(a, b), h.create(c, d)
    ae = h.create(a, e)  # a holds US[0] already
    assert (ab.virtual_number, cd.virtual_number, ae.virtual_number) == (US[0], US[0], US[1])

    (moves,) = replace(h, US[0])

    assert {s.uuid for s in moves.moved} == {ab.uuid, cd.uuid} and moves.stuck == []
    assert h.get(ab).virtual_number == US[2]  # not US[1]: a holds it
    assert h.get(cd).virtual_number == US[1]
    assert h.get(ae).virtual_number == US[1]  # not on the replaced number: untouched
    assert h.run(h.numbers.get(MAIN, US[0])).state is NumberState.RETIRED
    assert_invariant(h)
    # Whoever dials the old number reaches the same counterpart; the new number too.
    assert reaches(h, a, US[0]) == ab.uuid and reaches(h, b, US[0]) == ab.uuid
    assert reaches(h, c, US[0]) == cd.uuid and reaches(h, a, US[2]) == ab.uuid
    # Nobody new is given the old number, and it holds nothing once its sessions end.
    assert h.create(PARTIES[7], PARTIES[8]).virtual_number != US[0]
    h.expire(ab)
    h.expire(cd)
    assert reaches(h, a, US[0]) is None
    assert [row for row in h.held_rows() if row[1] == US[0]] == []


def test_a_session_no_number_takes_stays_where_it_is(harness: Any) -> None:
    h = harness(numbers(2))
    a, b, c, d, e = PARTIES[:5]
    ab, ac = h.create(a, b), h.create(a, c)
    de = h.create(d, e)
    (moves,) = replace(h, US[0])
    # a holds US[1] with c, and US[0] is out of service: a's session with b cannot move.
    assert [s.uuid for s in moves.stuck] == [ab.uuid] and [s.uuid for s in moves.moved] == [de.uuid]
    assert h.get(ab).virtual_number == US[0] and h.get(ac).virtual_number == US[1]
    assert h.get(de).virtual_number == US[1]
    held = {row for row in h.held_rows() if row[0] in (a, b)}
    assert held == {(a, US[0]), (b, US[0]), (a, US[1])}  # nothing half-claimed
    assert h.query("SELECT COUNT(*) FROM events WHERE session_uuid = ?", ab.uuid) == [(0,)]
    assert_invariant(h)


def test_a_moved_session_keeps_to_its_country_and_its_pool(harness: Any) -> None:
    h = harness(numbers(2))
    h.add([GB_NUMBER])
    sub = h.subaccount("SA" + "1" * 18)
    h.add([US[2]], subaccount=sub.auth_id)
    mine = h.create(PARTIES[0], PARTIES[1])
    theirs = h.create(PARTIES[2], PARTIES[3], account=sub)
    assert (mine.virtual_number, theirs.virtual_number) == (US[0], US[2])
    (moves,) = replace(h, US[0])
    assert h.get(mine).virtual_number == US[1]  # a US number, of the main account's pool
    (stuck,) = replace(h, US[1])
    assert [s.uuid for s in stuck.stuck] == [mine.uuid]  # only the GB number is left
    (sub_moves,) = replace(h, US[2])
    assert [s.uuid for s in sub_moves.stuck] == [theirs.uuid]  # the main pool is not the subaccount's


def test_the_callback_url_hears_of_the_move(harness: Any) -> None:
    h = harness(numbers(3))
    s = h.create(PARTIES[0], PARTIES[1], callback_url="https://example.com/events")
    h.clock.advance(5)
    (moves,) = replace(h, US[0])
    assert [m.uuid for m in moves.moved] == [s.uuid]
    [(payload,)] = h.query("SELECT payload FROM events WHERE session_uuid = ?", s.uuid)
    assert json.loads(payload) == {
        "EventName": "SessionVirtualNumberReplaced",
        "EventTimestamp": "2026-01-01 00:00:05 +0000 UTC",
        "SessionUUID": s.uuid,
        "VirtualNumber": US[1].lstrip("+"),
        "PreviousVirtualNumber": US[0].lstrip("+"),
        "SequenceNumber": "1",
    }


@pytest.mark.parametrize("policy", [Policy.FIRST_FIT, Policy.QUARANTINE])
def test_replacing_while_sessions_come_and_go_keeps_every_party_on_distinct_numbers(
    harness: Any, policy: Policy
) -> None:
    """Creates, expiries and a replacement at once, on both databases: no party ever holds one
    number in two live sessions, and every live session holds its own number."""
    h = harness(numbers(12), policy=policy)
    live = [h.create(PARTIES[i], PARTIES[i + 20]) for i in range(6)]
    live += [h.create(PARTIES[0], PARTIES[30 + i]) for i in range(3)]

    async def churn(i: int) -> None:
        first = PARTIES[i % 4]
        created = await h.sessions.create(MAIN, {"first_party": first, "second_party": PARTIES[10 + i]})
        await h.sessions.expire(MAIN, created.uuid)
        await h.sessions.create(MAIN, {"first_party": first, "second_party": PARTIES[25 + i]})

    async def together() -> None:
        await asyncio.gather(
            *(churn(i) for i in range(6)),
            *(h.sessions.expire(MAIN, s.uuid) for s in live[::3]),
            h.numbers.replace(MAIN, [US[0], US[1]], h.sessions),
        )

    h.run(together())
    assert_invariant(h)
    left_behind = h.query(
        "SELECT COUNT(*) FROM sessions WHERE virtual_number IN (?, ?) AND expiry > ?",
        US[0],
        US[1],
        int(h.clock()),
    )
    assert left_behind == [(0,)]  # ten numbers are left, and no party has more than five sessions


def test_a_party_filled_in_as_the_session_moves_takes_its_new_number(harness: Any) -> None:
    """An update that read the session before it moved still gives the new party the number the
    session is on now."""
    h = harness(numbers(3))
    single = h.create(PARTIES[0], "", create_session_with_single_party=True)
    (moves,) = replace(h, US[0])
    [moved] = moves.moved
    now = int(h.clock())
    read_before = dataclasses.replace(single, second_party=PARTIES[1], modified=now)
    assert read_before.virtual_number == US[0]
    saved = h.run(
        h.store.sessions.save_session(read_before, single.expiry, now, added={PARTIES[1]: "second_party"})
    )
    assert saved
    assert h.get(single).virtual_number == moved.virtual_number
    assert reaches(h, PARTIES[1], moved.virtual_number) == single.uuid
    assert_invariant(h)


def test_a_create_that_races_the_retirement_never_lands_on_the_retired_number(harness: Any) -> None:
    """PostgreSQL: a create whose pool still lists the number as in service, while another
    transaction retires it, waits for that transaction and then takes another number; a create
    already on the number is waited for by the retirement, so the replacement sees and moves it."""
    h = harness(numbers(3))
    if not h.config.database_url.startswith("postgresql"):
        pytest.skip("one writer at a time on SQLite: a create and a retirement never overlap")
    h.create(PARTIES[0], PARTIES[1])  # the pool is read, and cached, with US[0] in service
    retiring = threading.Event()

    def retire_slowly() -> None:
        async def work() -> None:
            connection = await asyncpg.connect(h.config.database_url)
            try:
                async with connection.transaction():
                    await connection.execute("UPDATE numbers SET state = 'retired' WHERE number = $1", US[0])
                    retiring.set()
                    await asyncio.sleep(0.5)
            finally:
                await connection.close()

        asyncio.run(work())

    retirement = threading.Thread(target=retire_slowly)
    retirement.start()
    assert retiring.wait(10)
    late = h.create(PARTIES[2], PARTIES[3])  # US[0] is free for these parties, and cached in service
    retirement.join()
    assert late.virtual_number == US[1]


def test_a_replaced_number_comes_back_only_once_the_sessions_moved_off_it_have_ended(harness: Any) -> None:
    """While a moved session's parties still reach it through the old number, no new session may
    be given that number: adding it again is refused until they have ended."""
    h = harness(numbers(3))
    moved = h.create(PARTIES[0], PARTIES[1], virtual_number_cooloff_period=60)
    replace(h, US[0])
    with pytest.raises(errors.NumberStillJoinsMovedSessions, match=re.escape(US[0])):
        h.add([US[0]])
    h.expire(moved)
    with pytest.raises(errors.NumberStillJoinsMovedSessions):  # its parties' cool-off holds it still
        h.add([US[0]])
    h.clock.advance(60)
    h.run(h.sessions.sweep())
    h.add([US[0]])
    assert h.run(h.numbers.get(MAIN, US[0])).state is NumberState.IN_SERVICE
