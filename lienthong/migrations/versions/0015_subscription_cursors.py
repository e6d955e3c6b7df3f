"""Fan-out cursors: per subscription, the feed position `(txid, seq)` of the last change event
its deliveries were made for, and the snapshot of its approval (gateway/events/fanout.py).

Revision ID: 0015_subscription_cursors
Revises: 0014_change_events
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_subscription_cursors"
down_revision: str | Sequence[str] | None = "0014_change_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_cursors",
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("after_txid", sa.BigInteger(), nullable=False),
        sa.Column("after_seq", sa.BigInteger(), nullable=False),
        # pg_current_snapshot() of the approval, as text: what it saw committed is not sent
        sa.Column("opened_snapshot", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription_cursors")),
    )
    op.execute("GRANT SELECT, INSERT, UPDATE ON subscription_cursors TO lienthong_app")


def downgrade() -> None:
    op.drop_table("subscription_cursors")
