from __future__ import annotations

import pytest

from gateway.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_the_wait_until_a_token_is_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2, burst=3, clock=clock)
    assert [limiter.acquire("motcua-danang") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("motcua-danang")
    assert wait == pytest.approx(0.5)
    assert RateLimiter.retry_after_seconds(wait) == 1
    clock.now += 0.5
    assert limiter.acquire("motcua-danang") == 0.0


def test_agencies_have_separate_buckets() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=1, clock=FakeClock())
    assert limiter.acquire("thue-hcm") == 0.0
    assert limiter.acquire("thue-hcm") > 0
    assert limiter.acquire("nganhang-abc") == 0.0


def test_refill_is_capped_at_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=10, burst=2, clock=clock)
    limiter.acquire("a")
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(3)][2] > 0


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_second"):
        RateLimiter(rate_per_second=0, burst=1)
