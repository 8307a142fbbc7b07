"""What the store's SQL runs on: a connection, or a pool of them, taking ``?`` placeholders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from maskline.domain.model import Scope

Row = Sequence[Any]
T = TypeVar("T")


class Db(Protocol):
    async def fetch(self, sql: str, *args: object) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: object) -> Row | None: ...
    async def execute(self, sql: str, *args: object) -> None: ...


class Backend(Protocol):
    """What the store's parts need of a database: reads outside a unit of work, units of work,
    and the clauses that differ between SQLite and PostgreSQL."""

    read: Db
    # Long reads for the operator (the capacity plan's history, a pool's series): where the
    # driver would hold the event loop while they run (SQLite), they run elsewhere.
    report: Db
    LOCK: str  # locks the rows a SELECT reads until the transaction ends
    SKIP_LOCKED: str  # ... passing over rows another transaction has locked
    JOIN_TEXT: str  # the aggregate that joins text values with a separator
    SHARE: str  # locks the rows a SELECT reads against change (not against other SHAREs)

    async def transact(self, work: Callable[[Db], Awaitable[T]]) -> T:
        """Run ``work`` as one atomic unit and return its result once it is durable."""
        ...


def marks(items: Sequence[object]) -> str:
    """Placeholders for ``items``, as in ``IN (?,?,?)``."""
    return ",".join("?" * len(items))


def scope_sql(scope: Scope, owner: str = "account_id") -> tuple[str, list[object]]:
    """The WHERE clause of a scope; ``owner`` names the column of the owning account."""
    if scope.account_id is not None:
        return f"main_id = ? AND {owner} = ?", [scope.main_id, scope.account_id]
    return "main_id = ?", [scope.main_id]
