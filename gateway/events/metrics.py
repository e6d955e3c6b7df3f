"""Prometheus metrics of a `lienthong worker` (its own `/metrics`). Labels are fixed sets: never
a subscription, an endpoint or a subject in a label."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("delivered", "failed", "dead", "cancelled")


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.deliveries = Counter(
            "lienthong_webhook_deliveries_total",
            "Webhook attempts by what they left the delivery as: delivered, failed (to be "
            "retried), dead (no attempt left) or cancelled (no longer allowed).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.deliveries.labels(outcome)
        self.attempts = Counter(
            "lienthong_webhook_attempts_total",
            "Webhook requests made (every attempt, whatever its outcome).",
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "lienthong_webhook_request_seconds",
            "Time from sending a webhook to its answer.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.lag = Gauge(
            "lienthong_webhook_lag_seconds",
            "How long the most overdue delivery has been due (0: none is): the workers' lag. "
            "Read from the table by every worker: aggregate with max, not sum.",
            registry=self.registry,
        )
        self.fanned_out = Counter(
            "lienthong_events_fanned_out_total",
            "Events fanned out to a subscription, by outcome: a delivery made, or refused by "
            "the payload decision (the subscriber may not receive it).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("delivery", "refused"):
            self.fanned_out.labels(outcome)
        self.in_flight = Gauge(
            "lienthong_webhook_in_flight",
            "Webhook attempts this worker is making now.",
            registry=self.registry,
        )
