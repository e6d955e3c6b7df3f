"""A webhook request as the Standard Webhooks specification shapes it, the retries' backoff, and
what the check before an attempt compares (gateway/events/webhooks.py, deliveries.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.admin.subscriptions.service import new_secret
from gateway.events.deliveries import Claimed, same_payload, still_allowed
from gateway.events.webhooks import backoff, headers
from lienthong.settings import Settings

BODY = '{"id":"e1","data":{"fullName":"Nguyễn Văn An"}}'.encode()


def test_a_signed_request_verifies_with_the_subscribers_secret_and_no_other() -> None:
    secret = new_secret()
    sent = headers(secret=secret, event_id="e1", body=BODY)
    assert sent["webhook-id"] == "e1"
    assert sent["content-type"] == "application/json"
    assert Webhook(secret).verify(BODY, sent) == orjson.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"An", b"Ba"), sent)


def test_the_signature_is_the_specifications_hmac_by_hand() -> None:
    """What docs/events.md tells a receiver without the package to compute."""
    secret = new_secret()
    at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    sent = headers(secret=secret, event_id="e1", body=BODY, now=at)
    assert sent["webhook-timestamp"] == str(int(at.timestamp()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = b"e1." + sent["webhook-timestamp"].encode() + b"." + BODY
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert sent["webhook-signature"] == f"v1,{expected}"


def test_an_old_timestamp_is_refused_by_the_receiver() -> None:
    secret = new_secret()
    stale = headers(secret=secret, event_id="e1", body=BODY,
                    now=datetime.now(UTC) - timedelta(minutes=10))  # fmt: skip
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, stale)


def test_backoff_is_full_jitter_under_a_doubling_cap_and_a_ceiling() -> None:
    rng = random.Random(7)
    for attempts in range(1, 12):
        cap = min(100.0, 2.0 * 2 ** (attempts - 1))
        waits = [backoff(attempts, base=2.0, ceiling=100.0, rng=rng) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits)
        assert max(waits) > cap * 0.8  # spread over the whole range, not a fixed delay
        assert min(waits) < cap * 0.2


def _claimed(given: tuple[str, ...], masked: tuple[str, ...] = ()) -> Claimed:
    return Claimed(delivery_id=1, subscription_id="a/b", event_id=uuid.uuid4(), event_seq=1,
                   payload=BODY, fields_given=given, fields_masked=masked, attempts=1)  # fmt: skip


def test_a_stored_payload_may_be_sent_only_while_the_decision_gives_what_it_carries() -> None:
    claimed = _claimed(("fullName", "id"), ("deceasedOn",))
    assert still_allowed(claimed, {"fullName", "id"}, {"deceasedOn"}) is None
    assert still_allowed(claimed, {"fullName", "id", "deceasedOn"}, set()) is None  # widened
    refused = still_allowed(claimed, {"id"}, {"fullName", "deceasedOn"})
    assert refused == "decision_changed: the decision no longer gives fullName"
    assert still_allowed(claimed, {"fullName", "id"}, set()) == (
        "decision_changed: the decision no longer gives deceasedOn"
    )


def test_payloads_compare_by_what_they_disclose_not_the_order_of_related_subjects() -> None:
    one = orjson.dumps({"data": {"members": [{"n": "A"}, {"n": "B"}]}, "id": "e"})
    other = orjson.dumps({"data": {"members": [{"n": "B"}, {"n": "A"}]}, "id": "e"})
    assert same_payload(one, one) and same_payload(one, other)
    assert not same_payload(one, orjson.dumps({"data": {"members": [{"n": "A"}]}, "id": "e"}))


def test_a_lease_shorter_than_two_request_timeouts_is_refused() -> None:
    with pytest.raises(ValidationError, match="LEASE_SECONDS"):
        Settings(webhook_timeout_seconds=10, webhook_lease_seconds=15)
    assert Settings().webhook_max_attempts == 8
