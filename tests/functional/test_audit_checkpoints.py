"""An audit an insider cannot rewrite unseen: signed checkpoints kept outside the database, heads
quoted in signed answers, and chain heads the application role can only advance.

Each tampering below is what the database owner can do with the triggers turned off (ALTER TABLE
… DISABLE TRIGGER, as the owner, in the test): the rows and the head are rewritten consistently,
so the chain walk alone passes (asserted each time), and only the witnesses outside the database
show it. The object store is moto's S3 server, run as a separate process and spoken to over HTTP
by boto3, as a real one would be.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from jwcrypto import jwk
from psycopg.rows import dict_row

from gateway.audit.chain import HASHED_FIELDS, entry_hash
from gateway.audit.checkpoints import (
    CHECKPOINT_TYP,
    checkpoint_name,
    public_jwk,
    read_heads,
    sign_checkpoint,
)
from gateway.audit.verify import verify
from gateway.audit.writer import AccessLogWriter, Disclosure
from gateway.signing.answers import sign_answer
from tests.net import LIENTHONG, free_port


@pytest.fixture
def dsn(committed_database_url: str) -> Iterator[str]:
    yield committed_database_url
    with psycopg.connect(committed_database_url, autocommit=True) as connection:
        # both tables refuse TRUNCATE; only a superuser bypassing triggers may clean up
        connection.execute("SET session_replication_role = replica")
        connection.execute("TRUNCATE access_log, access_log_heads")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _env(dsn: str, home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_AUDIT_CHECKPOINT")}
    env.update(LIENTHONG_DATABASE_URL=dsn, LIENTHONG_HOME=str(home), COLUMNS="400")
    env.update({f"LIENTHONG_{name.upper()}": value for name, value in settings.items()})
    return env


def _audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIENTHONG), "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _disclosure(n: int) -> Disclosure:
    return Disclosure(
        request_id=f"req-{n}",
        agency="motcua-danang",
        subject_type="resident",
        subject_id="048085000123",
        purpose="CT01",
        operation="PrefillCT01",
        fields_given=["fullName", "birthDate"],
        decision={"allow": True, "outcome": "disclosed"},
    )


async def _write(dsn: str, lanes: int = 1, entries: int = 5) -> list[str]:
    """`entries` entries in each of `lanes` chains; the chain keys."""
    keys = []
    for lane in range(lanes):
        writer = AccessLogWriter(dsn)
        await writer.start()
        try:
            for i in range(entries):
                await writer.record([_disclosure(lane * 100 + i)])
        finally:
            await writer.stop()
        keys.append(f"{writer.lane}:{datetime.now(UTC):%Y-%m}")
    return keys


def _as_owner(dsn: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run statements as the tables' owner with their triggers off, as an insider would."""
    with psycopg.connect(dsn) as connection:
        connection.execute("ALTER TABLE access_log DISABLE TRIGGER USER")
        connection.execute("ALTER TABLE access_log_heads DISABLE TRIGGER USER")
        for statement, params in statements:
            connection.execute(statement, params)
        connection.execute("ALTER TABLE access_log ENABLE TRIGGER USER")
        connection.execute("ALTER TABLE access_log_heads ENABLE TRIGGER USER")


def _rewrite(dsn: str, chain_key: str, seq: int, agency: str) -> None:
    """Change one entry's agency and recompute its chain from there on, and the head."""
    with psycopg.connect(dsn, row_factory=dict_row) as connection:
        rows = connection.execute(
            f"SELECT entry_id, {', '.join(HASHED_FIELDS)}, prev_hash, hash FROM access_log "  # noqa: S608
            "WHERE chain_key = %s ORDER BY seq",
            (chain_key,),
        ).fetchall()
    statements = []
    previous = bytes(rows[seq - 2]["hash"]) if seq > 1 else bytes(32)
    for row in rows[seq - 1 :]:
        if row["seq"] == seq:
            row["agency"] = agency
        digest = entry_hash(previous, row)
        statements.append(
            (
                "UPDATE access_log SET agency = %s, prev_hash = %s, hash = %s WHERE entry_id = %s",
                (row["agency"], previous, digest, row["entry_id"]),
            )
        )
        previous = digest
    statements.append(
        ("UPDATE access_log_heads SET hash = %s WHERE chain_key = %s", (previous, chain_key))
    )
    _as_owner(dsn, *statements)


