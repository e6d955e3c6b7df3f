"""Access-log chain heads only advance: a head moves forward along its own chain, never back,
never to another history, and is never deleted (docs/audit.md, Append-only).

The application role (`lienthong_app`) keeps INSERT and UPDATE on `access_log_heads`, which the
writer's upsert needs (gateway/audit/writer.py, WRITE_BATCH); a deferred constraint trigger checks,
at commit, when the rows of the batch are all visible, that every new head

- of a new chain is the end of a chain that starts at the genesis hash;
- of an existing chain has a greater sequence number than the old one, and the entry after the
  old head links to the old head's hash (the chain's continuation, not another one);
- names an entry of that chain with exactly that sequence number and hash.

It fires for every role, the owner included; only a superuser who turns triggers off
(`session_replication_role = replica`) gets past it, which a signed checkpoint then shows
(gateway/audit/checkpoints.py).

Revision ID: 0018_append_only_heads
Revises: 0017_corrections
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018_append_only_heads"
down_revision: str | Sequence[str] | None = "0017_corrections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        r"""
        CREATE FUNCTION access_log_head_advances() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.chain_key <> OLD.chain_key OR NEW.seq <= OLD.seq THEN
                    RAISE EXCEPTION 'access_log_heads only advance: chain % from % to % refused',
                        OLD.chain_key, OLD.seq, NEW.seq
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF NOT EXISTS (SELECT FROM access_log
                               WHERE chain_key = NEW.chain_key AND seq = OLD.seq + 1
                                 AND prev_hash = OLD.hash) THEN
                    RAISE EXCEPTION 'access_log_heads: chain % does not continue from seq %',
                        NEW.chain_key, OLD.seq
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            ELSIF NOT EXISTS (SELECT FROM access_log
                              WHERE chain_key = NEW.chain_key AND seq = 1
                                AND prev_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) THEN
                RAISE EXCEPTION 'access_log_heads: chain % does not start at the genesis hash',
                    NEW.chain_key
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NOT EXISTS (SELECT FROM access_log
                           WHERE chain_key = NEW.chain_key AND seq = NEW.seq
                             AND hash = NEW.hash) THEN
                RAISE EXCEPTION 'access_log_heads: chain % has no entry % with that hash',
                    NEW.chain_key, NEW.seq
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER access_log_heads_advance "
        "AFTER INSERT OR UPDATE ON access_log_heads DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION access_log_head_advances()"
    )
    op.execute(
        """
        CREATE FUNCTION access_log_heads_refuse_removal() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'access_log_heads only advance: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER access_log_heads_no_delete BEFORE DELETE ON access_log_heads "
        "FOR EACH ROW EXECUTE FUNCTION access_log_heads_refuse_removal()"
    )
    op.execute(
        "CREATE TRIGGER access_log_heads_no_truncate BEFORE TRUNCATE ON access_log_heads "
        "FOR EACH STATEMENT EXECUTE FUNCTION access_log_heads_refuse_removal()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER access_log_heads_no_truncate ON access_log_heads")
    op.execute("DROP TRIGGER access_log_heads_no_delete ON access_log_heads")
    op.execute("DROP TRIGGER access_log_heads_advance ON access_log_heads")
    op.execute("DROP FUNCTION access_log_heads_refuse_removal()")
    op.execute("DROP FUNCTION access_log_head_advances()")
