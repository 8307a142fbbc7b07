"""What the store's SQL runs on: a connection, or a pool of them, taking ``?`` placeholders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from maskline.domain.model import Scope

Row = Sequence[Any]


class Db(Protocol):
    async def fetch(self, sql: str, *args: object) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: object) -> Row | None: ...
    async def execute(self, sql: str, *args: object) -> None: ...


def marks(items: Sequence[object]) -> str:
    """Placeholders for ``items``, as in ``IN (?,?,?)``."""
    return ",".join("?" * len(items))


def scope_sql(scope: Scope, owner: str = "account_id") -> tuple[str, list[object]]:
    """The WHERE clause of a scope; ``owner`` names the column of the owning account."""
    if scope.account_id is not None:
        return f"main_id = ? AND {owner} = ?", [scope.main_id, scope.account_id]
    return "main_id = ?", [scope.main_id]
