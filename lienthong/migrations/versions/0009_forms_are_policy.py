"""Forms are policy: saving a prefill form moves the policy version, so every process reloads
its forms and their trusted documents before its next request decides on the new version.

Revision ID: 0009_forms_are_policy
Revises: 0008_accountable_access
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_forms_are_policy"
down_revision: str | Sequence[str] | None = "0008_accountable_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE TRIGGER form_templates_policy_changed AFTER INSERT OR UPDATE OR DELETE ON "
        "form_templates FOR EACH STATEMENT EXECUTE FUNCTION policy_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER form_templates_policy_changed ON form_templates")
