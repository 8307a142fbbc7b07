"""Number health: which virtual numbers answer worse than the rest of their pool.

A number falls sick when a carrier drops it or callees' phones label it spam: the parties it
dials stop answering, or answer and hang up at once. Its own calls show it, against the other
numbers of its pool, which dial the same kind of parties: each number's answer rate (answered
among the dialled calls that ended) and short-call rate (under ``short_call`` seconds among the
answered) and carrier failure rate (dialled calls the carrier failed to connect, by their end
cause: ``carrier_failure``) are compared with those of the rest of its pool and country by a
one-sided Fisher's exact test, and a number is flagged when any is significantly worse, after the
Benjamini–Hochberg correction over all the tests of its pool, and worse by at least ``min_gap``.
A number with fewer than ``min_calls`` calls (or answered calls, for the short-call test), or a
pool whose other numbers have fewer, is not tested: it is never flagged.

Pure: the store counts the calls (``NumberCalls``), ``assess`` judges them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

WINDOW = 7 * 86400  # seconds of calls a number is judged on
MIN_CALLS = 30  # a number is tested on no fewer calls, and against no fewer from the rest of its pool
ALPHA = 0.01  # the false discovery rate of the flags of a pool (Benjamini–Hochberg)
SHORT_CALL = 10  # an answered call shorter than this (seconds) is short
MIN_GAP = 0.10  # a flagged rate is worse than the rest's by at least this much


# End causes that are the called party's doing, or no failure at all, rather than the carrier's
# failing to reach them: Plivo's cause names, Twilio's statuses, SIP final statuses (busy,
# unanswered, declined, cancelled, timed out, temporarily away). Any other cause is a failure.
_CALLEE_CAUSES = frozenset(
    {
        "", "NORMAL_CLEARING", "USER_BUSY", "NO_ANSWER", "NO_USER_RESPONSE", "CALL_REJECTED",
        "ORIGINATOR_CANCEL", "busy", "no-answer", "canceled", "completed",
        "486", "487", "408", "480", "600", "603",
    }
)  # fmt: skip


def carrier_failure(cause: str) -> bool:
    """Whether a dialled leg that ended with ``cause`` failed in the carrier's network (a number
    it no longer routes, a network error) rather than at the called party."""
    return cause not in _CALLEE_CAUSES


@dataclass(frozen=True, slots=True)
class HealthRules:
    """The thresholds of the judgement; the defaults are the constants above."""

    window: int = WINDOW
    min_calls: int = MIN_CALLS
    alpha: float = ALPHA
    short_call: int = SHORT_CALL
    min_gap: float = MIN_GAP


@dataclass(frozen=True, slots=True)
class NumberCalls:
    """What one number's calls in the window came to: the calls that reached the dialled party
    (routed to them, and ended), how many of those were answered, how many of the answered were
    short, and the unanswered ones by their end cause ("" when the carrier gave none)."""

    main_id: str
    pool: str
    country: str
    number: str
    dialled: int = 0
    answered: int = 0
    short: int = 0
    causes: Mapping[str, int] = field(default_factory=dict)

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.dialled if self.dialled else None

    @property
    def short_rate(self) -> float | None:
        return self.short / self.answered if self.answered else None

    @property
    def failed(self) -> int:
        """The unanswered calls whose end cause is the carrier's failure."""
        return sum(n for cause, n in self.causes.items() if carrier_failure(cause))

    @property
    def top_cause(self) -> str:
        """The commonest end cause of the unanswered calls (the first by name on a tie)."""
        named = sorted(self.causes.items(), key=lambda item: (-item[1], item[0]))
        return named[0][0] if named else ""


@dataclass(frozen=True, slots=True)
class NumberHealth:
    """A number's figures and the judgement on them: the p-value of each test made (None: too
    few calls to test), and ``flagged`` with what was found worse."""

    calls: NumberCalls
    answer_p: float | None = None
    short_p: float | None = None
    failure_p: float | None = None
    worse: tuple[str, ...] = ()  # "answer rate", "short calls", "carrier failures"

    @property
    def flagged(self) -> bool:
        return bool(self.worse)


