"""The adapters implement the ports of ``maskline.domain.ports`` as they are declared (that the
service reaches the world through them alone is import-linter's contract, in pyproject.toml)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from maskline.domain import ports
from maskline.store.sql import SqlStore
from maskline.store.sql_accounts import SqlAccounts
from maskline.store.sql_calls import SqlCalls
from maskline.store.sql_console import SqlConsole
from maskline.store.sql_messages import SqlMessages
from maskline.store.sql_numbers import SqlNumbers
from maskline.store.sql_outbox import SqlOutbox
from maskline.store.sql_sessions import SqlSessions
from maskline.telemetry import ServiceCounters


def _methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


@pytest.mark.parametrize(
    ("port", "adapter"),
    [
        (ports.AccountStore, SqlAccounts),
        (ports.NumberStore, SqlNumbers),
        (ports.SessionStore, SqlSessions),
        (ports.CallStore, SqlCalls),
        (ports.Outbox, SqlOutbox),
        (ports.MessageStore, SqlMessages),
        (ports.ConsoleStore, SqlConsole),
        (ports.Store, SqlStore),
    ],
    ids=lambda cls: cls.__name__,
)
def test_the_sql_parts_implement_the_store_ports_as_declared(port: type, adapter: type) -> None:
    for name, declared in _methods(port).items():
        implemented = getattr(adapter, name)
        assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(declared), name
        assert inspect.signature(implemented) == inspect.signature(declared), name


def test_the_store_is_composed_of_one_part_per_port() -> None:
    parts = {name for name, member in vars(ports.Store).items() if isinstance(member, property)}
    assert parts == {"accounts", "numbers", "sessions", "calls", "outbox", "messages", "console"}
    store = SqlStore(read=None)  # type: ignore[arg-type]  # its parts only: nothing is read
    kinds = {"accounts": SqlAccounts, "numbers": SqlNumbers, "sessions": SqlSessions}
    kinds |= {"calls": SqlCalls, "outbox": SqlOutbox, "messages": SqlMessages, "console": SqlConsole}
    assert {name: type(getattr(store, name)) for name in parts} == kinds


def test_the_telemetry_counts_what_the_service_counts() -> None:
    for name, declared in _methods(ports.Counters).items():
        implemented = getattr(ServiceCounters, name)
        assert list(inspect.signature(implemented).parameters) == list(
            inspect.signature(declared).parameters
        ), name
