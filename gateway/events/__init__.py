"""Change events to agencies: subscriptions decided like agreements, payloads decided once per
delivery by the same policy as a query, pull feed and signed webhooks (docs/events.md)."""
