"""The store's SQL for the operator console: its sign-ins (with what each one's last number action
did, until shown), its cookie secret, the record of revealed numbers, and its read of a session's
events in the outbox."""

from __future__ import annotations

from maskline.domain.console import ConsoleLogin
from maskline.store.db import Backend, Db, Row

_SECRET = "cookies"  # the name of the secret console cookies are signed with


class SqlConsole:
    def __init__(self, sql: Backend) -> None:
        self._sql = sql

    async def console_secret(self, candidate: str) -> str:
        async def work(db: Db) -> Row | None:
            await db.execute(
                "INSERT INTO console_secrets (name, secret) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                _SECRET,
                candidate,
            )
            return await db.fetchrow("SELECT secret FROM console_secrets WHERE name = ?", _SECRET)

        row = await self._sql.transact(work)
        assert row is not None
        return str(row[0])

    async def add_login(self, login: ConsoleLogin, stale_before: int, born_before: int) -> None:
        async def work(db: Db) -> None:
            await db.execute(
                "DELETE FROM console_sessions WHERE last_seen < ? OR created < ?", stale_before, born_before
            )
            await db.execute(
                "INSERT INTO console_sessions (token_hash, auth_id, csrf_token, created, last_seen)"
                " VALUES (?,?,?,?,?)",
                login.token_hash,
                login.auth_id,
                login.csrf_token,
                login.created,
                login.last_seen,
            )

        await self._sql.transact(work)

    async def get_login(self, token_hash: str) -> ConsoleLogin | None:
        row = await self._sql.read.fetchrow(
            "SELECT token_hash, auth_id, csrf_token, created, last_seen FROM console_sessions"
            " WHERE token_hash = ?",
            token_hash,
        )
        return None if row is None else ConsoleLogin(*row)

    async def touch_login(self, token_hash: str, now: int) -> None:
        await self._sql.transact(
            lambda db: db.execute(
                "UPDATE console_sessions SET last_seen = ? WHERE token_hash = ? AND last_seen < ?",
                now,
                token_hash,
                now,
            )
        )

    async def remove_login(self, token_hash: str) -> bool:
        async def work(db: Db) -> Row | None:
            return await db.fetchrow(
                "DELETE FROM console_sessions WHERE token_hash = ? RETURNING token_hash", token_hash
            )

        return await self._sql.transact(work) is not None

    async def keep_notice(self, token_hash: str, notice: str) -> None:
        await self._sql.transact(
            lambda db: db.execute(
                "UPDATE console_sessions SET notice = ? WHERE token_hash = ?", notice, token_hash
            )
        )

    async def take_notice(self, token_hash: str) -> str | None:
        async def work(db: Db) -> Row | None:
            row = await db.fetchrow("SELECT notice FROM console_sessions WHERE token_hash = ?", token_hash)
            if row is not None and row[0] is not None:
                await db.execute("UPDATE console_sessions SET notice = NULL WHERE token_hash = ?", token_hash)
            return row

        row = await self._sql.transact(work)
        return None if row is None else row[0]

    async def record_reveal(self, auth_id: str, session_uuid: str, field: str, now: int) -> None:
        await self._sql.transact(
            lambda db: db.execute(
                "INSERT INTO console_reveals (auth_id, session_uuid, field, at) VALUES (?,?,?,?)",
                auth_id,
                session_uuid,
                field,
                now,
            )
        )

    @staticmethod
    async def end_logins(db: Db, auth_id: str) -> None:
        """Delete, within another part's unit of work, every sign-in of an account."""
        await db.execute("DELETE FROM console_sessions WHERE auth_id = ?", auth_id)

    @staticmethod
    async def forget(db: Db, before: int) -> None:
        """Delete, within a purge, sign-ins last seen and reveals recorded before ``before``."""
        await db.execute("DELETE FROM console_sessions WHERE last_seen < ?", before)
        await db.execute("DELETE FROM console_reveals WHERE at < ?", before)
