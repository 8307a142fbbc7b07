"""Which CPUs a run's servers get and which its load client: apart, when there are two or more."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pinning:
    servers: set[int] | None  # None: not pinned
    client: set[int] | None
    text: str  # what the report says of it


def split(servers: str = "servers", client: str = "client") -> Pinning:
    """The servers on the first CPU available, the client on the others (``servers`` and
    ``client``: what the text calls them)."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return Pinning(None, None, "not pinned (one CPU available)")
    rest = ",".join(map(str, available[1:]))
    text = f"{servers} pinned to CPU {available[0]}, {client} to CPU {rest}"
    return Pinning({available[0]}, set(available[1:]), text)


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that runs a child process on ``cpus`` (None: anywhere)."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)
