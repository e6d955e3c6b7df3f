"""`lienthong audit verify`: recompute every chain, streaming, and name the first broken row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gateway.audit.chain import GENESIS, HASHED_FIELDS, entry_hash

FETCH_ROWS = 10_000


@dataclass(frozen=True)
class Break:
    chain_key: str
    seq: int | None
    entry_id: int | None
    reason: str


@dataclass
class VerifyReport:
    rows: int = 0
    chains: int = 0
    first_break: Break | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _rows(connection: psycopg.Connection[Any], since: datetime | None) -> Iterator[dict[str, Any]]:
    columns = ", ".join(("entry_id", *HASHED_FIELDS, "prev_hash", "hash"))
    query = f"SELECT {columns} FROM access_log"  # noqa: S608 - fixed column list, no input
    params: tuple[Any, ...] = ()
    if since is not None:
        query += " WHERE occurred_at >= %s"
        params = (since,)
    query += " ORDER BY chain_key, seq"
    with connection.cursor(name="access_log_verify", row_factory=dict_row) as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(query, params)
        yield from cursor


def verify(dsn: str, *, since: datetime | None = None) -> VerifyReport:
    """Walk every chain in order. With `since`, each chain's first row from then on is trusted
    as its anchor (its own hash is still checked)."""
    report = VerifyReport()
    with psycopg.connect(dsn) as connection:
        heads = {
            str(key): (int(seq), bytes(digest))
            for key, seq, digest in connection.execute(
                "SELECT chain_key, seq, hash FROM access_log_heads"
            )
        }
        chain: str | None = None
        expected_seq = 0
        previous = GENESIS
        seen_chains: set[str] = set()
        for row in _rows(connection, since):
            report.rows += 1
            if row["chain_key"] != chain:
                if chain is not None and (
                    problem := _tail_problem(chain, expected_seq, previous, heads)
                ):
                    report.first_break = problem
                    return report
                chain = str(row["chain_key"])
                seen_chains.add(chain)
                report.chains += 1
                anchored = since is not None
                expected_seq = int(row["seq"]) if anchored else 1
                previous = bytes(row["prev_hash"]) if anchored else GENESIS
            problem = _row_problem(row, expected_seq, previous)
            if problem is not None:
                report.first_break = problem
                return report
            expected_seq += 1
            previous = bytes(row["hash"])
        if chain is not None and (problem := _tail_problem(chain, expected_seq, previous, heads)):
            report.first_break = problem
            return report
        if since is None:
            for missing in sorted(set(heads) - seen_chains):
                report.first_break = Break(missing, None, None, "chain has a head but no rows")
                return report
    return report


def _row_problem(row: dict[str, Any], expected_seq: int, previous: bytes) -> Break | None:
    def broken(reason: str) -> Break:
        return Break(str(row["chain_key"]), int(row["seq"]), int(row["entry_id"]), reason)

    if int(row["seq"]) != expected_seq:
        return broken(f"sequence jumps from {expected_seq - 1} to {row['seq']}: rows missing")
    if bytes(row["prev_hash"]) != previous:
        return broken("prev_hash does not link to the previous row")
    if entry_hash(previous, row) != bytes(row["hash"]):
        return broken("hash does not match the row's content")
    return None


def _tail_problem(
    chain: str, next_seq: int, last_hash: bytes, heads: dict[str, tuple[int, bytes]]
) -> Break | None:
    head = heads.get(chain)
    if head is None:
        return Break(chain, next_seq - 1, None, "chain has no recorded head")
    if head != (next_seq - 1, last_hash):
        return Break(
            chain, next_seq - 1, None, f"chain ends at {next_seq - 1} but its head says {head[0]}"
        )
    return None
