"""Imports every module that maps tables, so Base.metadata is complete (alembic, tests)."""
