"""The store's SQL for messages: opt-outs, the counterpart a text leaves on a single-party
session, and the message signatures' nonces. Message bodies are never stored."""

from __future__ import annotations

from maskline.domain.model import Scope
from maskline.store.db import Backend, Db, scope_sql


class SqlMessages:
    def __init__(self, sql: Backend) -> None:
        self._sql = sql

    async def serves_number(self, number: str, scope: Scope) -> bool:
        """Whether ``number`` is in one of ``scope``'s pools (its webhooks reach nothing else)."""
        where, params = scope_sql(scope, owner="pool_id")
        row = await self._sql.read.fetchrow(
            f"SELECT 1 FROM numbers WHERE number = ? AND {where}", number, *params
        )
        return row is not None

    async def opted_out(self, party: str, number: str) -> bool:
        row = await self._sql.read.fetchrow(
            "SELECT 1 FROM opt_outs WHERE party = ? AND virtual_number = ?", party, number
        )
        return row is not None

    async def set_opted_out(self, party: str, number: str, opted_out: bool, now: int) -> None:
        """Remember ``party``'s STOP to ``number`` (a second one keeps the first's time), or
        forget it on their START."""

        async def work(db: Db) -> None:
            if opted_out:
                await db.execute(
                    "INSERT INTO opt_outs (party, virtual_number, since) VALUES (?, ?, ?)"
                    " ON CONFLICT (party, virtual_number) DO NOTHING",
                    party,
                    number,
                    now,
                )
            else:
                await db.execute("DELETE FROM opt_outs WHERE party = ? AND virtual_number = ?", party, number)

        await self._sql.transact(work)

    async def note_counterpart(self, session_uuid: str, counterpart: str, now: int) -> None:
        """``counterpart`` wrote to the single-party session ``session_uuid``: its party's
        replies, texts and calls alike, go back to them (while it is live)."""
        await self._sql.transact(
            lambda db: db.execute(
                "UPDATE sessions SET last_counterpart = ? WHERE uuid = ? AND expiry > ?",
                counterpart,
                session_uuid,
                now,
            )
        )

    async def first_use(self, account_id: str, nonce: str, now: int) -> bool:
        """Take ``nonce`` for ``account_id``; False if it was taken before (a replay)."""

        async def work(db: Db) -> bool:
            row = await db.fetchrow(
                "INSERT INTO webhook_nonces (account_id, nonce, seen) VALUES (?, ?, ?)"
                " ON CONFLICT (account_id, nonce) DO NOTHING RETURNING seen",
                account_id,
                nonce,
                now,
            )
            return row is not None

        return await self._sql.transact(work)

    @staticmethod
    async def forget_nonces(db: Db, before: int) -> None:
        """Part of the purge: the nonces taken before ``before``."""
        await db.execute("DELETE FROM webhook_nonces WHERE seen < ?", before)
