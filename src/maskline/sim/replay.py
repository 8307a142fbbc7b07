"""Replaying a trace through an allocation policy, in memory, with the server's rules.

A session holds its two parties on its number from its start until its end plus, per party, its
cool-off (globally: until its end, and then the number is frozen for everyone during the
cool-off), exactly as the store's allocation guard does. The order in which free numbers are
tried comes from ``maskline.domain.allocation.candidates`` for the server's policies.
"""

from __future__ import annotations

import heapq
import random
import statistics
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain

from maskline.domain.allocation import (
    LATE_CALL_HORIZON,
    LENGTHS_READ,
    RECENT_DEPARTURES,
    CooloffScope,
    Policy,
    PoolNumber,
    candidates,
    fewest_late_calls,
)
from maskline.sim.trace import Trace, TraceSession, max_degree, pools


@dataclass
class State:
    """What a policy may look at: the pool in rank order, when each party last left each number
    and how long the pool's most recent ended sessions lasted (the store reads the account's: an
    account geomatch splits by country is one pool here per country). A number's name is its
    rank, from "1"."""

    pool: list[PoolNumber]
    last_left: dict[tuple[str, str], int] = field(default_factory=dict)  # (party, number): end
    # party: {(end, number)} of the holds it has been released from, as the store's departures
    departed: defaultdict[str, set[tuple[int, str]]] = field(default_factory=lambda: defaultdict(set))
    load: dict[str, int] = field(default_factory=dict)  # number: its live sessions
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    frozen: set[str] = field(default_factory=set)  # numbers in a global cool-off now
    # as the store reads them: of the sessions ended by now, the last by (end, creation)
    lengths: deque[int] = field(default_factory=lambda: deque(maxlen=LENGTHS_READ))


Order = Callable[[State, set[str], TraceSession], Iterator[str]]  # free numbers, best first


def _server(policy: Policy) -> Order:
    def order(state: State, blocked: set[str], session: TraceSession) -> Iterator[str]:
        # As the store does: the parties' holds shape the order, frozen numbers are skipped after.
        held = blocked - state.frozen
        recent: dict[str, list[int]] = defaultdict(list)  # what the store reads: number → departures
        if policy is Policy.QUARANTINE:
            since = session.start - LATE_CALL_HORIZON
            for party in (session.first, session.second):
                mine = state.departed[party]
                if len(mine) > 4 * RECENT_DEPARTURES:  # what the horizon has passed is never read again
                    mine = state.departed[party] = {left for left in mine if left[0] > since}
                lately = (left for left in mine if left[0] > since)
                for end, number in heapq.nlargest(RECENT_DEPARTURES, lately):
                    recent[number].append(end)
        tried = chain(
            candidates(state.pool, held, policy, recent),
            _lazily(
                lambda: (
                    fewest_late_calls(state.pool, held, recent, state.lengths, session.start)
                    if recent
                    else []
                )
            ),
        )
        return (n for n in tried if n not in state.frozen)

    return order


def _random(state: State, blocked: set[str], session: TraceSession) -> Iterator[str]:
    free = [n.number for n in state.pool if n.number not in blocked]
    state.rng.shuffle(free)
    return iter(free)


def _best_fit(state: State, blocked: set[str], session: TraceSession) -> Iterator[str]:
    """The free number that already carries the most live sessions: packs like first-fit, but
    by how full a number is rather than by its rank."""
    free = [n for n in state.pool if n.number not in blocked]
    free.sort(key=lambda n: (-state.load.get(n.number, 0), n.rank))
    return (n.number for n in free)


def _lazily(make: Callable[[], list[str]]) -> Iterator[str]:
    yield from make()


POLICIES: dict[str, Order] = {
    "first_fit": _server(Policy.FIRST_FIT),
    "least_recent": _server(Policy.LEAST_RECENT),
    "random": _random,
    "best_fit": _best_fit,
    "quarantine": _server(Policy.QUARANTINE),
}


@dataclass
class Outcome:
    placed: int = 0
    refused: int = 0
    highest: int = 0  # the highest rank given out
    numbers: list[str | None] = field(default_factory=list)  # per session in start order; None: refused
    gaps: list[float] = field(default_factory=list)  # per party placed on a number it used before


