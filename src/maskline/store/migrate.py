"""Schema migrations (Alembic, in ``migrations/``) and the check that a database is up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA_REVISION = "0012"  # the head of migrations/versions (a test keeps the two in step)


class OutdatedSchema(RuntimeError):
    """The database's schema is not the one this maskline needs; the message says what to do."""


def require_revision(found: str | None) -> None:
    if found == SCHEMA_REVISION:
        return
    if found is None:
        what = "has no maskline schema yet"
    else:
        what = f"is at schema revision {found}, and this maskline needs revision {SCHEMA_REVISION}"
    raise OutdatedSchema(f"the database {what}: run `maskline db upgrade` (with the same database URL) first")


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["url"] = url
    return config


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (safe to run again, or concurrently)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
