"""The GraphQL API: schema, per-request context, field-level policy enforcement, router."""
