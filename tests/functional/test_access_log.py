"""The access log against the real database: group commit, chains, tampering, durability."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.audit.service import (
    AccessLogFilter,
    decode_cursor,
    export_csv,
    search,
    subject_history,
)
from gateway.audit.verify import verify
from gateway.audit.writer import AccessLogWriter, AuditUnavailable, Disclosure
from gateway.cursors import CursorError
from lienthong.settings import Settings
from registries.db import create_engine
from tests.net import LIENTHONG


@pytest.fixture
def dsn(settings: Settings) -> Iterator[str]:
    yield settings.libpq_url
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        # the log refuses TRUNCATE; only a superuser bypassing triggers may clean up after tests
        connection.execute("SET session_replication_role = replica")
        connection.execute("TRUNCATE access_log, access_log_heads")


@pytest.fixture
async def writer(dsn: str) -> AsyncIterator[AccessLogWriter]:
    log_writer = AccessLogWriter(dsn)
    await log_writer.start()
    yield log_writer
    await log_writer.stop()


def _disclosure(n: int, subject: str = "048085000123", agency: str = "motcua-danang") -> Disclosure:
    return Disclosure(
        request_id=f"req-{n}",
        agency=agency,
        subject_type="resident",
        subject_id=subject,
        purpose="CT01",
        legal_basis="Luật Cư trú 2020",
        operation="PrefillCT01",
        fields_given=["fullName", "birthDate"],
        fields_masked=[],
        fields_denied=["religion"],
        decision={"allow": True, "reasons": ["agreement CT01"]},
    )


def _superuser(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")  # bypass the guard trigger
        for statement in statements:
            connection.execute(statement)


async def test_concurrent_writers_make_an_unbroken_chain(writer: AccessLogWriter, dsn: str) -> None:
    async def producer(task: int) -> None:
        for i in range(200):
            await writer.record([_disclosure(task * 1000 + i)])

    await asyncio.gather(*(producer(task) for task in range(50)))
    with psycopg.connect(dsn) as connection:
        count, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM access_log"
        ).fetchone() or (0, 0)
    assert (count, distinct) == (10_000, 10_000)
    report = verify(dsn)
    assert report.intact, report.first_break
    assert report.rows == 10_000


async def test_a_second_writer_keeps_its_own_chain(dsn: str, writer: AccessLogWriter) -> None:
    other = AccessLogWriter(dsn)
    await other.start()
    try:
        await asyncio.gather(writer.record([_disclosure(1)]), other.record([_disclosure(2)]))
    finally:
        await other.stop()
    report = verify(dsn)
    assert report.intact
    assert report.chains == 2


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("UPDATE access_log SET agency = 'thue-hcm' WHERE seq = 3", "hash does not match"),
        ("DELETE FROM access_log WHERE seq = 3", "sequence jumps"),
        ("UPDATE access_log SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3)",
         "prev_hash does not link"),
        ("DELETE FROM access_log WHERE seq = 5", "head says 5"),
        ("UPDATE access_log SET fields_given = '{fullName,birthDate,religion}' WHERE seq = 1",
         "hash does not match"),
    ],
)  # fmt: skip
async def test_any_edit_delete_or_reorder_is_detected_by_audit_verify(
    writer: AccessLogWriter, dsn: str, tamper: str, reason: str
) -> None:
    for i in range(5):
        await writer.record([_disclosure(i)])
    assert verify(dsn).intact
    _superuser(dsn, tamper)
    result = await asyncio.to_thread(
        subprocess.run,
        [str(LIENTHONG), "audit", "verify"],
        env={**os.environ, "LIENTHONG_DATABASE_URL": dsn, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "BROKEN" in result.stderr
    assert reason in result.stderr


async def test_audit_verify_says_intact(writer: AccessLogWriter, dsn: str) -> None:
    await writer.record([_disclosure(i) for i in range(3)])
    result = await asyncio.to_thread(
        subprocess.run,
        [str(LIENTHONG), "audit", "verify"],
        env={**os.environ, "LIENTHONG_DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "intact: 3 entries in 1 chains" in result.stderr


def test_the_application_role_cannot_change_the_log(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET ROLE lienthong_app")
        for statement in (
            "UPDATE access_log SET agency = 'x'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)
    with psycopg.connect(dsn, autocommit=True) as connection:  # the owner is stopped too
        connection.execute(
            "INSERT INTO access_log (occurred_at, chain_key, seq, request_id, agency, "
            "subject_type, subject_id, fields_given, fields_masked, fields_denied, decision, "
            "prev_hash, hash) VALUES (now(), 'c', 1, 'r', 'a', 'resident', '048085000123', "
            "'{}', '{}', '{}', '{}', '', '')"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            connection.execute("DELETE FROM access_log")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            connection.execute("TRUNCATE access_log")


async def test_an_unreachable_log_fails_closed() -> None:
    writer = AccessLogWriter("postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(OSError, match=r"Connect call failed|refused"):
        await writer.start()
    with pytest.raises(AuditUnavailable, match="not running"):
        await writer.record([_disclosure(1)])


async def test_a_failed_write_raises_for_its_callers_and_the_writer_recovers(
    writer: AccessLogWriter, dsn: str
) -> None:
    await writer.record([_disclosure(1)])
    assert writer._connection is not None
    backend = writer._connection.get_server_pid()
    with psycopg.connect(dsn, autocommit=True) as connection:  # the database drops the writer
        connection.execute("SELECT pg_terminate_backend(%s)", (backend,))
    outcomes = []
    for attempt in range(3):
        try:
            await writer.record([_disclosure(100 + attempt)])
            outcomes.append("ok")
        except AuditUnavailable:
            outcomes.append("unavailable")
    assert outcomes[-1] == "ok"
    assert verify(dsn).intact


async def test_citizen_history_pages_newest_first(
    writer: AccessLogWriter, dsn: str, settings: Settings
) -> None:
    for i in range(5):
        await writer.record([_disclosure(i, subject="048185000999")])
    await writer.record([_disclosure(99, subject="079203000001", agency="thue-hcm")])
    sql_engine = create_engine(settings)
    sessions = async_sessionmaker(sql_engine)
    async with sessions() as session:
        first = await subject_history(
            session=session, subject_type="resident", subject_id="048185000999", first=2
        )
        assert [e.request_id for e in first.entries] == ["req-4", "req-3"]
        assert first.has_next_page
        rest = await subject_history(
            session=session,
            subject_type="resident",
            subject_id="048185000999",
            first=10,
            after=first.end_cursor,
        )
        assert [e.request_id for e in rest.entries] == ["req-2", "req-1", "req-0"]
        assert not rest.has_next_page
        found = await search(session=session, where=AccessLogFilter(agency="thue-hcm"))
        assert [e.subject_id for e in found.entries] == ["079203000001"]
        chunks = [
            chunk
            async for chunk in export_csv(session=session, where=AccessLogFilter(purpose="CT01"))
        ]
        lines = "".join(chunks).strip().splitlines()
        assert lines[0].startswith("occurred_at,request_id,agency")
        assert len(lines) == 7
    await sql_engine.dispose()


def test_a_forged_cursor_is_refused() -> None:
    with pytest.raises(CursorError):
        decode_cursor("not-a-cursor")


KILL_SCRIPT = """
import asyncio, sys
from gateway.audit.writer import AccessLogWriter, Disclosure

async def main():
    writer = AccessLogWriter(sys.argv[1])
    await writer.start()
    n = 0
    while True:
        batch = [Disclosure(request_id=f"kill-{n}-{i}", agency="a", subject_type="resident",
                            subject_id="048085000123") for i in range(3)]
        await writer.record(batch)
        for d in batch:
            print(d.request_id, flush=True)
        n += 1

asyncio.run(main())
"""


def test_a_killed_writer_loses_no_acknowledged_entry(dsn: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(KILL_SCRIPT, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), dsn], stdout=subprocess.PIPE, text=True
    )
    acknowledged: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) >= 600:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    with psycopg.connect(dsn) as connection:
        stored = {
            row[0]
            for row in connection.execute(
                "SELECT request_id FROM access_log WHERE request_id = ANY(%s)", (acknowledged,)
            )
        }
    assert set(acknowledged) <= stored
    assert verify(dsn).intact


async def test_fsync_setting_is_honoured(dsn: str) -> None:
    writer = AccessLogWriter(dsn, fsync=False)
    await writer.start()
    try:
        assert writer._connection is not None
        assert await writer._connection.fetchval("SHOW synchronous_commit") == "off"
    finally:
        await writer.stop()
