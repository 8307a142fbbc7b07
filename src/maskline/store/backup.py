"""``maskline backup``: a consistent copy of the embedded database while the server runs.

SQLite's online backup API copies the database page by page from a connection of its own.
That connection holds one read transaction for the whole copy, so the copy is the database as
it was when the copy began; in WAL mode a reader never blocks the server's writes, which go on
meanwhile (and are not in the copy). Without that transaction, every write by the server
would make the backup start over. The copy goes to a temporary file beside the target, is
checked, synced, and then renamed over the target, so the target is never a half-made copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PAGES_PER_STEP = 64  # 256 KiB at SQLite's default page size
PAUSE = 0.001  # seconds between steps, to leave the disk to the server


class BackupError(Exception):
    pass


Progress = Callable[[int, int], object]  # (pages copied, pages in all)


def backup_sqlite(source: str, target: Path, force: bool = False, progress: Progress | None = None) -> int:
    """Copy the SQLite database at ``source`` to ``target``; returns the pages copied.
    ``progress`` is told after each step how far the copy is."""
    if not Path(source).is_file():
        raise BackupError(f"there is no database at {source}")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose another file, or replace it with --force")
    folder = target.resolve().parent
    if not folder.is_dir():
        raise BackupError(f"there is no folder {folder} to write {target.name} in")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".partial")
    os.close(handle)
    try:
        pages = _copy(source, temporary, progress)
        _sync(temporary)
        os.replace(temporary, target)
    except BaseException:
        for leftover in (temporary, temporary + "-journal", temporary + "-wal", temporary + "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        raise
    _sync(str(folder), directory=True)  # the rename itself
    return pages


def _copy(source: str, temporary: str, progress: Progress | None) -> int:
    def step(status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)
        time.sleep(PAUSE)

    # Read-only: the backup never writes to the server's database, nor creates one.
    uri = "file:" + Path(source).resolve().as_posix() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as src:
        src.execute("PRAGMA busy_timeout=5000")
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchall()  # the snapshot starts here
        with contextlib.closing(sqlite3.connect(temporary, isolation_level=None)) as dst:
            src.backup(dst, pages=PAGES_PER_STEP, progress=step)
            # The copy keeps the source's page header (WAL mode); leave it a single file.
            dst.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError("the copy failed its integrity check: " + "; ".join(problems[:3]))
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        src.execute("COMMIT")
    return pages


def _sync(path: str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
