"""A process's own token buckets: what limits requests while the shared buckets in PostgreSQL
(gateway.quota.leases) cannot be reached. Then each process admits up to the whole rate, so the
deployment's total is at most the rate times its processes until the database is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LocalRates:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str, *, rate: float, burst: int) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until it would be."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._buckets.clear()  # a bound, not a policy: a cleared bucket starts full
            bucket = self._buckets[key] = _Bucket(tokens=float(burst), updated=now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate
