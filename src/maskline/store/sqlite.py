"""The embedded store: stdlib sqlite3, one connection, called on the event loop.

Every method runs to completion without awaiting, so a transaction never interleaves with
another request; ``BEGIN IMMEDIATE`` takes the write lock up front (decisions/stack.md §3.1).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.dialects import sqlite as sqlite_dialect

from maskline.domain import errors
from maskline.domain.allocation import Claim, CooloffScope, Policy, PoolNumber, candidates
from maskline.domain.listing import ListQuery
from maskline.domain.model import Account, Number, NumberState, Scope, Session, SessionSettings
from maskline.store.schema import ddl

_SESSION_COLUMNS = (
    "uuid, account_id, main_id, first_party, second_party, virtual_number, created, modified,"
    " expiry, calls_live, total_call_count, total_call_billed_duration, last_interaction, settings"
)
_CONDITION_COLUMNS = {"created": "created", "expiry": "expiry", "duration": "(expiry - created)"}
_OPS = frozenset({"=", ">", ">=", "<", "<="})
_encode = msgspec.json.Encoder().encode
_decode_settings = msgspec.json.Decoder(SessionSettings).decode


class _Conflict(Exception):
    """A key of the claim is held on the candidate number already."""

    def __init__(self, key: str) -> None:
        self.key = key


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


def _session(row: Sequence[Any]) -> Session:
    (
        uuid,
        account_id,
        main_id,
        first,
        second,
        number,
        created,
        modified,
        expiry,
        calls_live,
        call_count,
        billed,
        last_interaction,
        settings,
    ) = row
    return Session(
        uuid=uuid,
        account_id=account_id,
        main_id=main_id,
        first_party=first,
        second_party=second,
        virtual_number=number,
        created=created,
        modified=modified,
        expiry=expiry,
        settings=_decode_settings(settings),
        calls_live=calls_live,
        total_call_count=call_count,
        total_call_billed_duration=billed,
        last_interaction=last_interaction,
    )


def _scope_sql(scope: Scope, owner: str = "account_id") -> tuple[str, list[object]]:
    """The WHERE clause of a scope; ``owner`` names the column of the owning account."""
    if scope.account_id is not None:
        return f"main_id = ? AND {owner} = ?", [scope.main_id, scope.account_id]
    return "main_id = ?", [scope.main_id]


class SQLiteStore:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        # Pools in rank order by (pool, country), valid while the "numbers" counter stands still.
        self._pools: dict[tuple[str, str | None], list[PoolNumber]] = {}
        self._pools_version = -1

    @classmethod
    def open(cls, path: str) -> SQLiteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
        ):
            db.execute(f"PRAGMA {pragma}")
        store = cls(db)
        with store._tx():
            for statement in ddl(sqlite_dialect.dialect()):
                db.execute(statement)
        return store

    async def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- accounts ---------------------------------------------------------------------------
    async def create_account(self, account: Account, token_hash: str, now: int) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO accounts (auth_id, parent_id, token_hash, created) VALUES (?,?,?,?)",
                    (account.auth_id, account.parent_id, token_hash, now),
                )
        except sqlite3.IntegrityError:
            raise errors.auth_id_taken(account.auth_id) from None

    async def get_account(self, auth_id: str) -> tuple[Account, str] | None:
        row = self._db.execute(
            "SELECT parent_id, token_hash FROM accounts WHERE auth_id = ?", (auth_id,)
        ).fetchone()
        return None if row is None else (Account(auth_id, row[0]), row[1])

    async def count_accounts(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])

    # -- numbers ----------------------------------------------------------------------------
    def _numbers_changed(self) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('numbers', 1)"
            " ON CONFLICT (name) DO UPDATE SET value = counters.value + 1"
        )

    def _pool(self, claim: Claim) -> list[PoolNumber]:
        """The claim's pool in rank order; cached unless the policy needs fresh use times."""
        row = self._db.execute("SELECT value FROM counters WHERE name = 'numbers'").fetchone()
        version = row[0] if row else 0
        if version != self._pools_version:
            self._pools.clear()
            self._pools_version = version
        key = (claim.pool_id, claim.country)
        pool = self._pools.get(key)
        if pool is None or claim.policy is Policy.LEAST_RECENT:
            where, params = "pool_id = ? AND state = ?", [claim.pool_id, NumberState.IN_SERVICE.value]
            if claim.country is not None:
                where += " AND country = ?"
                params.append(claim.country)
            sql = f"SELECT number, id, last_used FROM numbers WHERE {where} ORDER BY id"
            pool = self._pools[key] = [PoolNumber(*row) for row in self._db.execute(sql, params)]
        return pool

    async def add_numbers(
        self, main_id: str, pool_id: str, entries: Sequence[tuple[str, str]], now: int
    ) -> None:
        with self._tx() as db:
            self._numbers_changed()
            for number, country in entries:
                row = db.execute(
                    "INSERT INTO numbers (number, main_id, pool_id, country, state, added, last_used)"
                    " VALUES (?,?,?,?,?,?,0) ON CONFLICT (number) DO UPDATE SET"
                    " pool_id = excluded.pool_id, country = excluded.country, state = excluded.state"
                    " WHERE numbers.main_id = excluded.main_id RETURNING id",
                    (number, main_id, pool_id, country, NumberState.IN_SERVICE.value, now),
                ).fetchone()
                if row is None:
                    raise errors.number_owned_elsewhere(number)

    async def retire_numbers(self, main_id: str, numbers: Sequence[str]) -> None:
        with self._tx() as db:
            self._numbers_changed()
            for number in numbers:
                cursor = db.execute(
                    "UPDATE numbers SET state = ? WHERE number = ? AND main_id = ?",
                    (NumberState.RETIRED.value, number, main_id),
                )
                if cursor.rowcount == 0:
                    raise errors.number_not_found()

    async def list_numbers(self, scope: Scope, now: int, number: str | None = None) -> list[Number]:
        where, params = _scope_sql(scope, owner="pool_id")
        if number is not None:
            where += " AND number = ?"
            params.append(number)
        rows = self._db.execute(
            "SELECT number, main_id, pool_id, country, state, added,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.virtual_number = numbers.number"
            "  AND s.cooloff_until > ? AND s.expiry > ? AND s.main_id = numbers.main_id)"
            f" FROM numbers WHERE {where} ORDER BY id",
            [now, now, *params],
        ).fetchall()
        return [Number(r[0], r[1], r[2], r[3], NumberState(r[4]), r[5], r[6]) for r in rows]

    # -- sessions ---------------------------------------------------------------------------
    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session:
        """Store a new session on the first number of the pool that takes all its keys."""
        keys = claim.keys
        with self._tx() as db:
            db.execute(
                f"UPDATE allocations SET held = 0 WHERE held AND hold_until <= ?"
                f" AND party IN ({_marks(keys)})",
                (now, *keys),
            )
            pool = self._pool(claim)
            blocked = {
                row[0]
                for row in db.execute(
                    f"SELECT virtual_number FROM allocations WHERE held AND party IN ({_marks(keys)})",
                    keys,
                )
            }
            if claim.scope is CooloffScope.GLOBAL:
                blocked.update(
                    row[0]
                    for row in db.execute(
                        "SELECT virtual_number FROM sessions"
                        " WHERE expiry > ? AND expiry <= ? AND cooloff_until > ?",
                        (now - 3600, now, now),
                    )
                )
            for number in candidates(pool, blocked, claim.policy):
                if claim.quiet and self._has_cooling_session(number, now):
                    continue
                db.execute("SAVEPOINT claim")
                try:
                    placed = self._place(session, number, claim)
                except _Conflict:
                    db.execute("ROLLBACK TO claim")
                    continue
                db.execute("RELEASE claim")
                if claim.policy is Policy.LEAST_RECENT:
                    db.execute("UPDATE numbers SET last_used = ? WHERE number = ?", (now, number))
                return placed
        raise errors.pool_exhausted()

    def _has_cooling_session(self, number: str, now: int) -> bool:
        """Whether a session on ``number`` has ended and is still in its cool-off."""
        return (
            self._db.execute(
                "SELECT 1 FROM sessions WHERE virtual_number = ? AND cooloff_until > ?"
                " AND expiry <= ? LIMIT 1",
                (number, now, now),
            ).fetchone()
            is not None
        )

    def _place(self, session: Session, number: str, claim: Claim) -> Session:
        s = session
        cursor = self._db.execute(
            "INSERT INTO sessions (uuid, account_id, main_id, first_party, second_party,"
            " virtual_number, created, modified, expiry, cooloff_until, calls_live,"
            " total_call_count, total_call_billed_duration, last_interaction, settings)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0,NULL,?)",
            (
                s.uuid,
                s.account_id,
                s.main_id,
                s.first_party,
                s.second_party,
                number,
                s.created,
                s.modified,
                s.expiry,
                s.expiry + s.settings.virtual_number_cooloff_period,
                _encode(s.settings),
            ),
        )
        self._claim(cursor.lastrowid, number, claim.keys, s.expiry, claim.hold_until)
        s.virtual_number = number
        return s

    def _claim(
        self, session_id: int | None, number: str, keys: Sequence[str], ends_at: int, until: int
    ) -> None:
        for key in keys:
            row = self._db.execute(
                "INSERT INTO allocations (session_id, party, virtual_number, held, ends_at, hold_until)"
                " VALUES (?,?,?,1,?,?) ON CONFLICT (party, virtual_number) WHERE held DO NOTHING"
                " RETURNING party",
                (session_id, key, number, ends_at, until),
            ).fetchone()
            if row is None:
                raise _Conflict(key)

    async def get_session(self, uuid: str, scope: Scope) -> Session | None:
        where, params = _scope_sql(scope)
        row = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE uuid = ? AND {where}", (uuid, *params)
        ).fetchone()
        return None if row is None else _session(row)

    async def save_session(
        self,
        session: Session,
        hold_until: int,
        now: int,
        added: Mapping[str, str] | None = None,
        released: Sequence[str] = (),
    ) -> bool:
        """Write a changed live session; False if it expired meanwhile.

        ``added`` maps keys the session takes on its number to the field that brought them;
        a key held there already fails with that field's ``party_taken`` error.
        """
        s = session
        with self._tx() as db:
            row = db.execute(
                "UPDATE sessions SET first_party = ?, second_party = ?, modified = ?, expiry = ?,"
                " cooloff_until = ?, settings = ? WHERE uuid = ? AND expiry > ? RETURNING id",
                (
                    s.first_party,
                    s.second_party,
                    s.modified,
                    s.expiry,
                    s.expiry + s.settings.virtual_number_cooloff_period,
                    _encode(s.settings),
                    s.uuid,
                    now,
                ),
            ).fetchone()
            if row is None:
                return False
            session_id = row[0]
            if added:
                keys = list(added)
                db.execute(
                    f"UPDATE allocations SET held = 0 WHERE held AND hold_until <= ?"
                    f" AND party IN ({_marks(keys)})",
                    (now, *keys),
                )
                try:
                    self._claim(session_id, s.virtual_number, keys, s.expiry, hold_until)
                except _Conflict as conflict:
                    raise errors.party_taken(added[conflict.key]) from None
            if released:
                db.execute(
                    f"UPDATE allocations SET held = 0 WHERE session_id = ? AND held"
                    f" AND party IN ({_marks(released)})",
                    (session_id, *released),
                )
            db.execute(
                "UPDATE allocations SET ends_at = ?, hold_until = ?, held = (? > ?)"
                " WHERE session_id = ? AND held",
                (s.expiry, hold_until, hold_until, now, session_id),
            )
        return True

    async def list_sessions(self, query: ListQuery, scope: Scope, now: int) -> tuple[int, list[Session]]:
        where, params = _scope_sql(scope)
        clauses = [where]
        if query.subaccount is not None:
            clauses.append("account_id = ?")
            params.append(query.subaccount)
        for column, number in query.parties.items():
            clauses.append(f"{column} = ?")
            params.append(number)
        for condition in query.conditions:
            assert condition.op in _OPS
            clauses.append(f"{_CONDITION_COLUMNS[condition.column]} {condition.op} ?")
            params.append(condition.value)
        if query.status == "expired":
            clauses.append("expiry <= ?")
            params.append(now)
        elif query.status in ("active", "in-progress"):
            clauses.append("expiry > ?")
            params.append(now)
            if query.status == "in-progress":
                clauses.append("calls_live > 0")
        sql_where = " AND ".join(clauses)
        total = self._db.execute(f"SELECT COUNT(*) FROM sessions WHERE {sql_where}", params).fetchone()[0]
        rows = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {sql_where}"
            " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        ).fetchall()
        return int(total), [_session(r) for r in rows]

    # -- housekeeping -----------------------------------------------------------------------
    async def sweep(self, now: int, purge_before: int) -> None:
        """Release holds whose time has passed and purge sessions that ended long ago."""
        with self._tx() as db:
            db.execute("UPDATE allocations SET held = 0 WHERE held AND hold_until <= ?", (now,))
            db.execute(
                "DELETE FROM allocations WHERE session_id IN (SELECT id FROM sessions WHERE expiry < ?)",
                (purge_before,),
            )
            db.execute("DELETE FROM sessions WHERE expiry < ?", (purge_before,))
