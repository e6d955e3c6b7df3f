"""One webhook request as the Standard Webhooks specification shapes it, and when to try again.

Invariants:
- the body is the delivery's stored bytes, never re-encoded; `webhook-id` is the event id, the
  same on every attempt (the receiver's idempotency key); `webhook-timestamp` is the attempt's
  own time and `webhook-signature` signs `id.timestamp.body` with the subscription's secret
  (the `standardwebhooks` package, so a receiver using it verifies what we send);
- retries wait a random time between zero and a cap that doubles with each attempt made, up to
  a ceiling (exponential backoff with full jitter): receivers that come back are not hit by
  every worker at the same instant.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

CONTENT_TYPE = "application/json"
USER_AGENT = "lienthong-webhooks/1"


def headers(
    *, secret: str, event_id: str, body: bytes, now: datetime | None = None
) -> dict[str, str]:
    """The request's headers for one attempt."""
    at = now or datetime.now(UTC)
    return {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
    }


def backoff(
    attempts: int, *, base: float, ceiling: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after `attempts` failed attempts: uniform in [0, min(ceiling, base ·
    2^(attempts-1))]."""
    cap = min(ceiling, base * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(0, cap)
