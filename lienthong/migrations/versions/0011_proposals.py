"""Four-eyes for purposes and forms: a change is a proposal until another steward approves it.
`purposes` and `form_templates` keep holding only what is in force, now naming who approved each
version; `proposals` holds the changes awaiting approval and their outcomes, with history.

Revision ID: 0011_proposals
Revises: 0010_stewardship
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_proposals"
down_revision: str | Sequence[str] | None = "0010_stewardship"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "('purpose', 'form')"
STATUSES = "('submitted', 'approved', 'rejected')"


def upgrade() -> None:
    for table in ("purposes", "form_templates"):
        op.add_column(table, sa.Column("approved_by", sa.Text(), nullable=True))
    op.create_table(
        "proposals",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("base", sa.Text(), nullable=True),
        sa.Column("needs", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("approvals", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.Text(), nullable=False),
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
            (sa.column("kind"), "="),
            (sa.column("code"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_proposals_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_proposals_valid_period")
        ),
        sa.CheckConstraint(f"kind IN {KINDS}", name=op.f("ck_proposals_kind")),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_proposals_status")),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_proposals")),
    )
    op.create_index(
        "uq_proposals_open_version",
        "proposals",
        ["kind", "code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    # No policy_changed trigger: a proposal changes nothing that runs. Its approval writes
    # `purposes` or `form_templates`, whose triggers (0006, 0009) move the policy version.
    op.execute("GRANT SELECT, INSERT, UPDATE ON proposals TO lienthong_app")


def downgrade() -> None:
    op.drop_index(
        "uq_proposals_open_version",
        table_name="proposals",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("proposals")
    for table in ("purposes", "form_templates"):
        op.drop_column(table, "approved_by")
