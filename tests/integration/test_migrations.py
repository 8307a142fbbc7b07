"""Migrations: they build the schema the code declares, and each backend meets them as it should."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from maskline.store.migrate import SCHEMA_REVISION, alembic_config
from maskline.store.open import sqlite_path
from maskline.store.schema import metadata
from tests.databases import Databases, execute, query
from tests.support import ServerProcess, maskline


def differences(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    if sqlite_path(url) is not None:
        with create_engine(url).connect() as connection:
            return compare(connection)

    async def on_postgres() -> list[object]:
        engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(on_postgres())


def test_the_code_knows_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == SCHEMA_REVISION


def test_migrations_build_the_declared_schema(database: str) -> None:
    assert differences(database) == []
    assert query(database, "SELECT version_num FROM alembic_version") == [(SCHEMA_REVISION,)]
    assert sorted(query(database, "SELECT name, value FROM counters")) == [("numbers", 0), ("swept_until", 0)]


def test_upgrade_is_idempotent(database: str) -> None:
    maskline("db", "upgrade", database=database)
    assert maskline("db", "upgrade", database=database).stdout.strip() == (
        "maskline: the database schema is up to date"
    )
    assert differences(database) == []


def test_embedded_database_migrates_itself_and_postgres_waits_for_the_operator(databases: Databases) -> None:
    url = databases.new(migrated=False)
    if databases.backend == "sqlite":
        created = maskline("account", "create", database=url)
        assert "auth_token" in created.stdout
        assert differences(url) == []
        return
    refused = maskline("account", "create", database=url, check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        "maskline: the database has no maskline schema yet: run `maskline db upgrade`"
        " (with the same database URL) first"
    )
    with pytest.raises(RuntimeError, match="did not start"):
        ServerProcess(url)
    maskline("db", "upgrade", database=url)
    assert "auth_token" in maskline("account", "create", database=url).stdout


def test_postgres_at_another_revision_is_refused(databases: Databases) -> None:
    if databases.backend == "sqlite":
        pytest.skip("an embedded database is migrated on start, never refused")
    url = databases.new()
    asyncio.run(execute(url, "UPDATE alembic_version SET version_num = '0000'"))
    refused = maskline("number", "list", "--account", "MA" + "0" * 18, database=url, check=False)
    assert refused.returncode == 1
    assert "is at schema revision 0000, and this maskline needs revision " + SCHEMA_REVISION in refused.stderr
    assert "run `maskline db upgrade`" in refused.stderr


def test_sqlite_serves_one_process_only(databases: Databases) -> None:
    if databases.backend == "postgres":
        pytest.skip("PostgreSQL serves many processes")
    url = databases.new()
    refused = maskline("serve", "--workers", "2", database=url, check=False)
    assert refused.returncode == 1 and "serves one process" in refused.stderr


def test_an_sqlite_database_from_before_migrations_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE accounts (auth_id TEXT PRIMARY KEY)")
    refused = maskline("account", "create", database=f"sqlite:///{path}", check=False)
    assert refused.returncode == 1
    assert "was made before maskline had schema migrations: move it away" in refused.stderr


def write(url: str, *statements: str) -> None:
    path = sqlite_path(url)
    if path is None:
        asyncio.run(execute(url, *statements))
        return
    with contextlib.closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


def test_revision_0004_moves_held_rows_to_holds_and_the_rest_to_departures(databases: Databases) -> None:
    from alembic import command

    url = databases.new(migrated=False)
    command.upgrade(alembic_config(url), "0003")
    session = (
        "INSERT INTO sessions (id, uuid, account_id, main_id, first_party, second_party, virtual_number,"
        " created, modified, expiry, cooloff_until, calls_live, total_call_count,"
        " total_call_billed_duration, settings) VALUES"
        " ({0}, 'uuid-{0}', 'MA1', 'MA1', '+1415', '+1628', '+1650', 0, 0, {1}, {1}, 0, 0, 0, '{{}}')"
    )
    write(
        url,
        "INSERT INTO accounts (auth_id, token_hash, created) VALUES ('MA1', 'x', 0)",
        session.format(1, 100),
        session.format(2, 200),
        session.format(3, 900),
        "INSERT INTO allocations (session_id, party, virtual_number, held, ends_at, hold_until) VALUES"
        " (1, '+1415', '+1650', FALSE, 100, 100), (1, '+1628', '+1650', FALSE, 100, 100),"
        " (2, '+1415', '+1650', FALSE, 200, 200), (3, '+1415', '+1650', TRUE, 900, 1500),"
        " (3, '+1628', '+1650', TRUE, 900, 1500)",
    )
    command.upgrade(alembic_config(url), "head")
    assert differences(url) == []
    assert sorted(query(url, "SELECT party, virtual_number, session_id, ends_at, hold_until FROM holds")) == [
        ("+1415", "+1650", 3, 900, 1500),
        ("+1628", "+1650", 3, 900, 1500),
    ]
    assert sorted(query(url, "SELECT party, virtual_number, ends_at FROM departures")) == [
        ("+1415", "+1650", 200),  # the latest time the party left the number
        ("+1628", "+1650", 100),
    ]
    command.downgrade(alembic_config(url), "0003")
    assert sorted(query(url, "SELECT session_id, party, held, hold_until FROM allocations")) == [
        (3, "+1415", True, 1500),
        (3, "+1628", True, 1500),
    ]


def test_db_upgrade_reads_the_url_as_the_server_does(databases: Databases) -> None:
    """``?sslmode=…`` and the other libpq parameters of the URL reach ``db upgrade`` as they reach
    ``serve``: SQLAlchemy handed them to asyncpg as keyword arguments, and ``sslmode`` is none."""
    if databases.backend == "sqlite":
        pytest.skip("the URL parameters are PostgreSQL's")
    plain = databases.new(migrated=False)
    url = plain + ("&" if "?" in plain else "?") + "sslmode=disable&application_name=maskline-upgrade"
    upgraded = maskline("db", "upgrade", database=url, check=False)
    assert upgraded.returncode == 0, upgraded.stderr
    assert differences(plain) == []
    # A URL asking for a verified TLS connection is held to it (the test server has no TLS).
    other = databases.new(migrated=False)
    verified = other + ("&" if "?" in other else "?") + "sslmode=verify-full&sslrootcert=/none/root.crt"
    refused = maskline("db", "upgrade", database=verified, check=False)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and "unexpected keyword" not in refused.stderr


def test_revision_0006_gives_existing_calls_no_end_cause(databases: Databases) -> None:
    from alembic import command

    url = databases.new(migrated=False)
    command.upgrade(alembic_config(url), "0005")
    write(
        url,
        "INSERT INTO calls (account_id, call_id, virtual_number, caller, state, started)"
        " VALUES ('MA1', 'c1', '+1650', '+1415', 'ended', 100)",
    )
    command.upgrade(alembic_config(url), "head")
    assert differences(url) == []
    assert query(url, "SELECT call_id, b_cause FROM calls") == [("c1", "")]
    command.downgrade(alembic_config(url), "0005")
    assert query(url, "SELECT call_id FROM calls") == [("c1",)]


def test_revision_0009_keeps_every_departure_and_going_back_the_latest(databases: Databases) -> None:
    from alembic import command

    url = databases.new(migrated=False)
    command.upgrade(alembic_config(url), "0008")
    write(
        url,
        "INSERT INTO departures (party, virtual_number, ends_at) VALUES"
        " ('+1415', '+1650', 200), ('+1415', '+1651', 300), ('+1628', '+1650', 100)",
    )
    command.upgrade(alembic_config(url), "head")
    assert differences(url) == []
    write(url, "INSERT INTO departures (party, virtual_number, ends_at) VALUES ('+1415', '+1650', 400)")
    assert sorted(query(url, "SELECT party, ends_at, virtual_number FROM departures")) == [
        ("+1415", 200, "+1650"),
        ("+1415", 300, "+1651"),
        ("+1415", 400, "+1650"),  # the party left the number again: a row of its own
        ("+1628", 100, "+1650"),
    ]
    command.downgrade(alembic_config(url), "0008")
    assert sorted(query(url, "SELECT party, virtual_number, ends_at FROM departures")) == [
        ("+1415", "+1650", 400),  # the latest time the party left the number
        ("+1415", "+1651", 300),
        ("+1628", "+1650", 100),
    ]
    command.upgrade(alembic_config(url), "head")
    assert differences(url) == []
