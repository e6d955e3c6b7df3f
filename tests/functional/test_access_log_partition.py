"""Two access-log writers (two gateway workers, two replicas) meeting a month without its
partition at the same moment: both commit their entries, neither fails closed. In a database of
its own, because it drops the current month's partition to start from a month without one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from gateway.audit.writer import AccessLogWriter, Disclosure


async def test_a_partition_created_meanwhile_by_another_writer(committed_database_url: str) -> None:
    now = datetime.now(UTC)
    other = await asyncpg.connect(committed_database_url)
    try:
        await other.execute(f"DROP TABLE IF EXISTS access_log_y{now:%Y}m{now:%m}")
        # the other writer creates the partition and has not committed yet when ours checks
        await other.execute("BEGIN")
        await other.execute("SELECT access_log_ensure_partition($1)", now)
        writer = AccessLogWriter(committed_database_url)
        await writer.start()
        try:
            ours = asyncio.create_task(
                writer.record([Disclosure(request_id="p-1", agency="a", subject_type="resident",
                                          subject_id="048085000123")])
            )  # fmt: skip
            await asyncio.sleep(0.5)  # our CREATE waits on the other's catalog entry
            await other.execute("COMMIT")
            await asyncio.wait_for(ours, timeout=10)
        finally:
            await writer.stop()
        count = await other.fetchval("SELECT count(*) FROM access_log WHERE request_id = 'p-1'")
        assert count == 1
    finally:
        await other.close()
