"""The console's operator pages without a server: reading the lookup form, the numbers of the add
form, and a pools overview made from an older plan and the numbers as they are now."""

from __future__ import annotations

import pytest

from maskline.domain.lookup import TOLERANCE
from maskline.domain.model import Account, Number, NumberState
from maskline.http.console.lookup import BadQuery, parse_time, parse_tolerance
from maskline.http.console.pools import split_numbers
from maskline.service.pool_status import overview_of
from maskline.sim.plan import PlanRow

MAIN = Account("MA" + "1" * 18, None)
SUB = Account("SA" + "2" * 18, MAIN.auth_id)
OTHER_SUB = "SA" + "3" * 18


def test_the_lookup_time_is_utc_and_the_tolerance_minutes() -> None:
    assert parse_time("2026-01-01T00:00") == 1_767_225_600
    assert parse_time("2026-01-01 00:00:30") == 1_767_225_630
    assert parse_time("2026-01-01T01:00+01:00") == 1_767_225_600
    with pytest.raises(BadQuery):
        parse_time("")
    assert parse_tolerance("") == TOLERANCE and parse_tolerance(" 2 ") == 120
    for bad in ("-1", "1.5", "x", str(24 * 60 + 1)):
        with pytest.raises(BadQuery):
            parse_tolerance(bad)


def test_numbers_to_add_are_split_on_lines_spaces_commas() -> None:
    assert split_numbers("+14155550100\n+14155550101, +14155550102 ;\r\n") == [
        "+14155550100",
        "+14155550101",
        "+14155550102",
    ]
    assert split_numbers(" \n ") == []


def number(n: str, pool: str, state: NumberState = NumberState.IN_SERVICE, live: int = 0) -> Number:
    return Number(n, MAIN.auth_id, pool, "US", state, 0, live)


def test_an_overview_takes_numbers_as_they_are_now_and_the_traffic_from_the_plan() -> None:
    plan = [
        PlanRow(MAIN.auth_id, "US", 40, 3, 2, 1, 3, 3, 3, 5),
        PlanRow(SUB.auth_id, "US", 10, 1, 1, 1, 1, 1, 1, 1),
        PlanRow("MA" + "9" * 18, "US", 99, 9, 9, 9, 9, 9, 9, 17),  # another account's
    ]
    held = [
        number("+14155550100", MAIN.auth_id, live=2),
        number("+14155550101", MAIN.auth_id, NumberState.RETIRED),  # retired since the plan
        number("+14155550102", MAIN.auth_id, NumberState.RETIRED, live=1),  # still carrying one
        number("+14155550103", SUB.auth_id),
        number("+14155550104", OTHER_SUB),  # added since the plan
    ]
    pools = {p.pool: p for p in overview_of(MAIN, plan, [], held)}
    assert set(pools) == {MAIN.auth_id, SUB.auth_id, OTHER_SUB}
    main = pools[MAIN.auth_id]
    assert (main.in_service, main.live_sessions, main.needed, main.sessions) == (1, 3, 3, 40)
    assert [n.number for n in main.numbers] == ["+14155550100", "+14155550102"]
    fresh = pools[OTHER_SUB]
    assert (fresh.in_service, fresh.needed, fresh.sessions, fresh.spare) == (1, 0, 0, None)
    # A subaccount: its own pool, whatever else the plan and the numbers hold.
    (own,) = overview_of(SUB, plan, [], [n for n in held if n.pool_id == SUB.auth_id])
    assert own.pool == SUB.auth_id and own.in_service == 1
