"""Per-agency quotas: a token bucket per agency client id, refilled continuously.

Buckets live in the process. With N gateway replicas each enforces `rate / N` (the deployment sets
the per-replica rate); the daily quota of an agreement is enforced by the policy engine instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        self.rate = rate_per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, agency: str, cost: float = 1.0) -> float:
        """Take `cost` tokens for `agency`: 0 when allowed, else the seconds until it would be."""
        now = self._clock()
        bucket = self._buckets.get(agency)
        if bucket is None:
            bucket = self._buckets[agency] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate

    @staticmethod
    def retry_after_seconds(wait: float) -> int:
        """`extensions.retryAfter`: whole seconds, never 0 for a refused request."""
        return max(1, math.ceil(wait))
