"""Residents searchable by their card number and by their family links; the links a registry
cannot resolve yet, as a view; what a load flagged and what a full export closed.

Revision ID: 0013_family_documents_closures
Revises: 0012_former_units
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_family_documents_closures"
down_revision: str | Sequence[str] | None = "0012_former_units"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every version, not only the current ones: `children(asOf:)` reads the past too.
SEARCHED = ("id_card_number", "father_id", "mother_id", "spouse_id")

# A current resident's link to a person the registry holds no current record of: loaded as it
# is (provinces load in any order), resolved by that person's load (registries.residents.family).
UNRESOLVED_FAMILY_LINKS = """
CREATE VIEW unresolved_family_links AS
SELECT r.personal_id, l.link, l.target_id
FROM residents AS r
CROSS JOIN LATERAL (VALUES ('father', r.father_id), ('mother', r.mother_id),
                           ('spouse', r.spouse_id)) AS l (link, target_id)
WHERE r.valid_to IS NULL AND l.target_id IS NOT NULL
AND NOT EXISTS (SELECT FROM residents AS t WHERE t.personal_id = l.target_id
                AND t.valid_to IS NULL)
"""


def upgrade() -> None:
    for column in SEARCHED:
        op.create_index(
            f"ix_residents_{column}",
            "residents",
            [column],
            unique=False,
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.execute(UNRESOLVED_FAMILY_LINKS)
    op.add_column(
        "etl_runs",
        sa.Column(
            "warned_by_reason",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "etl_runs",
        sa.Column("resolved_links", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "etl_runs", sa.Column("closed", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "etl_runs",
        sa.Column("full_export", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_table(
        "etl_closures",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("registry", sa.Text(), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["etl_runs.run_id"],
            name=op.f("fk_etl_closures_run_id_etl_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "registry", "record_key", name=op.f("pk_etl_closures")),
    )


def downgrade() -> None:
    op.drop_table("etl_closures")
    for column in ("full_export", "closed", "resolved_links", "warned_by_reason"):
        op.drop_column("etl_runs", column)
    op.execute("DROP VIEW unresolved_family_links")
    for column in reversed(SEARCHED):
        op.drop_index(f"ix_residents_{column}", table_name="residents")