def _truncate(dsn: str, chain_key: str, keep: int) -> None:
    _as_owner(
        dsn,
        ("DELETE FROM access_log WHERE chain_key = %s AND seq > %s", (chain_key, keep)),
        (
            "UPDATE access_log_heads SET seq = %s, hash = (SELECT hash FROM access_log "
            "WHERE chain_key = %s AND seq = %s) WHERE chain_key = %s",
            (keep, chain_key, keep, chain_key),
        ),
    )


def _drop(dsn: str, chain_key: str) -> None:
    _as_owner(
        dsn,
        ("DELETE FROM access_log WHERE chain_key = %s", (chain_key,)),
        ("DELETE FROM access_log_heads WHERE chain_key = %s", (chain_key,)),
    )


def _walk_alone_passes(env: dict[str, str]) -> None:
    result = _audit(env, "verify", "--no-checkpoints")
    assert result.returncode == 0, result.stderr  # the insider's edit is consistent


async def test_a_clean_log_verifies_against_its_checkpoint(dsn: str, home: Path) -> None:
    await _write(dsn, lanes=2)
    env = _env(dsn, home)
    taken = _audit(env, "checkpoint")
    assert taken.returncode == 0, taken.stderr
    assert "2 lanes" in taken.stderr
    (folder,) = (home / "audit-checkpoints").iterdir()  # one folder per database
    (written,) = folder.iterdir()
    assert written.name.startswith("checkpoint-") and written.suffix == ".jws"
    assert (home / "audit-checkpoint-key.pem").stat().st_mode & 0o077 == 0  # dev key, private
    await _write(dsn, lanes=1)  # the log goes on after the checkpoint: still fine
    result = _audit(env, "verify")
    assert result.returncode == 0, result.stderr
    assert "intact: 15 entries in 3 chains; 2 witnessed heads hold" in result.stderr


async def test_an_owner_rewrite_is_reported_against_the_checkpoint(dsn: str, home: Path) -> None:
    (chain, other) = await _write(dsn, lanes=2)
    env = _env(dsn, home)
    assert _audit(env, "checkpoint").returncode == 0
    _rewrite(dsn, chain, 3, agency="thue-hcm")
    _walk_alone_passes(env)
    result = _audit(env, "verify")
    assert result.returncode == 1, result.stderr
    assert f"BROKEN chain {chain} at seq 5" in result.stderr
    assert "rewritten: its hash differs from the one checkpoint checkpoint-" in result.stderr
    assert other not in result.stderr  # the untouched lane is not named


async def test_a_truncated_and_a_dropped_lane_are_reported(dsn: str, home: Path) -> None:
    cut, dropped, kept = await _write(dsn, lanes=3)
    env = _env(dsn, home)
    assert _audit(env, "checkpoint").returncode == 0
    _truncate(dsn, cut, keep=3)
    _drop(dsn, dropped)
    _walk_alone_passes(env)
    result = _audit(env, "verify")
    assert result.returncode == 1, result.stderr
    assert f"BROKEN chain {cut} at seq 5 (entry None): truncated" in result.stderr
    assert f"BROKEN chain {dropped} at seq 5 (entry None): dropped" in result.stderr
    assert kept not in result.stderr


