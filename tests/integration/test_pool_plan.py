"""The capacity planner, from the live database (both backends) and from a trace file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maskline.domain.allocation import Policy
from maskline.domain.model import Scope
from maskline.service.capacity import plan_pools
from maskline.sim.plan import HistoryRow, plan, plan_table
from maskline.sim.trace import TraceSession, write_trace
from maskline.sim.workloads import food_delivery
from tests.integration.harness import MAIN
from tests.support import maskline, table_rows

POOL = [f"+1628560{i:04d}" for i in range(6)]
A, B, C, D = (f"+1415204{i:04d}" for i in range(4))


def test_plan_from_the_database(harness: Any) -> None:
    h = harness(POOL)
    h.create(A, B, session_expiry=600)
    h.create(A, C, session_expiry=600)
    ended = h.create(A, D, session_expiry=600, virtual_number_cooloff_period=300)
    h.clock.advance(100)
    h.expire(ended)  # A's third number stays held against A for 300 s
    h.clock.advance(100)
    now = int(h.clock())
    history = [HistoryRow(*row) for row in h.run(h.store.sessions.session_history(MAIN.auth_id, now - 86400))]
    assert len(history) == 3 and {r.pool for r in history} == {MAIN.auth_id}
    numbers = h.run(h.store.numbers.list_numbers(Scope(MAIN.auth_id, None), now))
    in_service = {(MAIN.auth_id, "US"): len(numbers)}
    [row] = plan(history, in_service, now)
    assert (row.pool, row.country, row.sessions, row.in_service) == (MAIN.auth_id, "US", 3, 6)
    assert (row.in_use, row.delta_now, row.delta_peak, row.held_peak) == (3, 2, 3, 3)
    assert (row.needed, row.rule, row.headroom) == (3, 5, 3)
    assert [MAIN.auth_id, "US", "3", "6", "3", "2", "3", "3", "3", "5", "+3"] in table_rows(plan_table([row]))
    # What the command and /metrics run: the same history, the same plan.
    assert h.run(
        plan_pools(h.store.sessions, h.store.numbers, MAIN.auth_id, now, 86400, Policy.FIRST_FIT)
    ) == [row]
    assert h.run(plan_pools(h.store.sessions, h.store.numbers, None, now, 86400, Policy.FIRST_FIT)) == [row]
    # The command reads the same history, with the real clock: nothing is in use any more.
    printed = maskline(
        "pool", "plan", "--account", MAIN.auth_id, "--days", "800", database=h.config.database_url
    )
    # No session ended an hour before the last one started: no late call to count.
    assert [MAIN.auth_id, "US", "3", "6", "0", "0", "3", "3", "3", "5", "+3", "–", "–"] in table_rows(
        printed.stdout
    )


def test_plan_from_a_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "history.jsonl"
    with trace.open("w") as out:
        write_trace(
            [
                TraceSession(0, 100, A, B, pool="US"),
                TraceSession(10, 100, A, C, pool="US"),
                TraceSession(20, 100, B, C, pool="US"),  # a triangle: Δ 2, needs 3
                TraceSession(0, 100, A, B, pool="GB"),
            ],
            out,
        )
    printed = maskline("pool", "plan", "--trace", str(trace), database="").stdout
    assert ["GB", "", "1", "–", "0", "0", "1", "1", "1", "1", "–", "–", "–"] in table_rows(printed)
    assert ["US", "", "3", "–", "0", "0", "2", "2", "3", "3", "–", "–", "–"] in table_rows(printed)
    missing = maskline("pool", "plan", database="sqlite:///unused.db", check=False)
    assert missing.returncode == 1 and "pool plan needs --account" in missing.stderr


def test_plan_from_a_trace_file_counts_late_calls(tmp_path: Path) -> None:
    trace = tmp_path / "couriers.jsonl"
    with trace.open("w") as out:
        write_trace(food_delivery(1, couriers=20, hours=4), out)
    first_fit = {"MASKLINE_ALLOCATION_POLICY": "first_fit"}
    [row] = table_rows(maskline("pool", "plan", "--trace", str(trace), database="", env=first_fit).stdout)
    needed, misrouted, pool = int(row[8]), row[-2], row[-1]
    # First-fit hands a courier's number straight back: a third of the late calls an hour on
    # reach the next customer, and no pool changes what first-fit does.
    assert 20 < float(misrouted.rstrip("%")) < 60 and pool == f"> {4 * needed}"
    # Quarantine (the default) misroutes fewer with no slack at all, and a few more numbers end it.
    [row] = table_rows(maskline("pool", "plan", "--trace", str(trace), database="").stdout)
    assert float(row[-2].rstrip("%")) < float(misrouted.rstrip("%")) and needed < int(row[-1]) <= 2 * needed
