"""`/admin/dossiers`."""