async def test_checkpoints_with_a_bad_signature_are_refused(dsn: str, home: Path) -> None:
    (chain,) = await _write(dsn)
    env = _env(dsn, home)
    assert _audit(env, "checkpoint").returncode == 0
    (folder,) = (home / "audit-checkpoints").iterdir()
    (genuine,) = folder.iterdir()
    # a newer checkpoint signed with a key that is not the checkpoint key, naming the genuine
    # key's kid, hiding a rewrite: it must not be taken as the latest
    _rewrite(dsn, chain, 2, agency="thue-hcm")
    database, lanes = read_heads(dsn)
    forged = sign_checkpoint(database, lanes, jwk.JWK.generate(kty="EC", crv="P-256"), _later())
    header, payload, signature = forged.split(".")
    genuine_header = genuine.read_text().split(".")[0]
    (folder / checkpoint_name(_later())).write_text(f"{genuine_header}.{payload}.{signature}")
    result = _audit(env, "verify")
    assert "REFUSED checkpoint" in result.stderr
    assert "signature does not verify" in result.stderr
    # the newest genuine checkpoint is still used, and shows the rewrite
    assert result.returncode == 1
    assert f"BROKEN chain {chain} at seq 5" in result.stderr and "rewritten" in result.stderr
    # with the genuine one gone, nothing verifies: refused, not "intact"
    genuine.unlink()
    refused = _audit(env, "verify")
    assert refused.returncode == 2, refused.stderr
    assert "REFUSED checkpoint" in refused.stderr
    assert json.loads(_b64(header))["typ"] == CHECKPOINT_TYP


async def test_prod_refuses_to_checkpoint_without_a_key_file(dsn: str, home: Path) -> None:
    result = _audit(_env(dsn, home, env="prod"), "checkpoint")
    assert result.returncode == 1
    assert "LIENTHONG_AUDIT_CHECKPOINT_KEY_FILE is not set" in result.stderr
    # and prod's verify fails without any checkpoint (the job may have been stopped)
    key = home / "key.pem"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(jwk.JWK.generate(kty="EC", crv="P-256").export_to_pem(True, None))
    prod = _env(dsn, home, env="prod", audit_checkpoint_key_file=str(key))
    missing = _audit(prod, "verify")
    assert missing.returncode == 2, missing.stderr
    assert "no checkpoint that verifies" in missing.stderr


def _answer(dsn: str, key: jwk.JWK) -> str:
    with psycopg.connect(dsn) as connection:
        heads = [
            {"chain_key": k, "seq": s, "hash": bytes(h).hex()}
            for k, s, h in connection.execute("SELECT chain_key, seq, hash FROM access_log_heads")
        ]
    claims = {
        "iss": "http://127.0.0.1:8000",
        "iat": int(time.time()),
        "request_id": "req-1",
        "agency": "motcua-danang",
        "officer": None,
        "purpose": "CT01",
        "dossier": None,
        "status": 200,
        "response": {"data": {}},
        "access_log": {"entries": heads, "heads": heads},
    }
    return sign_answer(claims, key, kid="answers-1")


