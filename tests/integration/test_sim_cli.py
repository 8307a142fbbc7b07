"""``maskline sim`` as an operator runs it: generated workloads, a trace file, clear errors."""

from __future__ import annotations

from pathlib import Path

from tests.support import maskline


def test_sim_reports_a_workload_and_replays_a_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "trap.jsonl"
    out = maskline(
        "sim", "--workload", "trap-3", "--policy", "first_fit", "--write-trace", str(trace), database=""
    )
    assert "| trap-3 | first_fit | 9 | 3 | 3 | 5 | 1.67 | 5 |" in out.stdout
    assert len(trace.read_text().splitlines()) == 9
    again = maskline(
        "sim", "--trace", str(trace), "--policy", "least_recent", "--pool-size", "4", database=""
    )
    assert "| trap.jsonl | least_recent | 9 | 3 | 3 | 3 | 1.00 | 5 | 0.00% |" in again.stdout


def test_sim_names_what_it_does_not_know(tmp_path: Path) -> None:
    unknown = maskline("sim", "--workload", "nope", database="", check=False)
    assert unknown.returncode == 1 and "unknown workload or policy nope" in unknown.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"start": 10, "end": 5, "first": "a", "second": "b"}\n')
    refused = maskline("sim", "--trace", str(bad), database="", check=False)
    assert refused.returncode == 1 and "line 1: a session must end after it starts" in refused.stderr
