"""The write-ahead log stays bounded under steady writes (checkpoints run off the event loop)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

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
        await store.create_account(MAIN, "not used", 0)
        writes, peak, deadline = 0, 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = [
                store.add_numbers(MAIN.auth_id, MAIN.auth_id, [(fresh_number("+1628"), "US")], 0)
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
        await store.create_account(MAIN, "not used", 0)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM accounts").fetchall()  # the snapshot holds from here
        writes, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            await store.add_numbers(MAIN.auth_id, MAIN.auth_id, [(fresh_number("+1628"), "US")], 0)
            writes += 1
        return writes, os.path.getsize(path + "-wal")

    try:
        writes, wal = asyncio.run(write_for(4))
    finally:
        reader.close()
        asyncio.run(store.close())
    assert wal > 2 * LIMIT  # the log outgrew its limit while the reader held it: checkpoints tried
    assert writes > 200  # and every write went through (a refused one raises StoreUnavailable)
