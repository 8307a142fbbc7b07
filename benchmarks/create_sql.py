"""What a create's SQL costs on SQLite, with the schema's allocation rows before and after
migration 0004, and without the session uuid's index.

    .venv/bin/python benchmarks/create_sql.py [--prefill 20000] [--creates 20000] [--group 8]

No server, no Python domain code: the statements a create runs inside the server (the holds
read, the session insert, the party holds insert, each in a savepoint), in groups sharing one
commit as the server's group commit makes them under load, with the server's pragmas and its
checkpointer (a passive checkpoint every second from another connection). Variants:

* ``allocation-rows``: the schema before migration 0004 (sessions with their uuid index and
  four others; allocation rows keyed by session, plus the guard and the party index);
* ``holds``: the schema now: holds keyed by (party, number) and kept only while held, so that
  the key is the guard and the party index at once, plus an index by session (ids only grow);
* ``holds-no-uuid-index``: the same without the session uuid's unique index.

Prints the median over rounds of the µs of SQL per create, median over --repeats fresh
databases (each a different seed).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid

SESSIONS = """CREATE TABLE sessions (id INTEGER PRIMARY KEY, uuid VARCHAR(36) NOT NULL {unique},
 account_id VARCHAR(20) NOT NULL, main_id VARCHAR(20) NOT NULL, first_party VARCHAR(20) NOT NULL,
 second_party VARCHAR(20) NOT NULL, virtual_number VARCHAR(20) NOT NULL, created BIGINT NOT NULL,
 modified BIGINT NOT NULL, expiry BIGINT NOT NULL, cooloff_until BIGINT NOT NULL,
 calls_live INTEGER NOT NULL DEFAULT 0, total_call_count INTEGER NOT NULL DEFAULT 0,
 total_call_billed_duration INTEGER NOT NULL DEFAULT 0, last_interaction BIGINT,
 last_counterpart VARCHAR(20) NOT NULL DEFAULT '', settings TEXT NOT NULL,
 pin BOOLEAN NOT NULL DEFAULT 0, prompt BOOLEAN NOT NULL DEFAULT 0)"""
SESSION_INDEXES = (
    "CREATE INDEX ix_sessions_main_created ON sessions (main_id, created)",
    "CREATE INDEX ix_sessions_number_end ON sessions (virtual_number, cooloff_until)",
    "CREATE INDEX ix_sessions_expiry ON sessions (expiry)",
    "CREATE INDEX ix_sessions_pin ON sessions (virtual_number, expiry) WHERE pin",
    "CREATE INDEX ix_sessions_prompt ON sessions (virtual_number, created) WHERE prompt",
)
ALLOCATIONS = (
    "CREATE TABLE allocations (session_id INTEGER NOT NULL, party VARCHAR(24) NOT NULL,"
    " virtual_number VARCHAR(20) NOT NULL, held BOOLEAN NOT NULL, ends_at BIGINT NOT NULL,"
    " hold_until BIGINT NOT NULL, PRIMARY KEY (session_id, party)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX ux_allocations_held ON allocations (party, virtual_number) WHERE held",
    "CREATE INDEX ix_allocations_by_party ON allocations (party, held, virtual_number, ends_at, hold_until)",
)
HOLDS = (
    "CREATE TABLE allocations (party VARCHAR(24) NOT NULL, virtual_number VARCHAR(20) NOT NULL,"
    " session_id INTEGER NOT NULL, ends_at BIGINT NOT NULL, hold_until BIGINT NOT NULL,"
    " PRIMARY KEY (party, virtual_number)) WITHOUT ROWID",
    "CREATE INDEX ix_holds_session ON allocations (session_id)",
)
_ROWS = "FROM allocations WHERE party IN (?,?) AND held = TRUE AND hold_until"
READ = {
    False: f"SELECT group_concat(virtual_number, ','), EXISTS (SELECT 1 {_ROWS} <= ?) {_ROWS} > ?",
    True: "SELECT group_concat(virtual_number, ','), EXISTS (SELECT 1 FROM allocations"
    " WHERE party IN (?,?) AND hold_until <= ?) FROM allocations WHERE party IN (?,?) AND hold_until > ?",
}
HOLD = {
    False: "INSERT INTO allocations (session_id, party, virtual_number, held, ends_at, hold_until)"
    " VALUES (?,?,?,TRUE,?,?),(?,?,?,TRUE,?,?) ON CONFLICT (party, virtual_number) WHERE held DO NOTHING"
    " RETURNING party",
    True: "INSERT INTO allocations (session_id, party, virtual_number, ends_at, hold_until)"
    " VALUES (?,?,?,?,?),(?,?,?,?,?) ON CONFLICT (party, virtual_number) DO NOTHING RETURNING party",
}
RELEASE = {
    False: "UPDATE allocations SET held = FALSE WHERE held AND hold_until <= ?",
    True: "DELETE FROM allocations WHERE hold_until <= ?",
}
INSERT_SESSION = (
    "INSERT INTO sessions (uuid, account_id, main_id, first_party, second_party, virtual_number,"
    " created, modified, expiry, cooloff_until, settings) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id"
)
SETTINGS = '{"call_time_limit":14400,"ring_timeout":15}'
VARIANTS = ("allocation-rows", "holds", "holds-no-uuid-index")
EXPIRY = 600


class Checkpointer(threading.Thread):
    """The server's checkpointer: a passive checkpoint every second from its own connection."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stopping = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=5000")
        while not self.stopping.wait(1.0):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        db.close()


