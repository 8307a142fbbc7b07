"""What the service needs from the world, as Protocols: a clock and a store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from maskline.domain.allocation import Claim
from maskline.domain.listing import ListQuery
from maskline.domain.model import Account, Number, Scope, Session


class Clock(Protocol):
    def __call__(self) -> float:
        """Seconds since the epoch."""
        ...


class Store(Protocol):
    async def close(self) -> None: ...

    async def create_account(self, account: Account, token_hash: str, now: int) -> None: ...
    async def get_account(self, auth_id: str) -> tuple[Account, str] | None: ...
    async def count_accounts(self) -> int: ...

    async def add_numbers(
        self, main_id: str, pool_id: str, entries: Sequence[tuple[str, str]], now: int
    ) -> None: ...
    async def retire_numbers(self, main_id: str, numbers: Sequence[str]) -> None: ...
    async def list_numbers(
        self, scope: Scope, now: int, number: str | None = None
    ) -> list[Number]: ...

    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session: ...
    async def get_session(self, uuid: str, scope: Scope) -> Session | None: ...
    async def save_session(
        self,
        session: Session,
        hold_until: int,
        now: int,
        added: Mapping[str, str] | None = None,
        released: Sequence[str] = (),
    ) -> bool: ...
    async def list_sessions(
        self, query: ListQuery, scope: Scope, now: int
    ) -> tuple[int, list[Session]]: ...
    async def sweep(self, now: int, purge_before: int) -> None: ...
