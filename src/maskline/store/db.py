"""What the store's SQL runs on: a connection, or a pool of them, taking ``?`` placeholders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Row = Sequence[Any]


class Db(Protocol):
    async def fetch(self, sql: str, *args: object) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: object) -> Row | None: ...
    async def execute(self, sql: str, *args: object) -> None: ...


def marks(items: Sequence[object]) -> str:
    """Placeholders for ``items``, as in ``IN (?,?,?)``."""
    return ",".join("?" * len(items))
