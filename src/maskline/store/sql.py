"""The store both backends share: one part per aggregate, composed over one database.

Statements are written once, with ``?`` placeholders, in the SQL that SQLite and PostgreSQL
both speak, each in the part that owns its tables (``sql_accounts``, ``sql_numbers``,
``sql_sessions``, ``sql_calls``, ``sql_messages``, ``sql_outbox``,
``sql_console``). A backend supplies the driver
(``Db``), how a unit of work is made atomic and durable (``transact``), and the row-locking clauses PostgreSQL
needs when several processes share the database (``LOCK``, ``SKIP_LOCKED``; empty on SQLite,
whose writers take turns).

A unit of work that must span parts takes the other part's statement within its own
transaction (``SqlOutbox.enqueue``, for one): the parts share the database, never a copy of
each other's SQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from maskline.store.db import Db
from maskline.store.sql_accounts import SqlAccounts
from maskline.store.sql_calls import SqlCalls
from maskline.store.sql_console import SqlConsole
from maskline.store.sql_messages import SqlMessages
from maskline.store.sql_numbers import SqlNumbers
from maskline.store.sql_outbox import SqlOutbox
from maskline.store.sql_sessions import SqlSessions

T = TypeVar("T")


class SqlStore:
    LOCK = ""  # locks the rows a SELECT reads until the transaction ends
    SKIP_LOCKED = ""  # ... passing over rows another transaction has locked
    JOIN_TEXT = "group_concat"  # the aggregate that joins text values with a separator
    SHARE = ""  # locks the rows a SELECT reads against change (not against other SHAREs)

    def __init__(self, read: Db, report: Db | None = None) -> None:
        self.read = read  # for reads outside a unit of work
        self.report = report or read  # for long ones (``Backend.report``)
        self.accounts = SqlAccounts(self)
        self.numbers = SqlNumbers(self)
        self.outbox = SqlOutbox(self)
        self.calls = SqlCalls(self, self.outbox)
        self.messages = SqlMessages(self, self.outbox)
        self.console = SqlConsole(self)
        self.sessions = SqlSessions(self, self.calls, self.outbox, self.messages, self.console)

    async def transact(self, work: Callable[[Db], Awaitable[T]]) -> T:
        """Run ``work`` as one atomic unit and return its result once it is durable."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def vital_signs(self, now: int) -> tuple[int, int]:
        """Live sessions and events waiting for delivery; a failure means the database is down."""
        row = await self.read.fetchrow(
            "SELECT (SELECT COUNT(*) FROM sessions WHERE expiry > ?),"
            " (SELECT COUNT(*) FROM events WHERE pending)",
            now,
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def ping(self) -> None:
        await self.read.fetchrow("SELECT 1")
