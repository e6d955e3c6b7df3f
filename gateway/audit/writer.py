"""The access-log writer: group commit, durable before the caller goes on.

Requests `await writer.record(disclosures)`. One background task takes the first queued request
and everything queued behind it (up to `max_batch` entries, optionally after `max_delay`): while
one batch commits, the next gathers. It chains the batch and writes it, as one JSON parameter,
together with the chain head in one statement: one round trip, one commit (synchronous_commit on
unless LIENTHONG_AUDIT_FSYNC=false). Only then are the callers released, each told where its
entries were written and the chain's head after the batch (what a signed answer quotes). If the
batch cannot be written, every caller in it gets AuditUnavailable and the gateway fails closed.

Each writer process keeps its own chains ("lanes"): the chain key is the writer's random lane id
plus the month, so concurrent gateway workers and replicas never contend for one chain head, and
a month's partition holds whole chains.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog

from gateway.audit.chain import GENESIS, HASHED_FIELDS, canonical_time, entry_hash
from registries.history import VIETNAM_TIME

log = structlog.get_logger(__name__)

COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")
APP_ROLE = "lienthong_app"
_RECORD_TYPES = (
    "timestamptz", "text", "bigint", "text", "text", "text", "text", "text", "text", "text",
    "text", "text[]", "text[]", "text[]", "jsonb", "text", "text",
)  # fmt: skip
# One statement per batch whatever its size: the batch travels as one JSON array, which
# PostgreSQL unpacks (hashes as hex), so the driver encodes one parameter instead of a row each.
INSERT = (
    f"INSERT INTO access_log ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed columns, no input
    f"SELECT {', '.join(COLUMNS[:-2])}, decode(prev_hash, 'hex'), decode(hash, 'hex') "
    "FROM jsonb_to_recordset($1::jsonb) AS t("
    + ", ".join(f"{name} {kind}" for name, kind in zip(COLUMNS, _RECORD_TYPES, strict=True))
    + ")"
)


class AuditUnavailable(RuntimeError):  # noqa: N818 - the gateway maps it to UNAVAILABLE
    """The access log could not record the entries: nothing may be disclosed."""


@dataclass(frozen=True)
class Disclosure:
    """One subject's data given (or refused) to one agency in one request."""

    request_id: str
    agency: str
    subject_type: str  # resident, enterprise or parcel
    subject_id: str
    officer: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    operation: str | None = None
    fields_given: Sequence[str] = ()
    fields_masked: Sequence[str] = ()
    fields_denied: Sequence[str] = ()
    decision: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainPosition:
    """A row of a chain: its chain key, sequence number and hash."""

    chain_key: str
    seq: int
    hash: bytes

    def as_json(self) -> dict[str, Any]:
        return {"chain_key": self.chain_key, "seq": self.seq, "hash": self.hash.hex()}


@dataclass(frozen=True)
class Recorded:
    """What one `record()` wrote, durably: its entries, in order, and the head of the chain they
    were written to once their batch committed (a signed answer quotes both)."""

    entries: tuple[ChainPosition, ...] = ()
    head: ChainPosition | None = None


NOTHING_RECORDED = Recorded()


@dataclass
class _Pending:
    disclosures: Sequence[Disclosure]
    done: asyncio.Future[Recorded]


