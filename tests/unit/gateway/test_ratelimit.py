from __future__ import annotations

import pytest

from gateway.ratelimit import LocalRates


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_the_wait_until_a_token_is_back() -> None:
    clock = FakeClock()
    limiter = LocalRates(clock=clock)
    assert [limiter.acquire("agency:a", rate=2, burst=3) for _ in range(3)] == [0.0] * 3
    assert limiter.acquire("agency:a", rate=2, burst=3) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("agency:a", rate=2, burst=3) == 0.0


def test_keys_have_separate_buckets_and_refill_is_capped() -> None:
    clock = FakeClock()
    limiter = LocalRates(clock=clock)
    assert limiter.acquire("agency:a", rate=1, burst=1) == 0.0
    assert limiter.acquire("agency:a", rate=1, burst=1) > 0
    assert limiter.acquire("citizen:001090000001", rate=1, burst=1) == 0.0
    clock.now += 3600
    assert [limiter.acquire("agency:a", rate=10, burst=2) for _ in range(3)][2] > 0


def test_a_nonsense_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        LocalRates().acquire("agency:a", rate=0, burst=1)
