"""Rate limits: a token bucket per key (an account, or a client address).

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; a request takes one.
When none is left, the caller learns how long until there is one again (``Retry-After``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class Limiter:
    def __init__(self, rate: float, burst: float, capacity: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a limiter needs a positive rate and a burst of at least one")
        self.rate = rate
        self.burst = burst
        self._capacity = capacity  # keys remembered; the oldest half is forgotten beyond it
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._capacity:
                for old in list(self._buckets)[: self._capacity // 2]:
                    del self._buckets[old]
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        elif now > bucket.stamp:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may be served (0: now), taking nothing and remembering nothing
        (it is asked on every request: a key only gets a bucket once it takes)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = bucket.tokens + max(0.0, now - bucket.stamp) * self.rate
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str, now: float) -> float:
        """Take a token for ``key``: 0 if it was there, else the seconds until one will be."""
        bucket = self._bucket(key, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
