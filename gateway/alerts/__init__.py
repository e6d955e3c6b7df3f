"""Bulk-access alerts: patterns in the access log a steward should review."""