def replay(
    trace: Sequence[TraceSession],
    size: int,
    order: Order,
    scope: CooloffScope = CooloffScope.PER_PARTY,
    seed: int = 0,
) -> Outcome:
    """Allocate every session of ``trace`` (one pool) from ``size`` numbers, in start order."""
    never = -(2**62)  # before any time of the trace: as a number never given out is on the server
    state = State(
        [PoolNumber(str(rank), rank, never) for rank in range(1, size + 1)], rng=random.Random(seed)
    )
    holds: dict[str, dict[str, int]] = defaultdict(dict)  # party: {number: held until}
    frozen: dict[str, list[tuple[int, int]]] = defaultdict(list)  # global cool-off windows
    ended: list[tuple[int, int, str, str, str, int]] = []  # (end, tie, party, party, number, start): a heap
    # (held until, tie, party, party, number, end): a heap of the holds to release, as the store does
    releasing: list[tuple[int, int, str, str, str, int]] = []
    outcome = Outcome()
    for tie, session in enumerate(sorted(trace, key=lambda s: s.start)):
        now = session.start
        while ended and ended[0][0] <= now:
            end, _, a, b, number, start = heapq.heappop(ended)
            state.last_left[a, number] = state.last_left[b, number] = end
            state.lengths.append(end - start)
            state.load[number] -= 1
        while releasing and releasing[0][0] <= now:
            _, _, a, b, number, end = heapq.heappop(releasing)
            for party in (a, b):
                state.departed[party].add((end, number))
        blocked = set()
        for party in (session.first, session.second):
            mine = holds[party]
            for number, until in list(mine.items()):
                if until > now:
                    blocked.add(number)
                else:
                    del mine[number]
        if scope is CooloffScope.GLOBAL:
            state.frozen.clear()
            for number, windows in list(frozen.items()):
                windows[:] = [w for w in windows if w[1] > now]
                if any(start <= now for start, _ in windows):
                    state.frozen.add(number)
                if not windows:
                    del frozen[number]
            blocked |= state.frozen
        chosen = next(order(state, blocked, session), None)
        outcome.numbers.append(chosen)
        if chosen is None:
            outcome.refused += 1
            continue
        outcome.placed += 1
        rank = int(chosen)
        outcome.highest = max(outcome.highest, rank)
        for party in (session.first, session.second):
            left = state.last_left.get((party, chosen))
            if left is not None:
                outcome.gaps.append(now - left)
        until = session.end + (session.cooloff if scope is CooloffScope.PER_PARTY else 0)
        holds[session.first][chosen] = holds[session.second][chosen] = until
        if scope is CooloffScope.GLOBAL and session.cooloff:
            frozen[chosen].append((session.end, session.end + session.cooloff))
        state.pool[rank - 1] = replace(state.pool[rank - 1], last_used=now)
        state.load[chosen] = state.load.get(chosen, 0) + 1
        heapq.heappush(ended, (session.end, tie, session.first, session.second, chosen, session.start))
        heapq.heappush(releasing, (until, tie, session.first, session.second, chosen, session.end))
    return outcome


@dataclass(frozen=True)
class Sizing:
    delta: int  # the most live sessions of one party
    delta_held: int  # ... counting per-party cool-off holds
    k_star: int  # the smallest pool with no refusal (median over seeds for random policies)

    @property
    def bound(self) -> int:
        """2Δ−1 over the degree the allocator must respect: any free-number policy fits in it."""
        return 2 * self.delta_held - 1


def k_star(
    trace: Sequence[TraceSession],
    order: Order,
    scope: CooloffScope = CooloffScope.PER_PARTY,
    seeds: Sequence[int] = (0,),
) -> Sizing:
    """K* of one pool: the smallest pool size with zero refusals, by replay and bisection between
    Δ_held and 2Δ_held−1 (or beyond, for a global cool-off, which has no such bound). Bisection
    assumes that a larger pool never refuses more; the median over ``seeds`` is reported."""
    sessions = list(trace)
    delta = max_degree(sessions)
    held = max_degree(sessions, held=scope is CooloffScope.PER_PARTY)
    if order is POLICIES["first_fit"]:  # it takes a higher number only when all lower are taken
        top = max(2 * held - 1, 1)
        outcome = replay(trace, top, order, scope)
        while outcome.refused:  # a global cool-off has no 2Δ−1 bound
            top *= 2
            outcome = replay(trace, top, order, scope)
        return Sizing(delta, held, outcome.highest)
    found = []
    for seed in seeds:

        def fits(size: int, seed: int = seed) -> bool:
            return replay(trace, size, order, scope, seed).refused == 0

        low, high = held, max(2 * held - 1, 1)
        while not fits(high):
            low, high = high + 1, high * 2
        while low < high:
            middle = (low + high) // 2
            if fits(middle):
                high = middle
            else:
                low = middle + 1
        found.append(high)
    return Sizing(delta, held, int(statistics.median_low(found)))


def trace_sizing(trace: Trace, order: Order, scope: CooloffScope, seeds: Sequence[int] = (0,)) -> Sizing:
    """K* of a whole trace: the sum over its pools (each pool is its own instance)."""
    parts = [k_star(part, order, scope, seeds) for part in pools(trace).values()]
    return Sizing(sum(p.delta for p in parts), sum(p.delta_held for p in parts), sum(p.k_star for p in parts))
