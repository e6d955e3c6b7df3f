"""Stewards scoped to what they own: agencies' provinces, and agency documents (GraphQL
documents one agency may run for one purpose, approved like agreements).

Revision ID: 0010_stewardship
Revises: 0009_forms_are_policy
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_stewardship"
down_revision: str | Sequence[str] | None = "0009_forms_are_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('submitted', 'approved', 'rejected', 'suspended', 'revoked')"


def upgrade() -> None:
    op.add_column("agencies", sa.Column("province", sa.Text(), nullable=True))
    op.create_table(
        "agency_documents",
        sa.Column("document_id", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reaches", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("approvals", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("document_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_agency_documents_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_agency_documents_valid_period"),
        ),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_agency_documents_status")),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_agency_documents")),
    )
    op.create_index(
        "uq_agency_documents_open_version",
        "agency_documents",
        ["document_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index("ix_agency_documents_agency", "agency_documents", ["agency"])
    # Approving, suspending or revoking one is in force from the next request everywhere
    op.execute(
        "CREATE TRIGGER agency_documents_policy_changed AFTER INSERT OR UPDATE OR DELETE ON "
        "agency_documents FOR EACH STATEMENT EXECUTE FUNCTION policy_changed()"
    )
    op.execute("GRANT SELECT, INSERT, UPDATE ON agency_documents TO lienthong_app")


def downgrade() -> None:
    op.execute("DROP TRIGGER agency_documents_policy_changed ON agency_documents")
    op.drop_index("ix_agency_documents_agency", table_name="agency_documents")
    op.drop_index(
        "uq_agency_documents_open_version",
        table_name="agency_documents",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("agency_documents")
    op.drop_column("agencies", "province")
