"""`lienthong audit verify`: recompute every chain, streaming, and name the first broken row;
then hold the log to the heads that witnesses outside the database keep (signed checkpoints,
gateway/audit/checkpoints.py, and signed answers, gateway/signing/answers.py), lane by lane.

The walk alone cannot see a rewrite made consistently (rows, later hashes and the head all
recomputed by someone with the owner's rights) or a lane dropped whole. A witnessed head can:
the entry at that sequence must still be there with that hash: `rewritten` if its hash differs,
`truncated` if the sequence is gone, `dropped` if the lane has no entry left at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gateway.audit.chain import GENESIS, HASHED_FIELDS, entry_hash

FETCH_ROWS = 10_000
WITNESS_BATCH = 5_000  # witnessed heads looked up per statement
REWRITTEN, TRUNCATED, DROPPED = "rewritten", "truncated", "dropped"


@dataclass(frozen=True)
class Break:
    chain_key: str
    seq: int | None
    entry_id: int | None
    reason: str


@dataclass(frozen=True)
class Witnessed:
    """A lane's head as a witness outside the database holds it (hash in hex)."""

    chain_key: str
    seq: int
    hash: str
    source: str  # which checkpoint or signed answer holds it


@dataclass(frozen=True)
class LaneBreak:
    """A witnessed head the log no longer matches."""

    chain_key: str
    seq: int
    entry_id: int | None
    kind: str  # REWRITTEN, TRUNCATED or DROPPED
    source: str

    @property
    def reason(self) -> str:
        what = {
            REWRITTEN: "its hash differs from the one",
            TRUNCATED: "the entry is missing: the lane ends before the head",
            DROPPED: "the lane is gone: no entry left of the one",
        }[self.kind]
        return f"{self.kind}: {what} {self.source} holds"


@dataclass
class VerifyReport:
    rows: int = 0
    chains: int = 0
    first_break: Break | None = None
    witnessed: int = 0
    lane_breaks: list[LaneBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.first_break is None and not self.lane_breaks


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


def verify(
    dsn: str, *, since: datetime | None = None, witnessed: Sequence[Witnessed] = ()
) -> VerifyReport:
    """Walk every chain in order, then check every witnessed head. With `since`, each chain's
    first row from then on is trusted as its anchor (its own hash is still checked)."""
    report = VerifyReport()
    with psycopg.connect(dsn) as connection:
        report.witnessed = len(witnessed)
        report.lane_breaks = check_witnessed(connection, witnessed)
        _walk(connection, since, report)
    return report


def check_witnessed(
    connection: psycopg.Connection[Any], witnessed: Sequence[Witnessed]
) -> list[LaneBreak]:
    """Each witnessed head against the log: one indexed look-up per head, all lanes reported
    (not only the first), whatever the walk finds."""
    breaks: list[LaneBreak] = []
    for start in range(0, len(witnessed), WITNESS_BATCH):
        batch = witnessed[start : start + WITNESS_BATCH]
        found = connection.execute(
            "SELECT w.i, m.entry_id, m.entries, m.same, "
            "EXISTS (SELECT FROM access_log a WHERE a.chain_key = w.chain_key) "
            "FROM unnest(%s::text[], %s::bigint[], %s::bytea[]) WITH ORDINALITY "
            "AS w(chain_key, seq, hash, i) "
            "CROSS JOIN LATERAL (SELECT min(a.entry_id) AS entry_id, count(*) AS entries, "
            "bool_and(a.hash = w.hash) AS same FROM access_log a "
            "WHERE a.chain_key = w.chain_key AND a.seq = w.seq) AS m "
            "ORDER BY w.i",
            (
                [head.chain_key for head in batch],
                [head.seq for head in batch],
                [bytes.fromhex(head.hash) for head in batch],
            ),
        ).fetchall()
        for (_, entry_id, entries, same, lane_exists), head in zip(found, batch, strict=True):
            if entries and same:
                continue
            kind = REWRITTEN if entries else TRUNCATED if lane_exists else DROPPED
            breaks.append(
                LaneBreak(
                    head.chain_key,
                    head.seq,
                    int(entry_id) if entry_id is not None else None,
                    kind,
                    head.source,
                )
            )
    return breaks


def _walk(
    connection: psycopg.Connection[Any], since: datetime | None, report: VerifyReport
) -> None:
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
                return
            chain = str(row["chain_key"])
            seen_chains.add(chain)
            report.chains += 1
            anchored = since is not None
            expected_seq = int(row["seq"]) if anchored else 1
            previous = bytes(row["prev_hash"]) if anchored else GENESIS
        problem = _row_problem(row, expected_seq, previous)
        if problem is not None:
            report.first_break = problem
            return
        expected_seq += 1
        previous = bytes(row["hash"])
    if chain is not None and (problem := _tail_problem(chain, expected_seq, previous, heads)):
        report.first_break = problem
        return
    if since is None:
        for missing in sorted(set(heads) - seen_chains):
            report.first_break = Break(missing, None, None, "chain has a head but no rows")
            return


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
