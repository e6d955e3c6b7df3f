"""Units before the 2025 reorganisation, the crosswalk to the 2025 communes, and each record's
provenance (the pre-2025 unit an export named, VSIC codes the partial table could not check).

Revision ID: 0012_former_units
Revises: 0011_proposals
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from registries.reference.seed import seed_former_units

revision: str = "0012_former_units"
down_revision: str | Sequence[str] | None = "0011_proposals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORDS = ("residents", "households", "enterprises")


def upgrade() -> None:
    op.create_table(
        "former_units",
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("division_type", sa.Text(), nullable=False),
        sa.Column("province_code", sa.SmallInteger(), nullable=False),
        sa.Column("district_code", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("level", "code", name=op.f("pk_former_units")),
    )
    op.create_table(
        "unit_changes",
        sa.Column("former_level", sa.Text(), nullable=False),
        sa.Column("former_code", sa.Integer(), nullable=False),
        sa.Column("commune_code", sa.Integer(), nullable=False),
        sa.Column("code_nso", sa.Integer(), nullable=False),
        sa.Column("population", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["former_level", "former_code"],
            ["former_units.level", "former_units.code"],
            name="fk_unit_changes_former_level_former_units",
        ),
        sa.ForeignKeyConstraint(
            ["commune_code"],
            ["communes.code"],
            name=op.f("fk_unit_changes_commune_code_communes"),
        ),
        sa.PrimaryKeyConstraint(
            "former_level", "former_code", "commune_code", name=op.f("pk_unit_changes")
        ),
    )
    op.create_index("ix_unit_changes_commune_code", "unit_changes", ["commune_code"])
    for table in RECORDS:
        op.add_column(
            table,
            sa.Column("provenance", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        )
    seed_former_units(op.get_bind())


def downgrade() -> None:
    for table in RECORDS:
        op.drop_column(table, "provenance")
    op.drop_index("ix_unit_changes_commune_code", table_name="unit_changes")
    op.drop_table("unit_changes")
    op.drop_table("former_units")
