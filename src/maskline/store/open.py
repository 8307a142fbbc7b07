"""Open the store a database URL names: ``sqlite:///PATH`` (embedded) or ``postgresql://…``."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from maskline.domain.ports import Store
from maskline.store.migrate import SCHEMA_REVISION, OutdatedSchema, require_revision, upgrade


class UnsupportedDatabase(ValueError):
    pass


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` for an absolute one)."""
    prefix = "sqlite:///"
    return url[len(prefix) :] if url.startswith(prefix) and len(url) > len(prefix) else None


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def check_url(url: str) -> None:
    path = sqlite_path(url)
    if path is None and not is_postgres(url):
        raise UnsupportedDatabase(
            f"unsupported database URL {url!r}: use sqlite:///PATH (for example sqlite:///./maskline.db)"
            " or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if path is not None and not Path(path).parent.is_dir():
        raise UnsupportedDatabase(
            f"cannot open the database {path}: the folder {Path(path).parent} does not exist"
        )


def sqlite_revision(path: str) -> str | None:
    """The schema revision of the SQLite database at ``path``; None for a new database."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" in tables:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
            return None if row is None else str(row[0])
    if tables:
        raise OutdatedSchema(
            f"the database {path} was made before maskline had schema migrations: move it away"
            " and start on a new one"
        )
    return None


async def open_store(url: str, pool_size: int = 10, timeout: float = 5.0, durable: bool = True) -> Store:
    """The store at ``url``. An embedded database is brought up to date first; PostgreSQL is
    shared with other processes and hosts, so its schema is upgraded only on purpose
    (``maskline db upgrade``) and an outdated one is refused. ``timeout``: seconds to wait for
    a PostgreSQL connection. ``durable`` (embedded only): commits reach the disk before they
    return (PostgreSQL's own settings decide for it)."""
    check_url(url)
    path = sqlite_path(url)
    if path is not None:
        from maskline.store.sqlite import SQLiteStore

        if sqlite_revision(path) != SCHEMA_REVISION:
            upgrade(url)
        require_revision(sqlite_revision(path))
        return SQLiteStore.open(path, durable)
    from maskline.store.postgres import PostgresStore

    return await PostgresStore.open(url, pool_size, timeout)