def hypergeometric_lower_tail(k: int, n: int, successes: int, population: int) -> float:
    """P(X ≤ k) for X the successes among ``n`` draws without replacement from ``population``
    items of which ``successes`` are successes: the one-sided p-value of Fisher's exact test
    that a sample of ``n`` with ``k`` successes has a lower rate than the rest."""
    low, high = max(0, n - (population - successes)), min(n, successes)
    if k >= high:
        return 1.0
    if k < low:
        return 0.0
    failures = population - successes
    mode = (n + 1) * (successes + 1) // (population + 2)  # the likeliest count

    def log_pmf(x: int) -> float:
        return _log_comb(successes, x) + _log_comb(failures, n - x) - _log_comb(population, n)

    # Each tail is summed from its end nearer the mode, walking away from it, where the terms
    # only shrink: P(x-1)/P(x) = x (F-n+x) / ((K-x+1)(n-x+1)), P(x+1)/P(x) the inverse of it.
    below = k < mode
    x = k if below else k + 1
    total, term = 1.0, 1.0
    while (x > low) if below else (x < high):
        if below:
            term *= x * (failures - n + x) / ((successes - x + 1) * (n - x + 1))
            x -= 1
        else:
            term *= (successes - x) * (n - x) / ((x + 1) * (failures - n + x + 1))
            x += 1
        total += term
        if term < total * 1e-17:
            break
    tail = math.exp(log_pmf(k if below else k + 1)) * total
    return min(1.0, tail) if below else max(0.0, 1.0 - tail)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def benjamini_hochberg(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Which of ``pvalues`` are discoveries at false discovery rate ``alpha`` (step-up)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    last = 0  # how many of the smallest are discoveries
    for rank, i in enumerate(order, start=1):
        if pvalues[i] <= alpha * rank / len(pvalues):
            last = rank
    chosen = set(order[:last])
    return [i in chosen for i in range(len(pvalues))]


def assess(figures: Iterable[NumberCalls], rules: HealthRules | None = None) -> list[NumberHealth]:
    """The health of each number, judged against the rest of its pool and country; in the
    order of ``figures``."""
    rules = rules or HealthRules()
    figures = list(figures)
    judged: dict[int, NumberHealth] = {}
    group = lambda i: (figures[i].main_id, figures[i].pool, figures[i].country)  # noqa: E731
    for _, members in groupby(sorted(range(len(figures)), key=group), key=group):
        indexes = list(members)
        for i, health in zip(indexes, _assess_pool([figures[i] for i in indexes], rules), strict=True):
            judged[i] = health
    return [judged[i] for i in range(len(figures))]


def _assess_pool(pool: Sequence[NumberCalls], rules: HealthRules) -> list[NumberHealth]:
    dialled = sum(c.dialled for c in pool)
    answered = sum(c.answered for c in pool)
    short = sum(c.short for c in pool)
    failed = sum(c.failed for c in pool)
    tests: list[tuple[int, str, float, float]] = []  # (number's index, what, p-value, gap)
    for i, c in enumerate(pool):
        rest_dialled, rest_answered = dialled - c.dialled, answered - c.answered
        if c.dialled >= rules.min_calls and rest_dialled >= rules.min_calls:
            p = hypergeometric_lower_tail(c.answered, c.dialled, answered, dialled)
            gap = rest_answered / rest_dialled - c.answered / c.dialled
            tests.append((i, "answer rate", p, gap))
        rest_short = short - c.short
        if c.answered >= rules.min_calls and rest_answered >= rules.min_calls:
            # More short calls than the rest: fewer long ones, the lower tail of the long calls.
            long_calls = answered - short
            p = hypergeometric_lower_tail(c.answered - c.short, c.answered, long_calls, answered)
            gap = c.short / c.answered - rest_short / rest_answered
            tests.append((i, "short calls", p, gap))
        if c.dialled >= rules.min_calls and rest_dialled >= rules.min_calls and c.failed:
            # More failures than the rest: fewer calls that did not fail, their lower tail.
            p = hypergeometric_lower_tail(c.dialled - c.failed, c.dialled, dialled - failed, dialled)
            gap = c.failed / c.dialled - (failed - c.failed) / rest_dialled
            tests.append((i, "carrier failures", p, gap))
    found = benjamini_hochberg([p for _, _, p, _ in tests], rules.alpha)
    pvalues: list[dict[str, float]] = [{} for _ in pool]
    worse: list[list[str]] = [[] for _ in pool]
    for (i, what, p, gap), discovery in zip(tests, found, strict=True):
        pvalues[i][what] = p
        if discovery and gap >= rules.min_gap:
            worse[i].append(what)
    return [
        NumberHealth(
            c,
            pvalues[i].get("answer rate"),
            pvalues[i].get("short calls"),
            pvalues[i].get("carrier failures"),
            tuple(worse[i]),
        )
        for i, c in enumerate(pool)
    ]
