"""Number health from the store's call records (both backends): what the query counts, what
``maskline number health`` prints, and the flagged numbers per account."""

from __future__ import annotations

import logging
import time
from dataclasses import replace as replace_call
from itertools import count
from typing import Any

import httpx
from prometheus_client import REGISTRY

from maskline.domain.calls import Call, CallState, LegStatus
from maskline.domain.health import SHORT_CALL, WINDOW, NumberCalls
from maskline.domain.model import NumberState
from maskline.service.health import flagged_numbers, number_health, replace_unhealthy
from maskline.telemetry import COUNTERS, JsonFormatter
from tests.integration.harness import MAIN
from tests.support import ServerThread, maskline, table_rows

POOL = [f"+1628570{i:04d}" for i in range(6)]
SICK = POOL[4]
CALLER, CALLEE = "+14152040001", "+14152040002"
_ids = count(1)


def ended(
    number: str, started: int, answered: bool, billed: int = 60, cause: str = "", **fields: Any
) -> Call:
    """A call to ``number`` that reached the dialled party and ended."""
    values: dict[str, Any] = {
        "callee": CALLEE,
        "answered": started + 5 if answered else None,
        "ended": started + 5 + billed,
        "b_status": LegStatus.COMPLETED if answered else LegStatus.NO_ANSWER,
        "billed": billed if answered else 0,
        "b_cause": cause,
        "state": CallState.ENDED,
        **fields,
    }
    return Call(MAIN.auth_id, f"call-{next(_ids)}", number, CALLER, started, **values)


def traffic(now: int) -> list[Call]:
    """Five healthy numbers answered 54 times in 60, one answered 15 times in 60; and calls
    that must not count: too old, still talking, never routed to a party."""
    calls = []
    for number in POOL:
        answered = 15 if number == SICK else 54
        for i in range(60):
            cause = ("USER_BUSY" if i % 3 else "NO_ANSWER") if i >= answered else "NORMAL_CLEARING"
            calls.append(ended(number, now - 3600 - i, i < answered, 60, cause))
    calls.append(ended(POOL[0], now - 3600, True, SHORT_CALL - 1))  # a short one
    calls.append(ended(POOL[0], now - WINDOW - 10, False, cause="USER_BUSY"))  # before the window
    calls.append(ended(POOL[1], now - 60, True, state=CallState.BRIDGED))  # still talking
    calls.append(ended(POOL[2], now - 60, False, callee=""))  # ended at the PIN prompt
    return calls


def test_the_store_counts_each_numbers_calls_and_the_sick_one_is_flagged(harness: Any) -> None:
    h = harness(POOL)
    now = int(time.time())  # the command judges by the real clock
    for call in traffic(now):
        assert h.run(h.store.calls.save_call(call, None))
    h.run(h.numbers.retire(MAIN, [POOL[5]]))  # retired: neither judged nor counted in the pool
    figures = h.run(h.store.calls.number_calls(MAIN.auth_id, now - WINDOW, now, SHORT_CALL))
    assert [f.number for f in figures] == POOL[:5]
    assert figures[0] == NumberCalls(
        MAIN.auth_id, MAIN.auth_id, "US", POOL[0], 61, 55, 1, {"USER_BUSY": 4, "NO_ANSWER": 2}
    )
    assert figures[4] == NumberCalls(
        MAIN.auth_id, MAIN.auth_id, "US", SICK, 60, 15, 0, {"USER_BUSY": 30, "NO_ANSWER": 15}
    )
    assert h.run(h.store.calls.number_calls("MA" + "9" * 18, now - WINDOW, now, SHORT_CALL)) == []
    assert h.run(h.store.calls.number_calls(None, now - WINDOW, now, SHORT_CALL)) == figures

    judged = h.run(number_health(h.store.calls, MAIN.auth_id, now))
    assert [x.calls.number for x in judged if x.flagged] == [SICK]
    flagged = h.run(flagged_numbers(h.store.calls, now))
    assert list(flagged) == [MAIN.auth_id] and [x.calls.number for x in flagged[MAIN.auth_id]] == [SICK]

    printed = maskline("number", "health", "--account", MAIN.auth_id, database=h.config.database_url)
    rows = table_rows(printed.stdout)
    assert rows[0] == [MAIN.auth_id, "US", POOL[0], "61", "90%", "2%", "USER_BUSY", "no"]
    assert rows[4] == [MAIN.auth_id, "US", SICK, "60", "25%", "0%", "USER_BUSY", "yes: answer rate"]
    assert len(rows) == 5 and "flagged" in printed.stdout.splitlines()[0]
    # A window of one day holds the same calls; none of them at all is no flag.
    assert (
        table_rows(
            maskline(
                "number", "health", "--account", MAIN.auth_id, "--days", "1", database=h.config.database_url
            ).stdout
        )
        == rows
    )