class AccessLogWriter:
    def __init__(
        self,
        dsn: str,
        *,
        fsync: bool = True,
        max_batch: int = 1000,
        max_delay: float = 0.0,
    ) -> None:
        self.dsn = dsn
        self.fsync = fsync
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.lane = secrets.token_hex(6)
        self.healthy = False
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self._chain_key = ""
        self._seq = 0
        self._head = GENESIS
        self._month: tuple[int, int] | None = None
        self._partition_month: tuple[int, int] | None = None

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._run(), name=f"access-log-writer-{self.lane}")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self.healthy = False

    async def record(self, disclosures: Sequence[Disclosure]) -> Recorded:
        """Return once the entries are durable, with where they were written; raise
        AuditUnavailable if they cannot be."""
        if not disclosures:
            return NOTHING_RECORDED
        if self._task is None or self._task.done():
            raise AuditUnavailable("the access-log writer is not running")
        done: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(disclosures, done))
        return await done

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await connection.execute(f"SET ROLE {APP_ROLE}")  # append-only privileges only
            await connection.execute(f"SET synchronous_commit = {'on' if self.fsync else 'off'}")
            if self._chain_key:
                # A batch whose commit was not acknowledged (the connection died) may have
                # committed: go on from the head the database holds, since heads only advance
                # along their own chain (migration 0018) and a rewritten seq would be refused.
                head = await connection.fetchrow(
                    "SELECT seq, hash FROM access_log_heads WHERE chain_key = $1", self._chain_key
                )
                if head is not None:
                    self._seq, self._head = int(head["seq"]), bytes(head["hash"])
        except Exception:
            await connection.close()
            raise
        self._connection = connection
        self.healthy = True

    async def _drop_connection(self) -> None:
        """After a failed write the connection's state is unknown: the next batch reconnects."""
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if self.max_delay:
                await asyncio.sleep(self.max_delay)  # let a burst of requests join this commit
            batch = [first]
            size = len(first.disclosures)
            # Everything queued meanwhile joins: while one batch commits, the next one gathers.
            while size < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                batch.append(item)
                size += len(item.disclosures)
            try:
                written = await self._write(batch)
            except Exception as error:
                self.healthy = False
                log.error("access log write failed", error=type(error).__name__)
                await self._drop_connection()
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(
                            AuditUnavailable("the access log cannot be written")
                        )
            else:
                for pending, recorded in zip(batch, written, strict=True):
                    if not pending.done.done():
                        pending.done.set_result(recorded)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _rows(
        self, batch: list[_Pending], now: datetime
    ) -> tuple[list[dict[str, Any]], int, bytes]:
        if self._month != (now.year, now.month):  # a new month starts new chains
            self._month = (now.year, now.month)
            self._chain_key = f"{self.lane}:{now:%Y-%m}"
            self._seq, self._head = 0, GENESIS
        rows = []
        seq, head = self._seq, self._head
        stamp = canonical_time(now)  # one timestamp for the whole batch: format it once
        for pending in batch:
            for disclosure in pending.disclosures:
                seq += 1
                row: dict[str, Any] = {
                    "occurred_at": stamp,
                    "chain_key": self._chain_key,
                    "seq": seq,
                    "request_id": disclosure.request_id,
                    "agency": disclosure.agency,
                    "officer": disclosure.officer,
                    "purpose": disclosure.purpose,
                    "legal_basis": disclosure.legal_basis,
                    "subject_type": disclosure.subject_type,
                    "subject_id": disclosure.subject_id,
                    "operation": disclosure.operation,
                    "fields_given": list(disclosure.fields_given),
                    "fields_masked": list(disclosure.fields_masked),
                    "fields_denied": list(disclosure.fields_denied),
                    "decision": disclosure.decision,
                }
                digest = entry_hash(head, row)
                row["prev_hash"], row["hash"] = head.hex(), digest.hex()
                rows.append(row)
                head = digest
        return rows, seq, head

    async def _write(self, batch: list[_Pending]) -> list[Recorded]:
        """Writes the batch; what each of its requests wrote, once it is durable."""
        if self._connection is None or self._connection.is_closed():
            await self._connect()
        connection = self._connection
        if connection is None:
            raise AuditUnavailable("no connection to the access log")
        now = datetime.now(UTC)
        rows, seq, head = self._rows(batch, now)
        if self._partition_month != self._month:
            try:
                await connection.execute("SELECT access_log_ensure_partition($1)", now)
            except (asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
                # Another writer (a worker, a replica) created this month's partition between the
                # function's check and its CREATE: the partition exists, which is all we need.
                log.info("access-log partition created concurrently by another writer")
            self._partition_month = self._month
        # One statement, so one round trip and one atomic commit: the rows and the chain head.
        await connection.execute(
            WRITE_BATCH, orjson.dumps(rows).decode(), self._chain_key, seq, head
        )
        self._seq, self._head = seq, head  # advance only once the batch is durable
        self.healthy = True
        # Every request of the batch is told the batch's head: it is the head its entries'
        # chain had once they were durable (later batches only append after it).
        end = ChainPosition(self._chain_key, seq, head)
        written, at = [], 0
        for pending in batch:
            mine = rows[at : at + len(pending.disclosures)]
            at += len(pending.disclosures)
            entries = tuple(
                ChainPosition(row["chain_key"], row["seq"], bytes.fromhex(row["hash"]))
                for row in mine
            )
            written.append(Recorded(entries, end))
        return written


# The batch, its chain head and the day's disclosure counts per agency, purpose and subject type
# (what daily quotas are checked against: gateway/quota) in one statement. The counts are rows
# every writer updates, once per batch (never per request), in key order so that two writers
# never wait on each other in opposite orders.
WRITE_BATCH = (
    f"WITH written AS ({INSERT} RETURNING agency, purpose, subject_type, occurred_at, decision), "  # noqa: S608 - fixed SQL, no input
    "head AS (INSERT INTO access_log_heads (chain_key, seq, hash) "
    "SELECT $2, $3, $4 WHERE EXISTS (SELECT FROM written) "
    "ON CONFLICT (chain_key) DO UPDATE SET seq = excluded.seq, hash = excluded.hash) "
    "INSERT INTO quota_usage (agency, purpose, subject_type, day, disclosed) "
    f"SELECT agency, purpose, subject_type, (occurred_at AT TIME ZONE '{VIETNAM_TIME.key}')::date, "
    "count(*) FROM written "
    "WHERE decision->>'outcome' = 'disclosed' AND purpose IS NOT NULL "
    "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
    "ON CONFLICT (agency, purpose, subject_type, day) "
    "DO UPDATE SET disclosed = quota_usage.disclosed + excluded.disclosed"
)
