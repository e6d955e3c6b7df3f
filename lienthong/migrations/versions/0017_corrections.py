"""Corrections at the source: citizens' correction requests (one disputed field each) and the
history of their steps, appended only (docs/corrections.md).

Revision ID: 0017_corrections
Revises: 0016_fanout_lanes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_corrections"
down_revision: str | Sequence[str] | None = "0016_fanout_lanes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('reported', 'forwarded', 'corrected', 'rejected')"
OPEN = "status IN ('reported', 'forwarded')"

# What a report recorded stays as it was reported, and a settled request stays settled: the
# application role may move a request on (forward, reject, correct), never rewrite it.
GUARD = """
CREATE FUNCTION correction_requests_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('corrected', 'rejected') THEN
        RAISE EXCEPTION 'correction request % is settled (%)', OLD.request_id, OLD.status;
    END IF;
    IF (NEW.subject_type, NEW.subject_id, NEW.field, NEW.domain, NEW.columns,
        NEW.disputed_value, NEW.disputed_version_id, NEW.explanation, NEW.reported_by,
        NEW.reporter, NEW.created_at)
       IS DISTINCT FROM
       (OLD.subject_type, OLD.subject_id, OLD.field, OLD.domain, OLD.columns,
        OLD.disputed_value, OLD.disputed_version_id, OLD.explanation, OLD.reported_by,
        OLD.reporter, OLD.created_at) THEN
        RAISE EXCEPTION 'correction request %: what was reported is not changed', OLD.request_id;
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "correction_requests",
        sa.Column("request_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("columns", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("disputed_value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("disputed_version_id", sa.BigInteger(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.Text(), nullable=False),
        sa.Column("reporter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), server_default="reported", nullable=False),
        sa.Column("source_agency", sa.Text(), nullable=True),
        sa.Column("forward_note", sa.Text(), nullable=True),
        sa.Column("forwarded_by", sa.Text(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("rejected_by", sa.Text(), nullable=True),
        sa.Column("corrected_version_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_correction_requests_status")),
        sa.CheckConstraint(
            "reported_by IN ('citizen', 'officer')", name=op.f("ck_correction_requests_reported_by")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_correction_requests")),
    )
    op.create_index(
        "uq_correction_requests_open",
        "correction_requests",
        ["subject_type", "subject_id", "field"],
        unique=True,
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_correction_requests_subject",
        "correction_requests",
        ["subject_type", "subject_id", "created_at"],
    )
    op.create_index(
        "ix_correction_requests_status", "correction_requests", ["status", "created_at"]
    )
    op.create_table(
        "correction_events",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(f"step IN {STATUSES}", name=op.f("ck_correction_events_step")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["correction_requests.request_id"],
            name=op.f("fk_correction_events_request_id_correction_requests"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_correction_events")),
    )
    op.create_index("ix_correction_events_request", "correction_events", ["request_id", "event_id"])
    op.execute(GUARD)
    op.execute(
        "CREATE TRIGGER correction_requests_guard BEFORE UPDATE ON correction_requests "
        "FOR EACH ROW EXECUTE FUNCTION correction_requests_guard()"
    )
    # The request moves on; its history is appended to, never rewritten (as the access log)
    op.execute("GRANT SELECT, INSERT, UPDATE ON correction_requests TO lienthong_app")
    op.execute("GRANT SELECT, INSERT ON correction_events TO lienthong_app")


def downgrade() -> None:
    op.execute("DROP TRIGGER correction_requests_guard ON correction_requests")
    op.execute("DROP FUNCTION correction_requests_guard()")
    op.drop_index("ix_correction_events_request", table_name="correction_events")
    op.drop_table("correction_events")
    op.drop_index("ix_correction_requests_status", table_name="correction_requests")
    op.drop_index("ix_correction_requests_subject", table_name="correction_requests")
    op.drop_index(
        "uq_correction_requests_open",
        table_name="correction_requests",
        postgresql_where=sa.text(OPEN),
    )
    op.drop_table("correction_requests")