def measure(variant: str, prefill: int, creates: int, group: int, rounds: int, seed: int) -> float:
    """Median µs of SQL per create over ``rounds`` rounds on a fresh database."""
    holds = variant.startswith("holds")
    path = os.path.join(tempfile.mkdtemp(), "create.db")
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536", "wal_autocheckpoint=0"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(SESSIONS.format(unique="" if variant.endswith("no-uuid-index") else "UNIQUE"))
    for ddl in (*SESSION_INDEXES, *(HOLDS if holds else ALLOCATIONS)):
        db.execute(ddl)
    rng = random.Random(seed)
    firsts = ["+1415%07d" % n for n in rng.sample(range(2_000_000, 10_000_000), 8000)]
    seconds = ["+1628%07d" % n for n in rng.sample(range(2_000_000, 10_000_000), 8000)]
    numbers = ["+1650555%04d" % n for n in range(100, 150)]
    clock = [1_700_000_000]

    def create() -> None:
        first, second, now = rng.choice(firsts), rng.choice(seconds), clock[0]
        db.execute("SAVEPOINT unit")
        joined, _stale = db.execute(READ[holds], (first, second, now, first, second, now)).fetchone()
        taken = set(joined.split(",")) if joined else set()
        number = next(n for n in numbers if n not in taken)
        end = now + EXPIRY
        row = (str(uuid.uuid4()), "MA1", "MA1", first, second, number, now, now, end, end, SETTINGS)
        session_id = db.execute(INSERT_SESSION, row).fetchone()[0]
        a, b = sorted((first, second))
        held = db.execute(HOLD[holds], (session_id, a, number, end, end, session_id, b, number, end, end))
        assert len(held.fetchall()) == 2
        db.execute("RELEASE unit")

    def commit_group(size: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        for _ in range(size):
            create()
        db.execute("COMMIT")

    for _ in range(prefill // 500):  # history: earlier sessions, ended and released
        clock[0] += EXPIRY + 100
        db.execute(RELEASE[holds], (clock[0],))
        commit_group(500)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpointer = Checkpointer(path)
    checkpointer.start()
    per_round = creates // rounds
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(per_round // group):
            commit_group(group)
        times.append((time.perf_counter() - began) / per_round * 1e6)
    checkpointer.stopping.set()
    checkpointer.join()
    db.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefill", type=int, default=20_000, help="sessions created and ended before")
    parser.add_argument("--creates", type=int, default=20_000, help="creates measured per database")
    parser.add_argument("--group", type=int, default=8, help="creates sharing one commit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="fresh databases per variant")
    args = parser.parse_args()
    results: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:  # interleaved, so that a slow spell of the machine hits all
            results[variant].append(
                measure(variant, args.prefill, args.creates, args.group, args.rounds, seed=repeat + 1)
            )
    base = statistics.median(results["allocation-rows"])
    print(f"SQLite {sqlite3.sqlite_version}; {args.prefill:,} sessions before; groups of {args.group}")
    print("| schema | µs of SQL per create | against allocation rows |\n|---|---:|---:|")
    for variant, figures in results.items():
        median = statistics.median(figures)
        print(f"| {variant} | {median:.0f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
