"""The write-ahead log stays bounded under steady writes (checkpoints run off the event loop);
long reports run off it too; closing the store ends the group commit it has pending."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from maskline.domain.errors import MaskingError
from maskline.domain.model import Account
from maskline.store import sqlite as sqlite_store
from maskline.store.migrate import upgrade
from tests.support import fresh_number

MAIN = Account("MA" + "7" * 18, None)
LIMIT = 1024 * 1024


def test_the_log_starts_over_under_steady_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "wal.db")
    upgrade(f"sqlite:///{path}")
    store = sqlite_store.SQLiteStore.open(path)
    store._checkpointer.stop()
    store._checkpointer = sqlite_store._Checkpointer(path, interval=0.1, limit=LIMIT)

    async def write_for(seconds: float) -> tuple[int, int]:
        await store.accounts.create_account(MAIN, "not used", 0)
        writes, peak, deadline = 0, 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = [
                store.numbers.add_numbers(MAIN.auth_id, MAIN.auth_id, [(fresh_number("+1628"), "US")], 0)
                for _ in range(20)
            ]
            await asyncio.gather(*batch)  # one group commit after another, never idle
            writes += len(batch)
            peak = max(peak, os.path.getsize(path + "-wal"))
        return writes, peak

    try:
        writes, peak = asyncio.run(write_for(3))
    finally:
        asyncio.run(store.close())
    assert writes > 200
    # Unchecked, the log grows by tens of megabytes a second here; it must start over instead.
    assert peak < 16 * LIMIT, (writes, peak)


def test_closing_the_store_ends_the_group_commit_it_has_pending(tmp_path: Path) -> None:
    """A unit that failed leaves its group's commit scheduled: closing at once must not leave
    it to run on a closed connection, and a unit that is waiting for its group is committed."""
    path = str(tmp_path / "close.db")
    upgrade(f"sqlite:///{path}")
    other = Account("MA" + "8" * 18, None)
    number = fresh_number("+1628")

    async def scenario() -> list[dict[str, object]]:
        problems: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, context: problems.append(context))
        store = sqlite_store.SQLiteStore.open(path)
        await store.accounts.create_account(MAIN, "not used", 0)
        await store.accounts.create_account(other, "not used", 0)
        await store.numbers.add_numbers(MAIN.auth_id, MAIN.auth_id, [(number, "US")], 0)
        with pytest.raises(MaskingError):
            await store.numbers.retire_numbers(other.auth_id, [number])  # not its number: refused
        await store.close()  # with the failed unit's group still to commit
        await asyncio.sleep(0.05)  # the loop turns on: nothing is left to run on the closed store

        store = sqlite_store.SQLiteStore.open(path)
        waiting = asyncio.create_task(store.accounts.create_account(Account("MA" + "9" * 18, None), "x", 0))
        await asyncio.sleep(0)  # the unit has run and waits for its group's commit
        await store.close()
        await asyncio.sleep(0.05)
        assert waiting.done() and waiting.exception() is None
        store = sqlite_store.SQLiteStore.open(path)
        try:
            assert await store.accounts.get_account("MA" + "9" * 18) is not None
        finally:
            await store.close()
        return problems

    assert asyncio.run(scenario()) == []


def test_a_long_reader_such_as_a_backup_never_holds_writes_back(tmp_path: Path) -> None:
    """A backup reads one snapshot for as long as it copies, so the log cannot start over
    meanwhile; the checkpoint that would make it start over must give up quickly rather than
    hold the write lock while it waits for the reader (writes were refused as unavailable)."""
    path = str(tmp_path / "wal.db")
    upgrade(f"sqlite:///{path}")
    store = sqlite_store.SQLiteStore.open(path)
    store._checkpointer.stop()
    store._checkpointer = sqlite_store._Checkpointer(path, interval=0.1, limit=LIMIT)
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    async def write_for(seconds: float) -> tuple[int, int]:
        await store.accounts.create_account(MAIN, "not used", 0)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM accounts").fetchall()  # the snapshot holds from here
        writes, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            await store.numbers.add_numbers(MAIN.auth_id, MAIN.auth_id, [(fresh_number("+1628"), "US")], 0)
            writes += 1
        return writes, os.path.getsize(path + "-wal")

    try:
        writes, wal = asyncio.run(write_for(4))
    finally:
        reader.close()
        asyncio.run(store.close())
    assert wal > 2 * LIMIT  # the log outgrew its limit while the reader held it: checkpoints tried
    assert writes > 200  # and every write went through (a refused one raises StoreUnavailable)


def test_a_long_report_leaves_the_event_loop_to_requests(tmp_path: Path) -> None:
    path = str(tmp_path / "report.db")
    upgrade(f"sqlite:///{path}")
    store = sqlite_store.SQLiteStore.open(path)
    count = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
        " SELECT COUNT(*) FROM c"
    )

    async def report_and_request() -> tuple[bool, object]:
        report = asyncio.ensure_future(store.report.fetchrow(count))
        await asyncio.sleep(0)  # the report starts
        await store.accounts.create_account(MAIN, "not used", 0)  # a request meanwhile: a write
        pending = not report.done()
        return pending, await report

    try:
        pending, row = asyncio.run(report_and_request())
        assert pending  # the request was served while the report ran
        assert tuple(row) == (3000000,)  # type: ignore[arg-type]
        with pytest.raises(TypeError):  # a report only reads
            asyncio.run(store.report.execute("DELETE FROM accounts"))
    finally:
        asyncio.run(store.close())
