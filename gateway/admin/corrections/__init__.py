"""`/admin/corrections`."""
