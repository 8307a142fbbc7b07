"""The store's SQL for the number pools."""

from __future__ import annotations

from collections.abc import Sequence

from maskline.domain import errors
from maskline.domain.model import Number, NumberState, Scope
from maskline.store.db import Backend, Db, scope_sql


async def pools_changed(db: Db) -> None:
    """Move the pools' revision on, so that every process reads the pools again before it
    allocates from them (``SqlAllocator`` caches them by revision)."""
    await db.execute("UPDATE counters SET value = value + 1 WHERE name = 'numbers'")


class SqlNumbers:
    def __init__(self, sql: Backend) -> None:
        self._sql = sql

    async def add_numbers(
        self, main_id: str, pool_id: str, entries: Sequence[tuple[str, str]], now: int
    ) -> None:
        async def work(db: Db) -> None:
            await pools_changed(db)
            for number, country in entries:
                if await self._joins_moved_sessions(db, main_id, number):
                    raise errors.NumberStillJoinsMovedSessions(number)
                row = await db.fetchrow(
                    "INSERT INTO numbers (number, main_id, pool_id, country, state, added, last_used)"
                    " VALUES (?,?,?,?,?,?,0) ON CONFLICT (number) DO UPDATE SET"
                    " pool_id = excluded.pool_id, country = excluded.country, state = excluded.state"
                    " WHERE numbers.main_id = excluded.main_id RETURNING id",
                    number,
                    main_id,
                    pool_id,
                    country,
                    NumberState.IN_SERVICE.value,
                    now,
                )
                if row is None:
                    raise errors.NumberOwnedElsewhere(number)

        await self._sql.transact(work)

    @staticmethod
    async def _joins_moved_sessions(db: Db, main_id: str, number: str) -> bool:
        """Whether ``main_id``'s ``number`` was replaced and a session moved off it still holds
        keys on it. Only a retired number can have been replaced, and only for one are the holds
        looked through (they have no index by number: re-adding a retired number is rare)."""
        retired = await db.fetchrow(
            "SELECT 1 FROM numbers WHERE number = ? AND main_id = ? AND state = ?",
            number,
            main_id,
            NumberState.RETIRED.value,
        )
        if retired is None:
            return False
        moved_off = await db.fetchrow(
            "SELECT 1 FROM holds h JOIN sessions s ON s.id = h.session_id"
            " WHERE h.virtual_number = ? AND s.virtual_number <> ? LIMIT 1",
            number,
            number,
        )
        return moved_off is not None

    async def retire_numbers(self, main_id: str, numbers: Sequence[str]) -> None:
        async def work(db: Db) -> None:
            await pools_changed(db)
            for number in numbers:
                row = await db.fetchrow(
                    "UPDATE numbers SET state = ? WHERE number = ? AND main_id = ? RETURNING id",
                    NumberState.RETIRED.value,
                    number,
                    main_id,
                )
                if row is None:
                    raise errors.NumberNotHeld(number, main_id)

        await self._sql.transact(work)

    async def list_numbers(self, scope: Scope, now: int, number: str | None = None) -> list[Number]:
        where, params = scope_sql(scope, owner="pool_id")
        if number is not None:
            where += " AND number = ?"
            params.append(number)
        rows = await self._sql.read.fetch(
            "SELECT number, main_id, pool_id, country, state, added,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.virtual_number = numbers.number"
            "  AND s.cooloff_until > ? AND s.expiry > ? AND s.main_id = numbers.main_id)"
            f" FROM numbers WHERE {where} ORDER BY id",
            now,
            now,
            *params,
        )
        return [Number(r[0], r[1], r[2], r[3], NumberState(r[4]), r[5], r[6]) for r in rows]

    async def numbers_in_service(self, main_id: str | None) -> dict[tuple[str, str], int]:
        """How many numbers are in service per (pool, country), for ``main_id`` (None: all)."""
        where, params = (" AND main_id = ?", [main_id]) if main_id is not None else ("", [])
        rows = await self._sql.read.fetch(
            f"SELECT pool_id, country, COUNT(*) FROM numbers WHERE state = ?{where}"
            " GROUP BY pool_id, country",
            NumberState.IN_SERVICE.value,
            *params,
        )
        return {(row[0], row[1]): int(row[2]) for row in rows}

    async def number_owner(self, number: str) -> str | None:
        """The main account whose pool holds ``number``, if any."""
        row = await self._sql.read.fetchrow("SELECT main_id FROM numbers WHERE number = ?", number)
        return None if row is None else str(row[0])
