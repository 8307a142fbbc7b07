"""An answered write is on disk: on the embedded database, the server syncs the write-ahead log
before it sends the 201 (seen in the system calls the real server makes), unless the operator
chose speed with ``MASKLINE_SQLITE_SYNC=normal``."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest

from maskline.domain.model import Account
from maskline.domain.ports import StoreUnavailable
from maskline.store.migrate import upgrade
from maskline.store.sqlite import SQLiteStore
from tests.support import free_port, fresh_number, maskline

AUTH_ID, TOKEN = "MA" + "D" * 18, "durability-token"
MAIN = Account(AUTH_ID, None)
CREATES = 5
# strace -y names each descriptor's file: fsync(7</path/db-wal>), write(9<TCP:[...]>, "HTTP/1.1 201 ...
_CALL = re.compile(r"^(?P<tid>\d+)\s+(?P<name>\w+)\((?P<fd>\d+)<(?P<file>[^>]*)>(?:, \"(?P<data>[^\"]*))?")


def _syscalls_of_creates(tmp_path: Path, sync: str | None) -> list[tuple[str, str, str]]:
    """(thread, call, what) of the WAL writes and syncs and the 201s of a server doing creates."""
    database = f"sqlite:///{tmp_path / 'durable.db'}"
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    maskline("number", "add", "+14155550100", "--account", AUTH_ID, database=database)
    port, trace = free_port(), tmp_path / "strace.txt"
    env = {**os.environ, "MASKLINE_DATABASE_URL": database}
    env.pop("MASKLINE_SQLITE_SYNC", None)
    if sync is not None:
        env["MASKLINE_SQLITE_SYNC"] = sync
    calls = "pwrite64,write,writev,sendto,sendmsg,fsync,fdatasync"
    command = [sys.executable, "-m", "maskline", "serve", "--port", str(port)]
    tracer = subprocess.Popen(
        ["strace", "-f", "-y", "-s", "16", "-e", f"trace={calls}", "-o", str(trace), *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/Account/{AUTH_ID}/Masking/Session/"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                assert tracer.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with httpx.Client(auth=(AUTH_ID, TOKEN), timeout=10, trust_env=False) as client:
            for i in range(CREATES):
                parties = {"first_party": f"+1415555{i:04d}", "second_party": f"+1628555{i:04d}"}
                assert client.post(url, json=parties).status_code == 201
    finally:
        server = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
        for pid in server:  # stop the server the tracer started; the tracer then ends
            os.kill(int(pid), signal.SIGINT)
        try:
            tracer.wait(timeout=20)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait()
    seen = []
    for line in trace.read_text().splitlines():
        match = _CALL.match(line)
        if match is None:
            continue
        name, file, data = match["name"], match["file"], match["data"] or ""
        if file.endswith("-wal"):
            seen.append((match["tid"], name, "wal"))
        elif data.startswith("HTTP/1.1 201"):
            seen.append((match["tid"], name, "201"))
    return seen


def _synced_before_answering(seen: list[tuple[str, str, str]]) -> list[bool]:
    """For each 201: whether the last call on the WAL before it, by any thread, was a sync."""
    verdicts = []
    for i, (_, _, what) in enumerate(seen):
        if what != "201":
            continue
        before = [name for _, name, w in seen[:i] if w == "wal"]
        verdicts.append(bool(before) and before[-1] in ("fsync", "fdatasync"))
    return verdicts


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


@needs_strace
def test_a_create_is_answered_only_after_its_log_is_on_disk(tmp_path: Path) -> None:
    verdicts = _synced_before_answering(_syscalls_of_creates(tmp_path, None))
    assert verdicts == [True] * CREATES


@needs_strace
def test_operators_may_trade_that_for_speed(tmp_path: Path) -> None:
    verdicts = _synced_before_answering(_syscalls_of_creates(tmp_path, "normal"))
    # (The checkpointer's own sync, once a second, may happen to fall before one of them.)
    assert len(verdicts) == CREATES and not all(verdicts)


def _store(tmp_path: Path) -> SQLiteStore:
    path = str(tmp_path / "synced.db")
    upgrade(f"sqlite:///{path}")
    return SQLiteStore.open(path)


def _write(store: SQLiteStore) -> Awaitable[None]:
    return store.numbers.add_numbers(MAIN.auth_id, MAIN.auth_id, [(fresh_number("+1628"), "US")], 0)


def test_a_write_returns_only_once_the_log_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without strace: the sync is held back, and the write waits for it."""
    synced, release = threading.Event(), threading.Event()
    real = os.fdatasync

    def held(fd: int) -> None:
        release.wait(10)
        real(fd)
        synced.set()

    store = _store(tmp_path)

    async def scenario() -> None:
        await store.accounts.create_account(MAIN, "not used", 0)
        monkeypatch.setattr(os, "fdatasync", held)
        write = asyncio.ensure_future(_write(store))
        await asyncio.sleep(0.2)
        assert not write.done()  # committed, not yet on disk: not answered
        release.set()
        await asyncio.wait_for(write, 10)
        assert synced.is_set()

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(store.close())


def test_after_a_failed_sync_nothing_is_acknowledged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may drop pages it could not write and report the next sync a success: so one
    failure refuses every write after it, until a restart recovers the log."""
    failures = [OSError(errno.EIO, "Input/output error")]
    real = os.fdatasync

    def failing_once(fd: int) -> None:
        if failures:
            raise failures.pop()
        real(fd)

    store = _store(tmp_path)

    async def scenario() -> None:
        await store.accounts.create_account(MAIN, "not used", 0)
        monkeypatch.setattr(os, "fdatasync", failing_once)
        for _ in range(3):
            with pytest.raises(StoreUnavailable, match="cannot sync the write-ahead log"):
                await _write(store)
        assert not failures  # the sync failed once; the later writes were refused all the same

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(store.close())
