"""Fan-out lanes: a subscription's cursor per lane (its subjects split by a hash of their key),
so that several workers fan one subscription out at once (gateway/events/fanout.py).

Revision ID: 0016_fanout_lanes
Revises: 0015_subscription_cursors
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_fanout_lanes"
down_revision: str | Sequence[str] | None = "0015_subscription_cursors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscription_cursors",
        sa.Column("lane", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.alter_column("subscription_cursors", "lane", server_default=None)
    op.drop_constraint("pk_subscription_cursors", "subscription_cursors", type_="primary")
    # an existing cursor holds for every lane (gateway/events/fanout.py LANES, 4): each
    # starts where it was
    op.execute(
        "INSERT INTO subscription_cursors (subscription_id, lane, after_txid, after_seq, "
        "opened_snapshot, updated_at) SELECT c.subscription_id, copy.lane, c.after_txid, "
        "c.after_seq, c.opened_snapshot, c.updated_at "
        "FROM subscription_cursors AS c, generate_series(1, 3) AS copy(lane)"
    )
    op.create_primary_key(
        "pk_subscription_cursors", "subscription_cursors", ["subscription_id", "lane"]
    )


def downgrade() -> None:
    op.execute("DELETE FROM subscription_cursors WHERE lane <> 0")
    op.drop_constraint("pk_subscription_cursors", "subscription_cursors", type_="primary")
    op.create_primary_key("pk_subscription_cursors", "subscription_cursors", ["subscription_id"])
    op.drop_column("subscription_cursors", "lane")