async def test_a_signed_answers_quoted_head_shows_an_owner_rewrite(
    dsn: str, home: Path, tmp_path: Path
) -> None:
    (chain,) = await _write(dsn)
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    answer = tmp_path / "answer.jws"
    answer.write_text(_answer(dsn, key))
    keys = tmp_path / "answer-keys.json"
    keys.write_text(json.dumps({"keys": [{**public_jwk(key), "kid": "answers-1"}]}))
    env = _env(dsn, home)
    args = ("verify", "--no-checkpoints", "--answers", str(answer), "--answer-jwks", str(keys))
    clean = _audit(env, *args)
    assert clean.returncode == 0, clean.stderr
    assert "2 witnessed heads hold" in clean.stderr  # its head and the entry it quotes
    _rewrite(dsn, chain, 4, agency="thue-hcm")
    _walk_alone_passes(env)
    result = _audit(env, *args)
    assert result.returncode == 1, result.stderr
    assert f"BROKEN chain {chain} at seq 5" in result.stderr
    assert "rewritten: its hash differs from the one signed answer answer.jws holds" in (
        result.stderr
    )
    # an answer altered by one byte is refused, not used
    token = answer.read_text()
    answer.write_text(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    refused = _audit(env, *args)
    assert refused.returncode == 2, refused.stderr  # no witness left: the log is not vouched for
    assert "REFUSED signed answer" in refused.stderr
    assert "BROKEN" not in refused.stderr


def _later() -> datetime:
    return datetime(2999, 1, 1, tzinfo=UTC)


def _b64(segment: str) -> bytes:
    import base64  # noqa: PLC0415

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- the application role and the heads -----------------------------------------------------------


async def test_the_application_role_can_only_advance_a_head(dsn: str) -> None:
    (chain,) = await _write(dsn)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET ROLE lienthong_app")
        for attempt in (
            "UPDATE access_log_heads SET seq = seq - 1",  # rewind
            "UPDATE access_log_heads SET hash = sha256(hash)",  # rewrite at the same seq
            "UPDATE access_log_heads SET seq = seq + 1",  # advance past what was written
            "INSERT INTO access_log_heads VALUES ('forged:2026-01', 3, '\\x00')",  # no such chain
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(attempt)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("DELETE FROM access_log_heads")
    with psycopg.connect(dsn, autocommit=True) as connection:  # the owner is held too
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only advance"):
            connection.execute("UPDATE access_log_heads SET seq = 2")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only advance"):
            connection.execute("DELETE FROM access_log_heads")
        (seq,) = connection.execute(
            "SELECT seq FROM access_log_heads WHERE chain_key = %s", (chain,)
        ).fetchone() or (0,)
    assert seq == 5


async def test_the_writer_still_appends_through_the_guard(dsn: str) -> None:
    writer = AccessLogWriter(dsn)
    await writer.start()
    try:
        await asyncio.gather(*(writer.record([_disclosure(i)]) for i in range(200)))
        await writer.record([_disclosure(i) for i in range(300, 350)])
    finally:
        await writer.stop()
    with psycopg.connect(dsn) as connection:
        (seq,) = connection.execute("SELECT max(seq) FROM access_log_heads").fetchone() or (0,)
    assert seq == 250


# -- the object store ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's S3 server on a free loopback port, as a process of its own; its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def bucket(s3: str) -> tuple[Any, str]:
    client = boto3.client(
        "s3",
        endpoint_url=s3,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    name = f"checkpoints-{free_port()}"
    client.create_bucket(Bucket=name)
    return client, name


async def test_checkpoints_round_trip_through_an_object_store(
    dsn: str, home: Path, s3: str, bucket: tuple[Any, str], tmp_path: Path
) -> None:
    client, name = bucket
    (chain,) = await _write(dsn)
    directory = tmp_path / "sink"
    env = _env(
        dsn,
        home,
        audit_checkpoint_sinks=f"s3://{name}/lienthong,{directory}",
        audit_checkpoint_s3_endpoint_url=s3,
    )
    env.update(S3_CREDENTIALS)
    taken = _audit(env, "checkpoint")
    assert taken.returncode == 0, taken.stderr
    (stored,) = client.list_objects_v2(Bucket=name)["Contents"]
    database = dsn.rsplit("/", 1)[1]
    assert stored["Key"].startswith(f"lienthong/{database}/checkpoint-")
    body = client.get_object(Bucket=name, Key=stored["Key"])["Body"].read()
    (local,) = (directory / database).iterdir()
    assert body == local.read_bytes()  # the same signed checkpoint in both sinks
    only_s3 = {**env, "LIENTHONG_AUDIT_CHECKPOINT_SINKS": f"s3://{name}/lienthong"}
    clean = _audit(only_s3, "verify")
    assert clean.returncode == 0, clean.stderr
    assert "1 witnessed heads hold" in clean.stderr
    _rewrite(dsn, chain, 1, agency="thue-hcm")
    result = _audit(only_s3, "verify")
    assert result.returncode == 1, result.stderr
    assert "rewritten" in result.stderr and f"s3://{name}/lienthong/{database}/" in result.stderr


async def test_a_writer_that_lost_an_acknowledgement_goes_on_from_the_databases_head(
    dsn: str,
) -> None:
    """A batch may commit and its acknowledgement be lost with the connection: the writer's own
    idea of its head is then behind the database's, and rewriting those sequence numbers is
    refused. Reconnecting, it takes the database's head and the chain stays whole."""
    writer = AccessLogWriter(dsn)
    await writer.start()
    try:
        await writer.record([_disclosure(1)])
        behind = (writer._seq, writer._head)
        await writer.record([_disclosure(2), _disclosure(3)])
        writer._seq, writer._head = behind  # as if the last commit had not been acknowledged
        assert writer._connection is not None
        writer._connection.terminate()
        await writer.record([_disclosure(4)])
    finally:
        await writer.stop()
    report = verify(dsn)
    assert report.intact, report.first_break
    assert report.rows == 4
