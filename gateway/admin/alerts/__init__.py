"""`/admin/alerts`."""
