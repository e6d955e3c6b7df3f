"""Foundation: extensions and the Vietnamese ICU collation.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0001_foundation"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSIONS = ("postgis", "pg_trgm", "unaccent", "btree_gist")


def upgrade() -> None:
    for extension in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    # Names sort the Vietnamese way (ă after a, đ after d, tones after the base letter).
    op.execute("CREATE COLLATION IF NOT EXISTS vietnamese (provider = icu, locale = 'vi-VN')")


def downgrade() -> None:
    op.execute("DROP COLLATION IF EXISTS vietnamese")
    for extension in reversed(EXTENSIONS):
        op.execute(f"DROP EXTENSION IF EXISTS {extension}")
