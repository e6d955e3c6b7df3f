"""Prometheus metrics of the gateway (`GET /metrics`).

Labels are bounded: operation names come from the trusted documents or are `anonymous`, agencies
are registered client ids, alert kinds and limit kinds are fixed sets. Never a subject ID in a
label.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "lienthong_graphql_requests_total",
            "GraphQL requests by operation, agency and outcome (ok or the first error code).",
            ["operation", "agency", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lienthong_graphql_request_seconds",
            "GraphQL request latency by operation and agency.",
            ["operation", "agency"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.decisions = Counter(
            "lienthong_policy_decisions_total",
            "Policy decisions per subject by outcome (allow, partial, deny, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.audit_flush = Histogram(
            "lienthong_audit_flush_seconds",
            "Time a request waited for its access-log entries to become durable.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
            registry=self.registry,
        )
        self.plans = Counter(
            "lienthong_graphql_plans_total",
            "Trusted documents with a compiled plan, by operation and by who answered: the plan, "
            "or the generic executor for a case the plan leaves to it.",
            ["operation", "answered_by"],
            registry=self.registry,
        )
        self.access_alerts_open = Gauge(
            "lienthong_access_alerts_open",
            "Bulk-access alerts awaiting a steward's review, by kind and agency (read from the "
            "table by every process: aggregate across processes with max, not sum).",
            ["kind", "agency"],
            registry=self.registry,
        )
        self.access_alerts_raised = Counter(
            "lienthong_access_alerts_raised_total",
            "Bulk-access alerts raised by this process's scans, by kind and agency.",
            ["kind", "agency"],
            registry=self.registry,
        )
        self.limit_refusals = Counter(
            "lienthong_limit_refusals_total",
            "Requests refused by a limit, by kind (rate, quota, dossier, officer) and agency.",
            ["kind", "agency"],
            registry=self.registry,
        )
        self._open_alert_labels: set[tuple[str, str]] = set()

    def set_open_alerts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """The open alerts per (kind, agency) as the table holds them now; a pair whose alerts
        were all reviewed drops to 0 rather than keeping its last count."""
        for kind, agency in self._open_alert_labels - counts.keys():
            self.access_alerts_open.labels(kind, agency).set(0)
        for (kind, agency), open_alerts in counts.items():
            self.access_alerts_open.labels(kind, agency).set(open_alerts)
        self._open_alert_labels |= counts.keys()
