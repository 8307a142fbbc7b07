"""``maskline backup``: a consistent copy of the embedded database, taken while the server runs
and writes, from which a server starts again with every session acknowledged before the copy."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from maskline.store.backup import backup_sqlite
from tests.support import ServerProcess, maskline

AUTH_ID, TOKEN = "MA" + "B" * 18, "backup-token"
CLIENTS = 8
LOAD_SECONDS = 60.0  # at most: the test stops the load once the backup is done


def prepare(database: str) -> None:
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    maskline("number", "add", "+14155550100", "+14155550101", "--account", AUTH_ID, database=database)


class Load:
    """``CLIENTS`` clients creating sessions, each with parties of its own, until told to stop
    (or for ``LOAD_SECONDS`` at most); ``acknowledged``: (time of the 201, session uuid)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acknowledged: list[tuple[float, str]] = []
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def acknowledged_after(self, moment: float, timeout: float = 30.0) -> bool:
        """Waits until a session is acknowledged after ``moment``; whether one was."""
        deadline = time.monotonic() + timeout
        while not any(at > moment for at, _ in self.acknowledged) and time.monotonic() < deadline:
            time.sleep(0.01)
        return any(at > moment for at, _ in self.acknowledged)

    async def _client(self, n: int, until: float) -> None:
        path = f"/v1/Account/{AUTH_ID}/Masking/Session/"
        async with httpx.AsyncClient(
            base_url=self.url, auth=(AUTH_ID, TOKEN), trust_env=False, timeout=20
        ) as http:
            i = 0
            while time.monotonic() < until and not self.stop.is_set():
                parties = {"first_party": f"+1415{200 + n}{i:04d}", "second_party": f"+1628{200 + n}{i:04d}"}
                reply = await http.post(path, json=parties)
                self.statuses.append(reply.status_code)
                if reply.status_code == 201:
                    self.acknowledged.append((time.monotonic(), reply.json()["session_uuid"]))
                i += 1

    async def _run(self) -> None:
        until = time.monotonic() + LOAD_SECONDS
        await asyncio.gather(*(self._client(n, until) for n in range(CLIENTS)))


def test_a_backup_taken_under_load_holds_every_session_acknowledged_before_it(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'live.db'}"
    copy = tmp_path / "backups" / "copy.db"
    copy.parent.mkdir()
    prepare(database)
    server = ServerProcess(database)
    try:
        load = Load(server.url)
        load.thread.start()
        assert load.acknowledged_after(0.0), "no session was acknowledged before the backup"
        started = time.monotonic()
        backup = maskline("backup", str(copy), database=database)
        finished = time.monotonic()
        load.acknowledged_after(finished)
        load.stop.set()
        load.thread.join(timeout=60)
        assert not load.thread.is_alive()
    finally:
        server.stop()
    assert set(load.statuses) == {201}, "the backup disturbed the server"
    before = [uuid for at, uuid in load.acknowledged if at < started]
    after = [uuid for at, uuid in load.acknowledged if at > finished]
    assert before and after, "the backup did not run in the middle of the load"
    assert str(copy) in backup.stdout
    assert [p.name for p in copy.parent.iterdir()] == ["copy.db"]  # no temporary file left behind

    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    restored = ServerProcess(f"sqlite:///{copy}")
    try:
        with httpx.Client(base_url=restored.url, auth=(AUTH_ID, TOKEN), trust_env=False, timeout=20) as http:
            missing = [
                uuid
                for uuid in before
                if http.get(f"/v1/Account/{AUTH_ID}/Masking/Session/{uuid}/").status_code != 200
            ]
    finally:
        restored.stop()
    assert missing == []


def test_a_backup_does_not_overwrite_a_file_unless_forced(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'live.db'}"
    prepare(database)
    existing = tmp_path / "existing.db"
    existing.write_text("keep me")
    refused = maskline("backup", str(existing), database=database, check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert existing.read_text() == "keep me"

    maskline("backup", str(existing), "--force", database=database)
    with contextlib.closing(sqlite3.connect(existing)) as db:
        assert db.execute("SELECT auth_id FROM accounts").fetchall() == [(AUTH_ID,)]


def test_a_backup_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    result = maskline(
        "backup", str(tmp_path / "copy.db"), database=f"sqlite:///{tmp_path / 'none.db'}", check=False
    )
    assert result.returncode == 1 and "no database" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_postgresql_is_backed_up_with_pg_dump(tmp_path: Path) -> None:
    # Nothing listens on port 9: the command must not try to connect.
    result = maskline(
        "backup", str(tmp_path / "copy.dump"), database="postgresql://u:p@127.0.0.1:9/maskline", check=False
    )
    assert result.returncode == 1
    assert "pg_dump" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_backup_tells_its_progress_step_by_step(tmp_path: Path) -> None:
    source = tmp_path / "big.db"
    with contextlib.closing(sqlite3.connect(source)) as db:
        db.execute("CREATE TABLE t (x BLOB)")
        db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 4000,) for _ in range(1000)])
        db.commit()
    seen: list[tuple[int, int]] = []
    pages = backup_sqlite(
        str(source), tmp_path / "copy.db", progress=lambda done, total: seen.append((done, total))
    )
    assert len(seen) > 1 and seen[-1] == (pages, pages)  # several steps, the last one complete
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
