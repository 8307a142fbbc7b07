"""The outage's log lines: at most one per window, the first at once, each counting what was
refused since the one before, and one when it is over; no traceback."""

from __future__ import annotations

import logging
import re

import pytest

from maskline.domain.ports import StoreUnavailable
from maskline.telemetry import Outage
from tests.support import FakeClock

DOWN = StoreUnavailable("ConnectionRefusedError: [Errno 111] Connection refused")


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    records = [r for r in caplog.records if r.name == "maskline.database"]
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in records)
    return [r.getMessage() for r in records]


def counts(message: str) -> tuple[int, int]:
    match = re.search(r"(\d+) requests refused, (\d+) background runs skipped", message)
    assert match is not None
    return int(match[1]), int(match[2])


def test_an_outage_under_load_is_a_line_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(0)
    outage = Outage(window=5, clock=clock)
    caplog.set_level(logging.WARNING, "maskline.database")
    for _ in range(96):  # 12 s of 9 refusals and a failed background run every 1/8 s
        for _ in range(9):
            outage.refused(DOWN)
        outage.skipped(DOWN)
        clock.advance(0.125)
    outage.reachable()  # 2 s after the last line: said at the next chance
    clock.advance(5)
    outage.reachable()
    told = lines(caplog)
    assert len(told) == 4  # at 0 s, 5 s and 10 s, and when it is over
    assert "unreachable (ConnectionRefusedError" in told[0] and "still unreachable" in told[1]
    assert told[-1].startswith("database reachable again")
    assert [counts(m) for m in told] == [(1, 0), (360, 40), (360, 40), (143, 16)]


def test_a_flapping_database_stays_within_a_line_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(0)
    outage = Outage(window=5, clock=clock)
    caplog.set_level(logging.WARNING, "maskline.database")
    for _ in range(20):  # down and up again every half second for 10 s
        outage.refused(DOWN)
        clock.advance(0.25)
        outage.reachable()
        clock.advance(0.25)
    outage.flush()  # at shutdown, what is left is written
    told = lines(caplog)
    assert len(told) <= 10 / 5 + 2
    assert sum(counts(m)[0] for m in told) == 20


def test_nothing_is_said_while_the_database_answers(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(window=5, clock=FakeClock(0))
    caplog.set_level(logging.WARNING, "maskline.database")
    outage.reachable()
    outage.flush()
    assert lines(caplog) == []
