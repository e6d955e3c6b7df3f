"""The steward REST API under `/admin` (OpenAPI at `/admin/openapi.json`): agencies, agreements
with four-eyes approval, purposes and prefill forms, consents, the access log, and decision
explanations. Each concern has its request/response models, its service functions (keyword-only,
given the session) and its views (a few lines delegating to the service)."""
