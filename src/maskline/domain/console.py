"""The operator console's rules that need no I/O: when a console sign-in is still good, and
what became of an event sent to a callback URL (docs/console.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConsoleLogin:
    """A signed-in browser, as the store keeps it: the hash of the token its cookie carries, never
    the token itself."""

    token_hash: str
    auth_id: str
    csrf_token: str
    created: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a console sign-in lasts: ``idle`` seconds without a request, and ``absolute``
    seconds after signing in whatever happens."""

    idle: int = 30 * 60
    absolute: int = 12 * 3600


def still_good(login: ConsoleLogin, now: int, lifetimes: Lifetimes) -> bool:
    """Whether a sign-in may still be used at ``now``."""
    return now - login.last_seen < lifetimes.idle and now - login.created < lifetimes.absolute


# A sign-in's last_seen is written again only once it is this old, so that pages read in a
# burst cost one write, not one each; idle expiry is thereby early by at most this much.
TOUCH_EVERY = 60


REVEALABLE = ("first_party", "second_party", "virtual_number")  # what a reveal may name
