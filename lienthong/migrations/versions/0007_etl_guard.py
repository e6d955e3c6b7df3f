"""etl_runs: the change-rate guard's figures, the merge's instant, who ran it, and rollbacks.

Revision ID: 0007_etl_guard
Revises: 0006_admin
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_etl_guard"
down_revision: str | Sequence[str] | None = "0006_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the instant of the load's transaction: every version it opened starts then and every
    # version it closed ends then (what a rollback finds them by)
    op.add_column("etl_runs", sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "etl_runs", sa.Column("guard", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column("etl_runs", sa.Column("actor", sa.Text(), nullable=True))
    op.add_column("etl_runs", sa.Column("rollback_of", sa.BigInteger(), nullable=True))
    op.add_column("etl_runs", sa.Column("rolled_back_by", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_etl_runs_rollback_of_etl_runs"), "etl_runs", "etl_runs", ["rollback_of"],
        ["run_id"],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_constraint(op.f("fk_etl_runs_rollback_of_etl_runs"), "etl_runs", type_="foreignkey")
    for column in ("rolled_back_by", "rollback_of", "actor", "guard", "merged_at"):
        op.drop_column("etl_runs", column)
