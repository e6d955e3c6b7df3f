"""Signed checkpoints of the access log's chain heads, kept outside the database.

The hash chains (gateway/audit/chain.py) catch any change made behind the writer's back, except
one made consistently by someone with the database owner's rights: rewrite a row, recompute
every later hash of its chain and the head in `access_log_heads`, or drop a whole lane, and the
chain walk alone still passes. A checkpoint pins every lane's head (chain key, sequence, hash and
the time of that entry) with a signature whose private key is not in the database, in a place
the database's owner does not control (a directory on another host, an object store with its own
credentials and object lock): `audit verify` then finds each checkpointed entry still there,
with the same hash.

A checkpoint is a compact JWS (typ CHECKPOINT_TYP, ES256 by default) whose payload is
`{"database", "taken_at", "lanes": [{"chain_key", "seq", "hash", "time"}]}`. It is written under
`<sink>/<database>/checkpoint-<UTC time>.jws`, names that sort by time, so the latest is the
greatest; a directory sink writes a temporary file and renames it (a reader never sees half a
checkpoint), an object store's PUT is atomic by itself.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import psycopg
from jwcrypto import jwk, jws

from gateway.audit.chain import canonical_time
from gateway.identity.errors import AuthenticationError
from gateway.identity.jose import signed_header, verified_claims
from lienthong.settings import Env, Settings

CHECKPOINT_TYP = "lienthong-checkpoint+jws"  # never mistaken for a token or a signed answer
WHAT = "checkpoint"
PREFIX = "checkpoint-"
SUFFIX = ".jws"
_NAME = re.compile(r"checkpoint-\d{8}T\d{12}Z\.jws")
DEFAULT_KEY_NAME = "audit-checkpoint-key.pem"
DEFAULT_SINK_NAME = "audit-checkpoints"


class CheckpointError(Exception):
    """A checkpoint could not be made or written (a missing key, an unreachable sink)."""


class CheckpointRefused(Exception):  # noqa: N818 - a verdict on the checkpoint, not a failure
    """A checkpoint that does not verify: it is not evidence and is not used."""


@dataclass(frozen=True)
class LaneHead:
    """A lane's (chain's) head as a checkpoint or a signed answer holds it; hash in hex."""

    chain_key: str
    seq: int
    hash: str
    time: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "chain_key": self.chain_key,
            "seq": self.seq,
            "hash": self.hash,
            "time": canonical_time(self.time) if self.time is not None else None,
        }


@dataclass(frozen=True)
class Checkpoint:
    name: str
    kid: str
    database: str
    taken_at: datetime
    lanes: list[LaneHead]


# -- keys ------------------------------------------------------------------------------------


def signing_key(settings: Settings) -> jwk.JWK:
    """The checkpoint signing key: the configured file; in dev, one made under `home` when
    none is configured. Prod refuses to sign without a key file of its own."""
    path = settings.audit_checkpoint_key_file
    if path is None:
        if settings.env is Env.PROD:
            raise CheckpointError(
                "LIENTHONG_AUDIT_CHECKPOINT_KEY_FILE is not set: prod signs checkpoints only "
                "with a key of its own, kept outside the database"
            )
        path = settings.home / DEFAULT_KEY_NAME
        if not path.exists():
            _write_new_key(path)
    try:
        return jwk.JWK.from_pem(path.read_bytes())
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"cannot read the checkpoint key {path}: {error}") from error


def _write_new_key(path: Path) -> None:
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    path.parent.mkdir(parents=True, exist_ok=True)
    # created 0600 from the start: the private key is never readable by others, not even briefly
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.export_to_pem(private_key=True, password=None))


def public_jwk(key: jwk.JWK) -> dict[str, Any]:
    public = json.loads(key.export_public())
    public.update(kid=key.thumbprint(), use="sig", alg=_algorithm(key))
    return dict(public)


def verification_keys(settings: Settings) -> dict[str, Any]:
    """The JWKS checkpoints are checked with: the configured public keys, else the public half
    of the signing key (dev makes one if there is none yet)."""
    if settings.audit_checkpoint_jwks_file is not None:
        path = settings.audit_checkpoint_jwks_file
        try:
            keys = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CheckpointError(f"cannot read the checkpoint JWKS {path}: {error}") from error
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
            raise CheckpointError(f'{path} is not a JWKS (a JSON object with "keys")')
        return keys
    return {"keys": [public_jwk(signing_key(settings))]}


def _algorithm(key: jwk.JWK) -> str:
    if key.get("kty") == "EC" and key.get("crv") == "P-256":
        return "ES256"
    if key.get("kty") == "RSA":
        return "RS256"
    raise CheckpointError("a checkpoint key is EC P-256 or RSA")


# -- making and reading checkpoints -------------------------------------------------------------


def database_name(dsn: str) -> str:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else ""


def read_heads(dsn: str) -> tuple[str, list[LaneHead]]:
    """The database's name and every lane's head, with the time of its last entry, as one
    consistent snapshot."""
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = connection.execute("SELECT current_database()").fetchone()
        database = str(row[0]) if row else ""
        lanes = [
            LaneHead(str(key), int(seq), bytes(digest).hex(), at)
            for key, seq, digest, at in connection.execute(
                "SELECT h.chain_key, h.seq, h.hash, "
                "(SELECT min(l.occurred_at) FROM access_log l "
                " WHERE l.chain_key = h.chain_key AND l.seq = h.seq) "
                "FROM access_log_heads h ORDER BY h.chain_key"
            )
        ]
    return database, lanes


def checkpoint_name(taken_at: datetime) -> str:
    return f"{PREFIX}{taken_at.astimezone(UTC):%Y%m%dT%H%M%S%f}Z{SUFFIX}"


def sign_checkpoint(
    database: str, lanes: Sequence[LaneHead], key: jwk.JWK, taken_at: datetime
) -> str:
    payload = {
        "database": database,
        "taken_at": canonical_time(taken_at),
        "lanes": [lane.as_json() for lane in lanes],
    }
    algorithm = _algorithm(key)
    signed = jws.JWS(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signed.add_signature(
        key,
        alg=algorithm,
        protected={"alg": algorithm, "kid": key.thumbprint(), "typ": CHECKPOINT_TYP},
    )
    return str(signed.serialize(compact=True))


def verify_checkpoint(name: str, token: str, jwks: Mapping[str, Any]) -> Checkpoint:
    """The checkpoint in `token` if its signature verifies with the key its `kid` names in
    `jwks`; CheckpointRefused otherwise."""
    try:
        header, algorithm = signed_header(token.strip(), what=WHAT)
        if header.get("typ") != CHECKPOINT_TYP:
            raise CheckpointRefused(f"not a checkpoint: the header's typ is not {CHECKPOINT_TYP}")
        kid = header.get("kid")
        key = _key(jwks, kid, algorithm)
        claims = verified_claims(token.strip(), key, algorithm, what=WHAT)
    except AuthenticationError as error:
        raise CheckpointRefused(str(error)) from error
    try:
        lanes = [
            LaneHead(
                chain_key=str(lane["chain_key"]),
                seq=int(lane["seq"]),
                hash=bytes.fromhex(str(lane["hash"])).hex(),
                time=datetime.fromisoformat(lane["time"]) if lane.get("time") else None,
            )
            for lane in claims["lanes"]
        ]
        taken_at = datetime.fromisoformat(str(claims["taken_at"]))
        database = str(claims["database"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointRefused(f"malformed checkpoint payload: {error}") from error
    return Checkpoint(name, str(kid), database, taken_at, lanes)


def _key(jwks: Mapping[str, Any], kid: object, algorithm: str) -> jwk.JWK:
    for candidate in jwks.get("keys", []):
        if isinstance(candidate, Mapping) and candidate.get("kid") == kid:
            if candidate.get("alg", algorithm) != algorithm:
                raise CheckpointRefused(f"key {kid!r} is not published for {algorithm}")
            return jwk.JWK(**dict(candidate))
    raise CheckpointRefused(f"key {kid!r} is not among the checkpoint keys")


# -- sinks ------------------------------------------------------------------------------------


class Sink(Protocol):
    description: str

    def put(self, name: str, data: bytes) -> None: ...

    def names(self) -> list[str]: ...

    def get(self, name: str) -> bytes: ...


class DirectorySink:
    def __init__(self, root: Path, database: str) -> None:
        self.folder = root / database
        self.description = str(self.folder)

    def put(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{name}.{secrets.token_hex(4)}.tmp"
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.folder / name)  # atomic: readers see all of it or nothing
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if _NAME.fullmatch(p.name))

    def get(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()


class S3Sink:
    """An S3-API object store (AWS S3, MinIO, Ceph…) through boto3. Credentials come from boto3's
    own chain (environment, profile, instance or pod role), never from this platform's settings:
    the checkpoint job's credentials should be the only ones that may write there."""

    def __init__(self, url: str, database: str, endpoint_url: str = "") -> None:
        import boto3  # noqa: PLC0415 - only deployments with an object store load the SDK

        parts = urlsplit(url)
        self.bucket = parts.netloc
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/{database}/" if prefix else f"{database}/"
        self.description = f"s3://{self.bucket}/{self.prefix}"
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType="application/jose"
        )

    def names(self) -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + PREFIX):
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(self.prefix) :]
                if _NAME.fullmatch(name):
                    found.append(name)
        return sorted(found)

    def get(self, name: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"]
        return bytes(body.read())


def sink_specs(settings: Settings) -> list[str]:
    specs = [spec.strip() for spec in settings.audit_checkpoint_sinks.split(",") if spec.strip()]
    return specs or [str(settings.home / DEFAULT_SINK_NAME)]


def open_sink(spec: str, database: str, settings: Settings) -> Sink:
    if spec.startswith("s3://"):
        if not urlsplit(spec).netloc:
            raise CheckpointError(f"{spec}: an s3:// sink names a bucket")
        return S3Sink(spec, database, settings.audit_checkpoint_s3_endpoint_url)
    if "://" in spec:
        raise CheckpointError(f"{spec}: a sink is a directory or an s3:// URL")
    return DirectorySink(Path(spec), database)


# -- the two operations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    name: str
    lanes: int
    sinks: list[str]


def take_checkpoint(settings: Settings, *, now: datetime | None = None) -> Written:
    """Sign every lane's head and write the checkpoint to every configured sink."""
    key = signing_key(settings)
    database, lanes = read_heads(settings.libpq_url)
    taken_at = now or datetime.now(UTC)
    token = sign_checkpoint(database, lanes, key, taken_at)
    name = checkpoint_name(taken_at)
    written = []
    for spec in sink_specs(settings):
        sink = open_sink(spec, database, settings)
        sink.put(name, token.encode("ascii"))
        written.append(sink.description)
    return Written(name, len(lanes), written)


@dataclass
class Latest:
    """What a sink holds for a database: its newest checkpoint that verifies, and the newer
    ones that did not (each is reported: a sink holding a forged checkpoint is news)."""

    source: str
    checkpoint: Checkpoint | None = None
    refused: list[tuple[str, str]] = field(default_factory=list)


def latest_checkpoint(sink: Sink, keys: Callable[[], Mapping[str, Any]], database: str) -> Latest:
    """The newest checkpoint of `database` in `sink` that verifies with `keys()` (called only
    when the sink holds a checkpoint: verifying an empty sink needs no key)."""
    latest = Latest(sink.description)
    jwks: Mapping[str, Any] | None = None
    for name in reversed(sink.names()):
        jwks = jwks if jwks is not None else keys()
        try:
            checkpoint = verify_checkpoint(name, sink.get(name).decode("ascii"), jwks)
        except (CheckpointRefused, UnicodeDecodeError) as error:
            latest.refused.append((name, str(error)))
            continue
        if checkpoint.database != database:
            latest.refused.append((name, f"a checkpoint of database {checkpoint.database!r}"))
            continue
        latest.checkpoint = checkpoint
        break
    return latest
