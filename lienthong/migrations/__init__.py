"""Alembic migrations (a package so tests can import the autogenerate filters)."""
