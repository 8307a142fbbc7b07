"""``maskline sim`` as an operator runs it: generated workloads, a trace file, clear errors."""

from __future__ import annotations

from pathlib import Path

from tests.support import maskline, on_a_terminal, table_rows


def test_sim_reports_a_workload_and_replays_a_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "trap.jsonl"
    out = maskline(
        "sim", "--workload", "trap-3", "--policy", "first_fit", "--write-trace", str(trace), database=""
    )
    # The trap's sessions all outlast its last start: no late call to count.
    assert ["trap-3", "first_fit", "9", "3", "3", "5", "1.67", "5", "–", "–", "–", "–"] in table_rows(
        out.stdout
    )
    assert len(trace.read_text().splitlines()) == 9
    again = maskline(
        "sim", "--trace", str(trace), "--policy", "least_recent", "--pool-size", "4", database=""
    )
    assert ["trap.jsonl", "least_recent", "9", "3", "3", "3", "1.00", "5", "0.00%", "–", "–", "–", "–"] in (
        table_rows(again.stdout)
    )


def test_sim_names_what_it_does_not_know(tmp_path: Path) -> None:
    unknown = maskline("sim", "--workload", "nope", database="", check=False)
    assert unknown.returncode == 1 and "unknown workload or policy nope" in unknown.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"start": 10, "end": 5, "first": "a", "second": "b"}\n')
    refused = maskline("sim", "--trace", str(bad), database="", check=False)
    assert refused.returncode == 1 and "line 1: a session must end after it starts" in refused.stderr


def test_sim_shows_its_progress_on_a_terminal_and_nowhere_else() -> None:
    """On a terminal, a bar on standard error counts the runs as they finish; piped, the output
    is the table alone."""
    done, shown = on_a_terminal(
        "sim",
        "--workload",
        "trap-3",
        "--workload",
        "trap-5",
        "--policy",
        "first_fit",
        "--policy",
        "quarantine",
    )
    assert done.returncode == 0 and ["trap-5", "quarantine"] in [row[:2] for row in table_rows(done.stdout)]
    assert b"simulating" in shown and b"4/4" in shown
    piped = maskline("sim", "--workload", "trap-3", "--policy", "first_fit", database="")
    assert "simulating" not in piped.stderr and piped.stdout.startswith("|")


def test_pool_plan_shows_its_progress_on_a_terminal(tmp_path: Path) -> None:
    trace = tmp_path / "geo.jsonl"
    maskline(
        "sim", "--workload", "geo-split", "--policy", "first_fit", "--write-trace", str(trace), database=""
    )
    done, shown = on_a_terminal("pool", "plan", "--trace", str(trace))
    pools = len(table_rows(done.stdout))
    assert done.returncode == 0 and pools >= 2
    assert b"sizing pools" in shown and f"{pools}/{pools}".encode() in shown


def test_sim_reports_late_calls_that_reach_a_stranger_over_both_sides_and_per_side() -> None:
    out = maskline("sim", "--workload", "food-delivery", "--policy", "first_fit", database="")
    both, busy, other = table_rows(out.stdout)
    assert both[:2] == ["food-delivery", "first_fit"] and both[-1] == "–"  # no traffic a day later
    numbers = str(-(-int(both[5]) * 12 // 10))  # 1.2 × K*, rounded up
    assert busy[:4] == ["food-delivery", "first_fit", numbers, "busy"]
    assert other[:4] == ["food-delivery", "first_fit", numbers, "other"]
    assert other[4:7] == ["0.00%"] * 3  # customers order once
    assert float(busy[5].rstrip("%")) > float(both[9].rstrip("%")) > 0  # an hour after: couriers
    sized = maskline(
        "sim", "--workload", "food-delivery", "--policy", "first_fit", "--pool-size", "40", database=""
    )
    assert table_rows(sized.stdout)[1][2] == "40"
