"""The store's SQL for accounts: their token hashes and the carrier each one's calls go through."""

from __future__ import annotations

from maskline.domain import errors
from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.model import Account
from maskline.store.db import Backend, Db, Row
from maskline.store.sql_console import SqlConsole


class SqlAccounts:
    def __init__(self, sql: Backend) -> None:
        self._sql = sql

    async def create_account(self, account: Account, token_hash: str, now: int) -> None:
        async def work(db: Db) -> Row | None:
            return await db.fetchrow(
                "INSERT INTO accounts (auth_id, parent_id, token_hash, created) VALUES (?,?,?,?)"
                " ON CONFLICT (auth_id) DO NOTHING RETURNING auth_id",
                account.auth_id,
                account.parent_id,
                token_hash,
                now,
            )

        if await self._sql.transact(work) is None:
            raise errors.AuthIdTaken(account.auth_id)

    async def get_account(self, auth_id: str) -> tuple[Account, str] | None:
        row = await self._sql.read.fetchrow(
            "SELECT parent_id, token_hash FROM accounts WHERE auth_id = ?", auth_id
        )
        return None if row is None else (Account(auth_id, row[0]), row[1])

    async def list_accounts(self) -> list[tuple[Account, int]]:
        rows = await self._sql.read.fetch(
            "SELECT auth_id, parent_id, created FROM accounts ORDER BY created, auth_id"
        )
        return [(Account(row[0], row[1]), int(row[2])) for row in rows]

    async def replace_token(self, auth_id: str, token_hash: str) -> bool:
        """The new token hash; the account's console sign-ins, made with the old token, end."""

        async def work(db: Db) -> Row | None:
            await SqlConsole.end_logins(db, auth_id)
            return await db.fetchrow(
                "UPDATE accounts SET token_hash = ? WHERE auth_id = ? RETURNING auth_id", token_hash, auth_id
            )

        return await self._sql.transact(work) is not None

    async def count_accounts(self) -> int:
        row = await self._sql.read.fetchrow("SELECT COUNT(*) FROM accounts")
        assert row is not None
        return int(row[0])

    # -- carriers ---------------------------------------------------------------------------
    async def set_carrier(self, carrier: Carrier) -> None:
        await self._sql.transact(
            lambda db: db.execute(
                "INSERT INTO carriers (account_id, carrier, auth_token, carrier_auth_id, public_url)"
                " VALUES (?,?,?,?,?) ON CONFLICT (account_id) DO UPDATE SET carrier = excluded.carrier,"
                " auth_token = excluded.auth_token, carrier_auth_id = excluded.carrier_auth_id,"
                " public_url = excluded.public_url",
                carrier.account_id,
                carrier.kind.value,
                carrier.auth_token,
                carrier.carrier_auth_id,
                carrier.public_url,
            )
        )

    async def get_carrier(self, account_id: str) -> Carrier | None:
        row = await self._sql.read.fetchrow(
            "SELECT c.carrier, c.auth_token, c.carrier_auth_id, c.public_url,"
            " COALESCE(a.parent_id, a.auth_id) FROM carriers c JOIN accounts a ON a.auth_id = c.account_id"
            " WHERE c.account_id = ?",
            account_id,
        )
        return None if row is None else Carrier(account_id, CarrierKind(row[0]), *row[1:])