def test_a_number_without_calls_is_listed_and_never_flagged(harness: Any) -> None:
    h = harness(POOL[:2])
    printed = maskline("number", "health", "--account", MAIN.auth_id, database=h.config.database_url)
    assert table_rows(printed.stdout) == [
        [MAIN.auth_id, "US", number, "0", "–", "–", "–", "no"] for number in POOL[:2]
    ]


def test_a_subaccount_sees_its_own_pool_and_the_main_account_every_pool(harness: Any) -> None:
    h = harness(POOL[:2])
    sub = h.subaccount("SA" + "1" * 18)
    h.add(["+16285709990"], subaccount=sub.auth_id)
    url = h.config.database_url
    mine = table_rows(maskline("number", "health", "--account", sub.auth_id, database=url).stdout)
    assert mine == [[sub.auth_id, "US", "+16285709990", "0", "–", "–", "–", "no"]]
    every = table_rows(maskline("number", "health", "--account", MAIN.auth_id, database=url).stdout)
    assert [row[:3] for row in every] == [
        [MAIN.auth_id, "US", POOL[0]],
        [MAIN.auth_id, "US", POOL[1]],
        [sub.auth_id, "US", "+16285709990"],
    ]


def test_flagged_numbers_are_replaced_logged_and_counted(harness: Any, caplog: Any) -> None:
    """With MASKLINE_REPLACE_UNHEALTHY_NUMBERS on, the server does this every plan_refresh."""
    h = harness(POOL)
    now = int(time.time())
    for call in traffic(now):
        assert h.run(h.store.calls.save_call(call, None))
    busy = "+14152040099"
    on_sick = [h.create(busy, f"+1415204{1000 + i}") for i in range(5)][4]
    assert on_sick.virtual_number == SICK
    before = REGISTRY.get_sample_value("maskline_unhealthy_numbers_replaced_total") or 0
    with caplog.at_level(logging.WARNING, logger="maskline"):
        [moves] = h.run(replace_unhealthy(h.store.calls, h.numbers, h.sessions, COUNTERS, now))
    assert (moves.number, [s.uuid for s in moves.moved]) == (SICK, [on_sick.uuid])
    assert h.get(on_sick).virtual_number == POOL[5]
    assert h.run(h.numbers.get(MAIN, SICK)).state is NumberState.RETIRED
    assert REGISTRY.get_sample_value("maskline_unhealthy_numbers_replaced_total") == before + 1
    [record] = [r for r in caplog.records if "unhealthy" in r.getMessage()]
    line = JsonFormatter().format(record)
    assert "answer rate worse than its pool): 1 sessions moved, 0 stayed" in line
    assert SICK not in line and SICK[1:] not in line  # masked, as every number in a log line
    assert (
        h.run(replace_unhealthy(h.store.calls, h.numbers, h.sessions, COUNTERS, now)) == []
    )  # retired: not judged


def test_the_server_replaces_flagged_numbers_by_itself_when_told_to(databases: Any, clock: Any) -> None:
    server = ServerThread(databases.new(), clock, replace_unhealthy_numbers=True, plan_refresh=1)
    tenant = server.tenant(numbers=POOL)
    now = int(clock())
    calls = [replace_call(call, account_id=tenant.auth_id) for call in traffic(now)]

    async def save(store: Any) -> None:
        for call in calls:
            assert await store.calls.save_call(call, None)

    server._with_store(save)
    server.start()
    try:
        with httpx.Client(
            base_url=server.url, auth=(tenant.auth_id, tenant.auth_token), trust_env=False
        ) as http:
            deadline = time.monotonic() + 15
            status = ""
            while time.monotonic() < deadline and status != "retired":
                time.sleep(0.2)
                got = http.get(f"/v1/Account/{tenant.auth_id}/Masking/Number/{SICK}/")
                status = got.json()["response"]["status"]
            assert status == "retired"
            listed = http.get(f"/v1/Account/{tenant.auth_id}/Masking/Number/", params={"limit": 20})
            states = {n["number"]: n["status"] for n in listed.json()["response"]["objects"]}
            assert [n for n, s in states.items() if s == "retired"] == [SICK[1:]]  # the healthy ones stay
    finally:
        server.stop()
