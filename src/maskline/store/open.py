"""Open the store a database URL names."""

from __future__ import annotations

from maskline.domain.ports import Store
from maskline.store.sqlite import SQLiteStore


class UnsupportedDatabase(ValueError):
    pass


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` for an absolute one)."""
    prefix = "sqlite:///"
    return url[len(prefix) :] if url.startswith(prefix) and len(url) > len(prefix) else None


async def open_store(url: str) -> Store:
    path = sqlite_path(url)
    if path is None:
        raise UnsupportedDatabase(
            f"unsupported database URL {url!r}: use sqlite:///PATH (for example sqlite:///./maskline.db)"
        )
    return SQLiteStore.open(path)
