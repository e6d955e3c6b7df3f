"""Population registry: residents (công dân) and households (hộ gia đình)."""
