"""Virtual-number allocation: which keys a session holds on its number, and which number to try.

A session holds one *key* per party on its virtual number, plus ``*`` for an open single-party
session (it catches every unknown caller, so one per number) and ``pin:<digits>`` per PIN (an
unknown caller's PIN must name one session on the number). The database refuses a second held
row for the same (key, number): that unique index is the guard; this module only proposes.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice

from maskline.domain.params import SessionSettings

WILDCARD = "*"
QUARANTINE_WINDOW = 64  # how many of the first free numbers quarantine chooses among


class Policy(enum.StrEnum):
    FIRST_FIT = "first_fit"  # lowest-ranked free number: packs the pool
    LEAST_RECENT = "least_recent"  # the free number given out longest ago: spreads reuse
    QUARANTINE = "quarantine"  # of the first free numbers, the one the parties left longest ago


class CooloffScope(enum.StrEnum):
    PER_PARTY = "per_party"  # an ended session's number is held back from its own parties
    GLOBAL = "global"  # ... from every new session


@dataclass(frozen=True, slots=True)
class PoolNumber:
    number: str
    rank: int
    last_used: int


@dataclass(frozen=True, slots=True)
class Claim:
    """What a new session needs from the pool."""

    pool_id: str
    country: str | None  # None: any country (geomatch off)
    keys: tuple[str, ...]
    hold_until: int
    policy: Policy
    scope: CooloffScope

    @property
    def quiet(self) -> bool:
        """An open single-party session must not land on a number with a cooling session:
        that session's parties, now unknown callers on the number, would reach it."""
        return WILDCARD in self.keys


def pin_key(pin: str) -> str:
    return "pin:" + pin


def session_keys(first: str, second: str, settings: SessionSettings) -> tuple[str, ...]:
    keys = [p for p in (first, second) if p]
    if settings.is_pin_authentication_required:
        keys += [pin_key(p) for p in (settings.first_party_pin, settings.second_party_pin) if p]
    elif len(keys) == 1:
        keys.append(WILDCARD)
    return tuple(keys)


def hold_until(expiry: int, cooloff: int, scope: CooloffScope) -> int:
    """Until when a session's keys stay held: its end plus, per party, its cool-off."""
    return expiry + cooloff if scope is CooloffScope.PER_PARTY else expiry


def party_keys(keys: Sequence[str]) -> list[str]:
    """The keys that are parties (not ``*``, not PINs): whose past on a number quarantine weighs."""
    return [k for k in keys if k != WILDCARD and not k.startswith("pin:")]


def quarantine_window(pool: Sequence[PoolNumber], blocked: Collection[str]) -> list[str]:
    """The numbers quarantine chooses among: the first free ones in rank order."""
    return list(islice(candidates(pool, blocked, Policy.FIRST_FIT), QUARANTINE_WINDOW))


def candidates(
    pool: Sequence[PoolNumber],
    blocked: Collection[str],
    policy: Policy,
    left: Mapping[str, int] | None = None,
) -> Iterator[str]:
    """Numbers of the pool (given in rank order) that are not blocked, best first.

    Any free number keeps the greedy guarantee: with 2Δ−1 numbers some number is always free.
    First-fit is lazy, so its cost grows with the blocked numbers it skips, not with the pool.

    Quarantine takes, among the first ``QUARANTINE_WINDOW`` free numbers, the one that the new
    session's parties left longest ago or never (``left``: number → the last time one of them
    left it), so that a late call to an old number is least likely to reach a new counterpart;
    the window keeps it packing the pool like first-fit. With no slack the window holds one
    number and quarantine is first-fit.
    """
    if policy is Policy.LEAST_RECENT:
        pool = sorted(pool, key=lambda n: n.last_used)  # stable: ties keep rank order
    free = (n.number for n in pool if n.number not in blocked)
    if policy is Policy.QUARANTINE:
        window = list(islice(free, QUARANTINE_WINDOW))
        known = left or {}
        window.sort(key=lambda number: known.get(number, -(2**63)))  # stable: ties keep rank order
        return chain(window, free)
    return free
