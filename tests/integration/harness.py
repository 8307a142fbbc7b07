"""The session service on a real store (either backend), driven without HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from maskline.config import Config
from maskline.domain.allocation import CooloffScope, Policy
from maskline.domain.errors import MaskingError
from maskline.domain.model import Account, Session
from maskline.http.app import session_config
from maskline.service.numbers import NumberService
from maskline.service.sessions import SessionService
from maskline.store.open import open_store
from maskline.store.sql import SqlStore
from maskline.telemetry import COUNTERS
from tests.support import START, FakeClock

T = TypeVar("T")
MAIN = Account("MA" + "0" * 18, None)


class Harness:
    def __init__(
        self,
        database: str,
        numbers: list[str] | None = None,
        *,
        scope: CooloffScope = CooloffScope.PER_PARTY,
        policy: Policy = Policy.FIRST_FIT,
        country: str | None = None,
    ) -> None:
        self.clock = FakeClock(START)
        self._loop = asyncio.new_event_loop()  # the store's connections belong to one loop
        store = self.run(open_store(database, pool_size=2))
        assert isinstance(store, SqlStore)
        self.store = store
        self.config = Config(database_url=database, cooloff_scope=scope, policy=policy)
        self.sessions = SessionService(
            self.store.sessions, self.store.accounts, self.clock, session_config(self.config), COUNTERS
        )
        self.numbers = NumberService(self.store.numbers, self.store.accounts, self.clock)
        self.run(self.store.accounts.create_account(MAIN, "not used", START))
        if numbers:
            self.add(numbers, country=country)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        if not self._loop.is_closed():
            self.run(self.store.close())
            self._loop.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Rows of a read straight from the database (``?`` placeholders on both backends)."""
        return [tuple(row) for row in self.run(self.store.read.fetch(sql, *args))]

    def add(self, numbers: list[str], account: Account = MAIN, **options: Any) -> None:
        self.run(self.numbers.add(account, numbers, **options))

    def subaccount(self, auth_id: str) -> Account:
        account = Account(auth_id, MAIN.auth_id)
        self.run(self.store.accounts.create_account(account, "not used", int(self.clock())))
        return account

    def create(self, first: str, second: str, account: Account = MAIN, **params: Any) -> Session:
        body = {"first_party": first, "second_party": second, **params}
        return self.run(self.sessions.create(account, {k: v for k, v in body.items() if v != ""}))

    def refusal(self, first: str, second: str, **params: Any) -> MaskingError:
        try:
            self.create(first, second, **params)
        except MaskingError as error:
            return error
        raise AssertionError("the create was not refused")

    def expire(self, session: Session) -> Session:
        return self.run(self.sessions.expire(MAIN, session.uuid))

    def get(self, session: Session, account: Account = MAIN) -> Session:
        return self.run(self.sessions.get(account, session.uuid))

    def update(self, session: Session, **body: Any) -> Session:
        return self.run(self.sessions.update(MAIN, session.uuid, lambda: dict(body)))

    def held_rows(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.query("SELECT party, virtual_number FROM holds")]
