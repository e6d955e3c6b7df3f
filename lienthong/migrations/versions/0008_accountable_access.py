"""Accountable access: case-bound purposes and one-stop dossiers, agencies' officer-assertion
keys, rate buckets and daily quota counts shared by every process, bulk-access alerts.

Revision ID: 0008_accountable_access
Revises: 0007_etl_guard
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_accountable_access"
down_revision: str | Sequence[str] | None = "0007_etl_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())


def upgrade() -> None:
    op.add_column(
        "purposes",
        sa.Column("case_bound", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_table(
        "agency_keys",
        sa.Column("key_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("jwk", JSONB, nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_agency_keys_status")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_agency_keys")),
        sa.UniqueConstraint("agency", "kid", name=op.f("uq_agency_keys_agency")),
    )  # fmt: skip
    # a key registered or retired moves the policy version: caches reload it before the next
    # request is admitted
    op.execute(
        "CREATE TRIGGER agency_keys_policy_changed AFTER INSERT OR UPDATE OR DELETE ON "
        "agency_keys FOR EACH STATEMENT EXECUTE FUNCTION policy_changed()"
    )
    op.create_table(
        "dossiers",
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("procedure", sa.Text(), nullable=True),
        sa.Column("subjects", JSONB, nullable=False),
        sa.Column("officer", JSONB, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_dossiers")),
    )
    op.create_index("ix_dossiers_agency", "dossiers", ["agency", "opened_at"])
    op.create_index("ix_dossiers_subjects", "dossiers", ["subjects"], postgresql_using="gin")
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "quota_usage",
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("disclosed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("granted", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "agency", "purpose", "subject_type", "day", name=op.f("pk_quota_usage")
        ),
    )
    op.create_table(
        "access_alerts",
        sa.Column("alert_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("officer", sa.Text(), nullable=True),
        sa.Column("dossier", sa.Text(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("measure", JSONB, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('officer_volume', 'off_hours', 'absent_lookups', 'dossier_breadth')",
            name=op.f("ck_access_alerts_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'reviewed', 'dismissed')", name=op.f("ck_access_alerts_status")
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_access_alerts")),
    )
    op.create_index(
        "uq_access_alerts_once",
        "access_alerts",
        [
            "kind",
            "agency",
            sa.text("coalesce(officer, '')"),
            sa.text("coalesce(dossier, '')"),
            "window_start",
        ],
        unique=True,
    )
    op.create_index("ix_access_alerts_status", "access_alerts", ["status", "raised_at"])
    op.execute("GRANT SELECT, INSERT, UPDATE ON agency_keys, dossiers TO lienthong_app")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON rate_buckets, quota_usage TO lienthong_app")
    op.execute("GRANT SELECT, INSERT, UPDATE ON access_alerts TO lienthong_app")


def downgrade() -> None:
    op.drop_index("ix_access_alerts_status", table_name="access_alerts")
    op.drop_index("uq_access_alerts_once", table_name="access_alerts")
    op.drop_table("access_alerts")
    op.drop_table("quota_usage")
    op.drop_table("rate_buckets")
    op.drop_index("ix_dossiers_subjects", table_name="dossiers", postgresql_using="gin")
    op.drop_index("ix_dossiers_agency", table_name="dossiers")
    op.drop_table("dossiers")
    op.execute("DROP TRIGGER agency_keys_policy_changed ON agency_keys")
    op.drop_table("agency_keys")
    op.drop_column("purposes", "case_bound")
