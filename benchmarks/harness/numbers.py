"""The phone numbers of a run: parties drawn at random, and the virtual numbers of a pool."""

from __future__ import annotations

import random

import phonenumbers

from harness import BenchError


def _valid(e164: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))


def make_parties(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct valid first parties (+1415...) and second parties (+1628...)."""
    rng = random.Random(seed)

    def side(area: str) -> list[str]:
        numbers = [f"+1{area}{n:07d}" for n in rng.sample(range(2_000_000, 10_000_000), count * 2)]
        valid = [n for n in numbers if _valid(n)][:count]
        if len(valid) < count:
            raise BenchError(f"could not draw {count} valid +1{area} numbers")
        return valid

    return list(zip(side("415"), side("628"), strict=True))


def pool_numbers(size: int) -> list[str]:
    numbers = [f"+1650555{n:04d}" for n in range(100, 100 + size)]
    invalid = [n for n in numbers if not _valid(n)]
    if invalid:
        raise BenchError(f"pool numbers not valid: {invalid[:3]}")
    return numbers
