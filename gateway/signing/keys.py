"""The answer-signing keys: the current private key, from a file, and the retired public keys
still published.

Invariants:
- the private key lives in a file named by LIENTHONG_ANSWER_SIGNING_KEY_FILE (PEM or JWK), never
  in the database: whoever can rewrite the database cannot sign answers. In dev, unset, a P-256
  key is made once under `<home>/answer-signing/` (mode 0600); in prod, unset or unreadable, the
  gateway refuses to start;
- rotation without a restart: both files are read again whenever they change (`os.stat` on each
  use, microseconds beside a signature), so a new key signs from the next request. A key file
  that does not load (half written) leaves the previous key in use, logged;
- a retired key (LIENTHONG_ANSWER_RETIRED_KEYS_FILE, a JWKS whose keys carry `retired_at`) stays
  published for LIENTHONG_ANSWER_KEY_RETENTION_DAYS after it: answers it signed still verify.
  Only public members are ever published.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from jwcrypto import jwk
from jwcrypto.common import base64url_decode

from gateway.signing.answers import algorithm_for
from lienthong.settings import Env, Settings

log = structlog.get_logger(__name__)

DEV_FOLDER = "answer-signing"
DEV_KEY_FILE = "signing-key.json"
MIN_RSA_BITS = 2048


class AnswerKeyError(RuntimeError):
    """The answer-signing key (or the retired keys) cannot be used; the message says why."""


@dataclass(frozen=True)
class SigningKey:
    key: jwk.JWK
    kid: str
    algorithm: str

    def public(self) -> dict[str, Any]:
        return _public(self.key, self.kid, self.algorithm)


@dataclass(frozen=True)
class RetiredKey:
    public: dict[str, Any]
    retired_at: datetime


def _public(key: jwk.JWK, kid: str, algorithm: str) -> dict[str, Any]:
    public: dict[str, Any] = json.loads(key.export_public())
    return {**public, "kid": kid, "alg": algorithm, "use": "sig"}


def load_signing_key(path: Path) -> SigningKey:
    """A private key from a PEM or JWK file; its kid is the JWK's own, or `answer-` and its
    RFC 7638 thumbprint."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AnswerKeyError(f"cannot read the answer-signing key {path}: {error}") from error
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = jwk.JWK.from_pem(data)
        else:
            key = jwk.JWK.from_json(data.decode("utf-8"))
    except Exception as error:  # jwcrypto and cryptography raise several kinds
        raise AnswerKeyError(f"{path} is not a PEM or JWK private key") from error
    if not key.has_private:
        raise AnswerKeyError(f"{path} holds a public key: answers are signed with a private one")
    try:
        algorithm = algorithm_for(key)
    except ValueError as error:
        raise AnswerKeyError(f"{path}: {error}") from error
    if algorithm == "RS256":
        bits = int.from_bytes(base64url_decode(key.get("n")), "big").bit_length()
        if bits < MIN_RSA_BITS:
            raise AnswerKeyError(f"{path}: an RSA key of {bits} bits is too weak")
    kid = key.get("kid") or f"answer-{key.thumbprint()}"
    return SigningKey(key=key, kid=str(kid), algorithm=algorithm)


def load_retired_keys(path: Path) -> list[RetiredKey]:
    """The retired keys of a JWKS file, each with its `retired_at`, public members only; none
    while the file does not exist (the setting may name it before the first rotation)."""
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AnswerKeyError(f"cannot read the retired answer keys {path}: {error}") from error
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise AnswerKeyError(f'{path} is not a JWKS: a JSON object with "keys"')
    retired = []
    for number, item in enumerate(keys, 1):
        where = f"{path}, key {number}"
        if not isinstance(item, dict) or not isinstance(item.get("kid"), str):
            raise AnswerKeyError(f"{where}: a JWK with a kid")
        try:
            when = datetime.fromisoformat(str(item.get("retired_at")))
        except ValueError as error:
            raise AnswerKeyError(f"{where}: retired_at must be an ISO 8601 time") from error
        if when.tzinfo is None:
            raise AnswerKeyError(f"{where}: retired_at needs a time zone (e.g. Z)")
        members = {k: v for k, v in item.items() if k not in ("retired_at", "alg", "use")}
        try:
            key = jwk.JWK(**members)
            algorithm = algorithm_for(key)
        except Exception as error:  # jwcrypto and cryptography raise several kinds
            raise AnswerKeyError(f"{where}: not a usable EC P-256 or RSA key") from error
        retired.append(RetiredKey(_public(key, item["kid"], algorithm), when))
    return retired


def make_dev_key(path: Path) -> None:
    """A P-256 key in `path` (mode 0600), unless one is there: of two processes starting at once
    the first key wins (a link never replaces)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    key = jwk.JWK(**{**json.loads(key.export_private()), "kid": f"answer-{key.thumbprint()}"})
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key.export_private())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


class AnswerKeys:
    def __init__(
        self, key_file: Path, *, retired_file: Path | None = None, retention: timedelta
    ) -> None:
        self.key_file = key_file
        self.retired_file = retired_file
        self.retention = retention
        self._key = load_signing_key(key_file)  # at start-up a bad key is fatal
        self._key_stamp = _stamp(key_file)
        self._retired = load_retired_keys(retired_file) if retired_file else []
        self._retired_stamp = _stamp(retired_file)

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerKeys:
        path = settings.answer_signing_key_file
        if path is None:
            if settings.env is Env.PROD:
                raise AnswerKeyError(
                    "LIENTHONG_ANSWER_SIGNING_KEY_FILE is not set: in prod signed answers need a "
                    "private key (PEM or JWK) kept outside the database (docs/evidence.md)"
                )
            path = settings.home / DEV_FOLDER / DEV_KEY_FILE
            make_dev_key(path)
        elif not path.is_file():
            raise AnswerKeyError(f"LIENTHONG_ANSWER_SIGNING_KEY_FILE: no file {path}")
        return cls(
            path,
            retired_file=settings.answer_retired_keys_file,
            retention=timedelta(days=settings.answer_key_retention_days),
        )

    def current(self) -> SigningKey:
        """The key to sign with now: the file's, read again if it changed."""
        stamp = _stamp(self.key_file)
        if stamp != self._key_stamp:
            try:
                key = load_signing_key(self.key_file)
            except AnswerKeyError as error:
                log.error(
                    "answer-signing key not reloaded; the previous one signs", error=str(error)
                )
            else:
                if key.kid != self._key.kid:
                    log.info("answer-signing key rotated", kid=key.kid, previous=self._key.kid)
                self._key = key
            self._key_stamp = stamp
        return self._key

    def retired(self) -> list[RetiredKey]:
        stamp = _stamp(self.retired_file)
        if self.retired_file is not None and stamp != self._retired_stamp:
            try:
                self._retired = load_retired_keys(self.retired_file)
            except AnswerKeyError as error:
                log.error("retired answer keys not reloaded", error=str(error))
            self._retired_stamp = stamp
        return self._retired

    def jwks(self, now: datetime | None = None) -> dict[str, Any]:
        """The published keys: the current one, then every retired one still within its
        retention period (a kid once published names one key: the current one wins)."""
        now = now or datetime.now(UTC)
        current = self.current()
        keys = [current.public()]
        seen = {current.kid}
        for key in self.retired():
            kid = key.public["kid"]
            if kid in seen or now > key.retired_at + self.retention:
                continue
            seen.add(kid)
            keys.append(key.public)
        return {"keys": keys}
