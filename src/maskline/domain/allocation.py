"""Virtual-number allocation: which keys a session holds on its number, and which number to try.

A session holds one *key* per party on its virtual number, plus ``*`` for an open single-party
session (it catches every unknown caller, so one per number) and ``pin:<digits>`` per PIN (an
unknown caller's PIN must name one session on the number). The database refuses a second held
row for the same (key, number): that unique index is the guard; this module only proposes.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from maskline.domain.params import SessionSettings

WILDCARD = "*"
# How long after a session ends its parties' late calls are guarded: quarantine weighs the
# numbers a party left this recently (docs/allocation.md, "Late calls").
LATE_CALL_HORIZON = 86400
# ... and of those, a party's most recent this many: what a create reads stays bounded however
# busy the party (one that leaves more within the horizon is kept off its latest 128 only).
RECENT_DEPARTURES = 128
# When quarantine must give a party a number it left lately, the late calls it weighs: at each
# delay after a departure at which docs/allocation.md counts misroutes, a call whose weight falls
# with the delay (a party is likelier to call back soon: 86400 / delay) ...
LATE_CALLS = ((600, 144), (3600, 24), (21600, 4), (86400, 1))
# ... each by how many of the account's most recent ended sessions lasted past it; with fewer than
# LENGTHS_NEEDED of them, every session is taken to last past every one.
LENGTHS_READ = 64
LENGTHS_NEEDED = 8


class Policy(enum.StrEnum):
    FIRST_FIT = "first_fit"  # lowest-ranked free number: packs the pool
    LEAST_RECENT = "least_recent"  # the free number given out longest ago: spreads reuse
    QUARANTINE = "quarantine"  # the first free number the parties have not left lately


class CooloffScope(enum.StrEnum):
    PER_PARTY = "per_party"  # an ended session's number is held back from its own parties
    GLOBAL = "global"  # ... from every new session


class Move(enum.StrEnum):
    """What became of a live session that was to leave its number (a replacement)."""

    MOVED = "moved"  # it is on another number of its pool, and still holds the old one's keys
    STUCK = "stuck"  # no number of the pool takes it: it stays where it is
    GONE = "gone"  # it had ended, or left the number, meanwhile


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


def candidates(
    pool: Sequence[PoolNumber],
    blocked: Collection[str],
    policy: Policy,
    recent: Collection[str] = (),
) -> Iterator[str]:
    """Numbers of the pool (given in rank order) that are not blocked, best first.

    Any free number keeps the greedy guarantee: with 2Δ−1 numbers some number is always free.
    First-fit is lazy, so its cost grows with the blocked numbers it skips, not with the pool.

    Quarantine takes the first free number that the new session's parties have not left lately
    (``recent``: the numbers each of them left within ``LATE_CALL_HORIZON``, its
    ``RECENT_DEPARTURES`` most recent), so that a late call to an old number does not reach a
    new counterpart; its cost grows with the numbers it skips, first-fit's plus the recent
    ones. Only when they left every free number lately does it come to ``fewest_late_calls``.
    """
    if policy is Policy.LEAST_RECENT:
        pool = sorted(pool, key=lambda n: n.last_used)  # stable: ties keep rank order
    if policy is Policy.QUARANTINE and recent:
        return (n.number for n in pool if n.number not in blocked and n.number not in recent)
    return (n.number for n in pool if n.number not in blocked)


def fewest_late_calls(
    pool: Sequence[PoolNumber],
    blocked: Collection[str],
    left: Mapping[str, Collection[int]],
    lengths: Collection[int],
    now: int,
) -> list[str]:
    """Quarantine's last resort: the free numbers the parties left lately (``left``: number → when
    they left it, each time), the fewest late calls a session placed there now would take first.

    A departure's late call at ``delay`` (``LATE_CALLS``) is taken if the new session is still
    live then, so each weighs as many of ``lengths`` (how long the account's recent sessions
    lasted) as go past it: a number whose late calls still ahead all come after sessions end
    costs nothing, and where sessions last for days the one left longest ago comes first. Ties:
    the number left longest ago, then rank. Integers throughout, so that the simulator and both
    stores order alike."""
    ordered = sorted(lengths)
    count = len(ordered)
    known = count >= LENGTHS_NEEDED
    longest = ordered[-1] if known else 0
    weighed: dict[str, tuple[int, int]] = {}  # number: (its late calls, when it was last left)
    for number, ends in left.items():
        if number in blocked:
            continue
        calls = 0
        for end in ends:
            for delay, weight in LATE_CALLS:
                ahead = end + delay - now  # from now until that late call
                if ahead <= 0:
                    continue
                if not known:
                    calls += weight
                elif ahead < longest:
                    calls += weight * (count - bisect_right(ordered, ahead))
        weighed[number] = (calls, max(ends))
    free = [n.number for n in pool if n.number in weighed]
    free.sort(key=weighed.__getitem__)  # stable: ties keep rank order
    return free
