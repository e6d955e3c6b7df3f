"""Change events: an outbox written with every registry change, agencies' subscriptions to them
(approved like agreements), and deliveries (the exact bytes each subscriber is sent, with their
attempts).

Revision ID: 0014_change_events
Revises: 0013_family_documents_closures
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_change_events"
down_revision: str | Sequence[str] | None = "0013_family_documents_closures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIPTION_STATUSES = "('submitted', 'approved', 'rejected', 'suspended', 'revoked')"
DELIVERY_STATUSES = "('pending', 'delivered', 'failed', 'dead', 'cancelled')"


def _versioned() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "change_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "event_id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
        # The writing transaction's id (xid8 as bigint): the feed reads only events of
        # transactions below every one still running, so a late commit never slips behind a
        # cursor already handed out (docs/events.md)
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("old_version_id", sa.BigInteger(), nullable=True),
        sa.Column("new_version_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_sequence", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_change_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_change_events_event_id")),
    )
    op.create_index("ix_change_events_feed", "change_events", ["txid", "seq"])
    op.create_index(
        "ix_change_events_subject", "change_events", ["subject_type", "subject_id", "seq"]
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("approvals", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        *_versioned(),
        postgresql.ExcludeConstraint(
            (sa.column("subscription_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_subscriptions_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_subscriptions_valid_period"),
        ),
        sa.CheckConstraint(
            f"status IN {SUBSCRIPTION_STATUSES}", name=op.f("ck_subscriptions_status")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        "uq_subscriptions_open_version",
        "subscriptions",
        ["subscription_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index("ix_subscriptions_agency", "subscriptions", ["agency"])
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("fields_given", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("fields_masked", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("cancelled_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN {DELIVERY_STATUSES}", name=op.f("ck_deliveries_status")),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_deliveries_subscription_id")
        ),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    # Subscribing, approving, suspending: in force from the next request and delivery
    op.execute(
        "CREATE TRIGGER subscriptions_policy_changed AFTER INSERT OR UPDATE OR DELETE ON "
        "subscriptions FOR EACH STATEMENT EXECUTE FUNCTION policy_changed()"
    )
    # The outbox is appended to, never rewritten by the application
    op.execute("GRANT SELECT, INSERT ON change_events TO lienthong_app")
    op.execute("GRANT SELECT, INSERT, UPDATE ON subscriptions, deliveries TO lienthong_app")


def downgrade() -> None:
    op.execute("DROP TRIGGER subscriptions_policy_changed ON subscriptions")
    op.drop_table("deliveries")
    op.drop_index("ix_subscriptions_agency", table_name="subscriptions")
    op.drop_index(
        "uq_subscriptions_open_version",
        table_name="subscriptions",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("subscriptions")
    op.drop_index("ix_change_events_subject", table_name="change_events")
    op.drop_index("ix_change_events_feed", table_name="change_events")
    op.drop_table("change_events")
