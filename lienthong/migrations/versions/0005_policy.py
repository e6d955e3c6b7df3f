"""Policy data: agencies, purposes, agreements and consents (versioned), and a change counter.

Revision ID: 0005_policy
Revises: 0004_access_log
Create Date: 2026-11-22 17:12:06.168386
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_policy"
down_revision: str | Sequence[str] | None = "0004_access_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
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
            (sa.column("client_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_agencies_no_overlap",
        ),
        sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f("ck_agencies_status")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_agencies_valid_period")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_agencies")),
    )
    op.create_index(
        "uq_agencies_open_version",
        "agencies",
        ["client_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "agreements",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("via", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("legal_reference", sa.Text(), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_required", sa.Boolean(), nullable=False),
        sa.Column("masking", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("daily_quota", sa.Integer(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
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
            (sa.column("agreement_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_agreements_no_overlap",
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'suspended', 'expired')",
            name=op.f("ck_agreements_status"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_agreements_valid_period")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_agreements")),
    )
    op.create_index("ix_agreements_agency", "agreements", ["agency"], unique=False)
    op.create_index(
        "uq_agreements_open_version",
        "agreements",
        ["agreement_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "consents",
        sa.Column("consent_id", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("officer", sa.Text(), nullable=True),
        sa.Column("document_reference", sa.Text(), nullable=True),
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
            (sa.column("consent_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_consents_no_overlap",
        ),
        sa.CheckConstraint(
            "expires_at > granted_at", name=op.f("ck_consents_expires_after_granted")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_consents_valid_period")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_subject", "consents", ["subject_id", "agency"], unique=False)
    op.create_index(
        "uq_consents_open_version",
        "consents",
        ["consent_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "policy_version",
        sa.Column("singleton", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_policy_version")),
    )
    op.create_table(
        "purposes",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("procedure", sa.Text(), nullable=False),
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
            name="ex_purposes_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_purposes_valid_period")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_purposes")),
    )
    op.create_index(
        "uq_purposes_open_version",
        "purposes",
        ["code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.execute("INSERT INTO policy_version (singleton, version) VALUES (true, 0)")
    # Any change to agreements or agencies bumps the counter and tells listeners, so decision
    # caches reload before the next decision. Owner's rights: the app role cannot touch it.
    op.execute(
        """
        CREATE FUNCTION policy_changed() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            UPDATE policy_version SET version = version + 1;
            PERFORM pg_notify('lienthong_policy', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in ("agreements", "agencies"):
        op.execute(
            f"CREATE TRIGGER {table}_policy_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION policy_changed()"
        )
    op.execute(
        "GRANT SELECT, INSERT, UPDATE ON agencies, purposes, agreements, consents TO lienthong_app"
    )
    op.execute("GRANT SELECT ON policy_version TO lienthong_app")


def downgrade() -> None:
    for table in ("agreements", "agencies"):
        op.execute(f"DROP TRIGGER {table}_policy_changed ON {table}")
    op.execute("DROP FUNCTION policy_changed()")
    op.drop_index(
        "uq_purposes_open_version",
        table_name="purposes",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("purposes")
    op.drop_table("policy_version")
    op.drop_index(
        "uq_consents_open_version",
        table_name="consents",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_consents_subject", table_name="consents")
    op.drop_table("consents")
    op.drop_index(
        "uq_agreements_open_version",
        table_name="agreements",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_agreements_agency", table_name="agreements")
    op.drop_table("agreements")
    op.drop_index(
        "uq_agencies_open_version",
        table_name="agencies",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("agencies")
