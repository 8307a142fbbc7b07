"""Seeded workload generators: realistic two-sided traffic and adversarial traces.

Every generator takes a seed and returns a trace (sessions in start order); the same seed always
gives the same trace. Times are seconds from 0.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from itertools import count

from maskline.sim.trace import Trace, TraceSession

MINUTE, HOUR, DAY = 60, 3600, 86400


def _parties(prefix: str) -> Callable[[int], str]:
    return lambda n: f"{prefix}{n:07d}"


def ride_hailing(seed: int, drivers: int = 200, hours: int = 8, pool: str = "default") -> Trace:
    """Drivers give rides one after another; each ride's session stays open for the ride plus a
    1–4 h tail (lost items, ratings), so a driver holds several sessions at once. Riders are
    drawn from a large population, now and then the same rider again."""
    rng = random.Random(seed)
    driver, rider = _parties(f"+1415{pool[:2]}"), _parties(f"+1628{pool[:2]}")
    riders = drivers * 40
    trace = []
    for d in range(drivers):
        t = rng.uniform(0, HOUR)
        while t < hours * HOUR:
            ride = rng.uniform(10, 40) * MINUTE
            tail = rng.uniform(1, 4) * HOUR
            trace.append(
                TraceSession(int(t), int(t + ride + tail), driver(d), rider(rng.randrange(riders)), pool=pool)
            )
            t += ride + rng.uniform(2, 15) * MINUTE
    return sorted(trace, key=lambda s: s.start)


def food_delivery(seed: int, couriers: int = 150, hours: int = 8) -> Trace:
    """Couriers carry batches of 2–3 orders at once; each order's session lasts about an hour;
    customers order once."""
    rng = random.Random(seed)
    courier, customer = _parties("+1415300"), _parties("+1628300")
    customers = count()
    trace = []
    for c in range(couriers):
        t = rng.uniform(0, HOUR)
        while t < hours * HOUR:
            for _ in range(rng.choice((2, 2, 3))):
                start = t + rng.uniform(0, 5) * MINUTE
                length = rng.uniform(40, 80) * MINUTE
                trace.append(
                    TraceSession(int(start), int(start + length), courier(c), customer(next(customers)))
                )
            t += rng.uniform(25, 45) * MINUTE
    return sorted(trace, key=lambda s: s.start)


def agents_customers(seed: int, delta: int = 100, agents: int = 10, days: int = 4) -> Trace:
    """Agents (a call centre, brokers) each keep about ``delta`` customer sessions open, renewed
    for days; when one closes, another of the agent's customers takes the slot. Each customer
    deals with 1–3 agents (docs/allocation.md, "The simulator")."""
    rng = random.Random(seed)
    agent, customer = _parties("+1415400"), _parties("+1628400")
    book: list[list[int]] = [[] for _ in range(agents)]  # each agent's customers
    for c in range(agents * delta * 2):
        for a in rng.sample(range(agents), min(agents, rng.choice((1, 1, 1, 2, 2, 3)))):
            book[a].append(c)
    trace = []
    for a in range(agents):
        for _ in range(delta):
            t = rng.uniform(0, 6 * HOUR)
            while t < days * DAY:
                length = rng.uniform(0.5, 3) * DAY
                trace.append(TraceSession(int(t), int(t + length), agent(a), customer(rng.choice(book[a]))))
                t += length + rng.uniform(0, 2) * HOUR
    return sorted(trace, key=lambda s: s.start)


def marketplace(
    seed: int, sellers: int = 500, buyers: int = 2000, days: int = 7, alpha: float = 1.1
) -> Trace:
    """Buyers contact 1–5 sellers drawn by Zipf popularity; a conversation stays open 1–3 days."""
    rng = random.Random(seed)
    seller, buyer = _parties("+1415500"), _parties("+1628500")
    weights = [1 / (rank**alpha) for rank in range(1, sellers + 1)]
    trace = []
    for b in range(buyers):
        start = rng.uniform(0, days * DAY)
        chosen = set(rng.choices(range(sellers), weights, k=rng.randint(1, 5)))
        for s in chosen:
            t = start + rng.uniform(0, 6) * HOUR
            trace.append(TraceSession(int(t), int(t + rng.uniform(1, 3) * DAY), seller(s), buyer(b)))
    return sorted(trace, key=lambda s: s.start)


def geo_split(seed: int, countries: tuple[str, ...] = ("US", "GB", "IN", "BR"), drivers: int = 80) -> Trace:
    """Ride-hailing in several countries, each with its own pool (geomatch), plus a few
    cross-border rides that draw from the first party's country."""
    rng = random.Random(seed)
    trace: Trace = []
    for n, country in enumerate(countries):
        trace += ride_hailing(seed * 31 + n, drivers=drivers, pool=country)
    crossing = rng.sample(trace, len(trace) // 50)
    others = {c: [s for s in trace if s.pool == c] for c in countries}
    for session in crossing:
        abroad = rng.choice([c for c in countries if c != session.pool])
        partner = rng.choice(others[abroad]).second
        trace.append(replace(session, second=partner, start=session.start + 1, end=session.end + 1))
    return sorted(trace, key=lambda s: s.start)


def first_fit_trap(delta: int, start: int = 0) -> Trace:
    """A bipartite tree on which first-fit needs number 2Δ−1, where Δ would do offline
    (docs/allocation.md, "The first-fit trap")."""
    leaf = _parties(f"+16285{delta:02d}")
    leaves = count()
    trace: Trace = []
    t = count(start)

    def session(a: str, b: str) -> None:
        now = next(t)
        trace.append(TraceSession(now, now + 10 * DAY, a, b))

    u, v = f"+14156{delta:02d}0001", f"+14156{delta:02d}0002"
    hubs = [f"+14156{delta:02d}{1000 + i:04d}" for i in range(delta - 1)]
    for _ in range(delta - 1):
        session(u, leaf(next(leaves)))
    for w in hubs:
        for _ in range(delta - 1):
            session(w, leaf(next(leaves)))
    for w in hubs:
        session(v, w)
    session(u, v)
    return trace


REALISTIC: dict[str, Callable[[int], Trace]] = {
    "ride-hailing": ride_hailing,
    "food-delivery": food_delivery,
    "agents-20": lambda seed: agents_customers(seed, delta=20, agents=20),
    "agents-100": lambda seed: agents_customers(seed, delta=100, agents=8),
    "agents-500": lambda seed: agents_customers(seed, delta=500, agents=3, days=3),
    "marketplace": marketplace,
    "geo-split": geo_split,
}


# Ten times the traffic of the realistic ones: how the figures change with scale alone.
LARGE: dict[str, Callable[[int], Trace]] = {
    "ride-hailing-10x": lambda seed: ride_hailing(seed, drivers=2000),
    "food-delivery-10x": lambda seed: food_delivery(seed, couriers=1500),
}


# Small enough for the exact optimum (a few dozen to a few hundred sessions).
SMALL: dict[str, Callable[[int], Trace]] = {
    "ride-hailing-small": lambda seed: ride_hailing(seed, drivers=6, hours=4),
    "food-delivery-small": lambda seed: food_delivery(seed, couriers=5, hours=3),
    "agents-small": lambda seed: agents_customers(seed, delta=8, agents=3, days=2),
    "marketplace-small": lambda seed: marketplace(seed, sellers=20, buyers=40, days=3),
}


def _trap(delta: int) -> Callable[[int], Trace]:
    return lambda seed: first_fit_trap(delta)  # the same whatever the seed


ADVERSARIAL: dict[str, Callable[[int], Trace]] = {f"trap-{d}": _trap(d) for d in (3, 5, 10)}
