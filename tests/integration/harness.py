"""The session service on a real SQLite store (in memory), driven without HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from maskline.config import Config
from maskline.domain.allocation import CooloffScope, Policy
from maskline.domain.errors import MaskingError
from maskline.domain.model import Account, Session
from maskline.service.numbers import NumberService
from maskline.service.sessions import SessionService
from maskline.store.sqlite import SQLiteStore
from tests.support import START, FakeClock

T = TypeVar("T")
MAIN = Account("MA" + "0" * 18, None)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Harness:
    def __init__(
        self,
        numbers: list[str] | None = None,
        *,
        scope: CooloffScope = CooloffScope.PER_PARTY,
        policy: Policy = Policy.FIRST_FIT,
        country: str | None = None,
    ) -> None:
        self.clock = FakeClock(START)
        self.store = SQLiteStore.open(":memory:")
        self.config = Config(database_url="sqlite:///:memory:", cooloff_scope=scope, policy=policy)
        self.sessions = SessionService(self.store, self.clock, self.config)
        self.numbers = NumberService(self.store, self.clock)
        run(self.store.create_account(MAIN, "not used", START))
        if numbers:
            self.add(numbers, country=country)

    def add(self, numbers: list[str], account: Account = MAIN, **options: Any) -> None:
        run(self.numbers.add(account, numbers, **options))

    def subaccount(self, auth_id: str) -> Account:
        account = Account(auth_id, MAIN.auth_id)
        run(self.store.create_account(account, "not used", int(self.clock())))
        return account

    def create(self, first: str, second: str, account: Account = MAIN, **params: Any) -> Session:
        body = {"first_party": first, "second_party": second, **params}
        return run(self.sessions.create(account, {k: v for k, v in body.items() if v != ""}))

    def refusal(self, first: str, second: str, **params: Any) -> MaskingError:
        try:
            self.create(first, second, **params)
        except MaskingError as error:
            return error
        raise AssertionError("the create was not refused")

    def expire(self, session: Session) -> Session:
        return run(self.sessions.expire(MAIN, session.uuid))

    def get(self, session: Session, account: Account = MAIN) -> Session:
        return run(self.sessions.get(account, session.uuid))

    def update(self, session: Session, **body: Any) -> Session:
        import msgspec

        return run(self.sessions.update(MAIN, session.uuid, msgspec.json.encode(body)))

    def held_rows(self) -> list[tuple[str, str]]:
        rows = self.store._db.execute("SELECT party, virtual_number FROM allocations WHERE held")
        return [tuple(r) for r in rows]  # type: ignore[misc]
