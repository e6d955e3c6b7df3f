"""Steward administration: who made each version, review notes, edited form templates, and
purpose changes moving the policy version (the OPA bundle carries the purpose catalogue).

Revision ID: 0006_admin
Revises: 0005_policy
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_admin"
down_revision: str | Sequence[str] | None = "0005_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("agencies", "purposes", "agreements"):
        op.add_column(table, sa.Column("changed_by", sa.Text(), nullable=True))
    op.add_column("agreements", sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "form_templates",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=True),
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
            (sa.column("code"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_form_templates_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_form_templates_valid_period"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_form_templates")),
    )
    op.create_index(
        "uq_form_templates_open_version",
        "form_templates",
        ["code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.execute(
        "CREATE TRIGGER purposes_policy_changed AFTER INSERT OR UPDATE OR DELETE ON purposes "
        "FOR EACH STATEMENT EXECUTE FUNCTION policy_changed()"
    )
    op.execute("GRANT SELECT, INSERT, UPDATE ON form_templates TO lienthong_app")


def downgrade() -> None:
    op.execute("DROP TRIGGER purposes_policy_changed ON purposes")
    op.drop_index(
        "uq_form_templates_open_version",
        table_name="form_templates",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("form_templates")
    op.drop_column("agreements", "note")
    for table in ("agencies", "purposes", "agreements"):
        op.drop_column(table, "changed_by")
