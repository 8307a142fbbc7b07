"""Data retention: sessions that ended long ago are purged, by the server's sweep and by
``maskline purge --before DATE``, which asks first; live and cooling sessions are never touched."""

from __future__ import annotations

import time
from typing import Any

from tests.databases import query
from tests.support import maskline, on_a_terminal

POOL = [f"+1628563{i:04d}" for i in range(4)]
A, B, C, D = (f"+1415205{i:04d}" for i in range(4))


def counts(url: str) -> tuple[object, ...]:
    return query(
        url,
        "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM holds),"
        " (SELECT COUNT(*) FROM departures)",
    )[0]


def test_purge_asks_then_deletes_only_what_ended_before_the_date(harness: Any) -> None:
    h = harness(POOL)
    url = h.config.database_url
    h.create(A, B, session_expiry=600)  # ended on 2026-01-01
    h.create(A, C, session_expiry=600)
    h.clock.now = time.time()  # the CLI runs on the real clock
    h.create(A, D, session_expiry=3600)  # live
    h.create(B, C, session_expiry=60, virtual_number_cooloff_period=3600)
    h.clock.advance(61)  # ended but still cooling
    h.run(h.store.sessions.sweep(int(h.clock()), 0))
    assert counts(url) == (4, 4, 4)

    nothing = maskline("purge", "--before", "2025-12-01", "--yes", database=url)
    assert "deleted 0 sessions" in nothing.stdout and counts(url) == (4, 4, 4)
    declined = maskline("purge", "--before", "2099-01-01", database=url, answer="n\n", check=False)
    assert declined.returncode == 1 and "Delete 2 sessions that ended before 2099-01-01" in declined.stdout
    assert "nothing deleted" in declined.stderr and counts(url) == (4, 4, 4)
    done = maskline("purge", "--before", "2099-01-01", database=url, answer="y\n")
    assert "deleted 2 sessions" in done.stdout
    assert counts(url) == (2, 4, 0)  # the live one and the cooling one stay, with their holds
    bad = maskline("purge", "--before", "last tuesday", database=url, check=False)
    assert bad.returncode == 2 and "is not a date like 2026-08-01" in bad.stderr


def test_a_purge_in_parts_deletes_what_one_purge_would(harness: Any) -> None:
    h = harness(POOL)
    url = h.config.database_url
    for _ in range(5):
        h.create(A, B, session_expiry=60)
        h.clock.advance(61)
    now = int(h.clock())
    h.run(h.store.sessions.sweep(now, 0))
    assert counts(url) == (5, 0, 10)  # A and B left the number five times: their departures stay
    assert h.run(h.store.sessions.purge(now, now, 2)) == 2 and counts(url) == (3, 0, 10)
    assert h.run(h.store.sessions.purge(now, now, 2)) == 2 and counts(url) == (1, 0, 10)
    assert h.run(h.store.sessions.purge(now, now, 2)) == 1 and counts(url) == (0, 0, 0)  # the last part


def test_purge_shows_its_progress_on_a_terminal(harness: Any) -> None:
    h = harness(POOL)
    for pair in ((A, B), (A, C), (B, C)):
        h.create(*pair, session_expiry=60)
    h.clock.advance(61)
    h.run(h.store.sessions.sweep(int(h.clock()), 0))
    done, shown = on_a_terminal(
        "purge", "--before", "2099-01-01", "--yes", "--database", h.config.database_url
    )
    assert done.returncode == 0 and "deleted 3 sessions" in done.stdout
    assert b"purging" in shown and b"3/3" in shown and counts(h.config.database_url)[0] == 0


def test_the_sweep_purges_after_the_retention_period(harness: Any) -> None:
    h = harness(POOL)
    old = h.create(A, B, session_expiry=600)
    h.clock.advance(86400)
    recent = h.create(A, C, session_expiry=600)
    h.clock.advance(89 * 86400 + 601)  # the first ended 90 days and a bit ago, the second not quite
    h.run(h.sessions.sweep())
    assert query(h.config.database_url, "SELECT uuid FROM sessions") == [(recent.uuid,)]
    assert old.uuid != recent.uuid


def test_the_message_nonces_go_after_the_retention_period_and_opt_outs_stay(harness: Any) -> None:
    h = harness(POOL)
    messages = h.store.messages
    assert h.run(messages.first_use("MA", "old", int(h.clock())))
    h.run(messages.set_opted_out(A, POOL[0], True, int(h.clock())))
    h.clock.advance(86400)
    assert h.run(messages.first_use("MA", "recent", int(h.clock())))
    assert not h.run(messages.first_use("MA", "recent", int(h.clock())))  # taken once
    h.clock.advance(89 * 86400 + 1)
    h.run(h.sessions.sweep())
    assert query(h.config.database_url, "SELECT nonce FROM webhook_nonces") == [("recent",)]
    assert h.run(messages.opted_out(A, POOL[0]))  # until the party's START


def test_a_session_deleted_in_the_second_of_a_sweep_still_times_out_once(harness: Any) -> None:
    """The sweep announces what ended since the last one: a DELETE in the very second a sweep
    ran ends its session at that second, and the next sweep announces it."""
    h = harness(POOL)
    h.clock.now = float(int(h.clock()))  # the start of a second
    session = h.create(A, B, session_expiry=600, callback_url="https://hooks.example.com/status")
    h.run(h.sessions.sweep())
    h.expire(session)  # the same second
    for _ in range(3):
        h.clock.advance(1)
        h.run(h.sessions.sweep())
    timeouts = h.query("SELECT session_uuid FROM events WHERE dedup IS NOT NULL")
    assert timeouts == [(session.uuid,)]
