"""Signed answers: what a compact JWS from the gateway certifies, how one is made and checked.

A client that sends `Accept: application/jose` to `/graphql` gets, instead of the GraphQL JSON, a
compact JWS (RFC 7515) whose payload is one JSON object of claims (ANSWER_CLAIMS): the issuer and
time, the request id, the agency, the officer (as the access log records it, with how the officer
was verified), purpose and dossier, the HTTP status, the GraphQL response object itself, and
`access_log`: the entries the request wrote (chain key, sequence, hash) and the heads of the
chains they were written to right after the write. An agency keeping one is a witness of the log:
a later rewrite of the chain cannot match the head it holds.

`verify_answer` is the one check (used by `lienthong verify-answer` and by the audit's check of
quoted heads): the header's `typ` and algorithm, the key named by `kid` in a JWKS (its `alg` and
`use` must agree), the signature, then the claims' shape. Segments must be canonical base64url
(gateway.identity.jose), so a signed answer has one spelling and no byte of it can change
unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from jwcrypto import jwk, jws

from gateway.identity.errors import AuthenticationError
from gateway.identity.jose import signed_header, verified_claims

MEDIA_TYPE = "application/jose"
JWKS_PATH = "/.well-known/answer-keys.json"
TYP = "lienthong-answer+jws"  # a signed answer is never mistaken for a token or a checkpoint
ANSWER_CLAIMS = (
    "iss", "iat", "request_id", "agency", "officer", "purpose", "dossier", "status", "response",
    "access_log",
)  # fmt: skip
WHAT = "signed answer"


class AnswerRejected(Exception):  # noqa: N818 - a verdict on the answer, not a failure
    """A signed answer that does not verify. `reason` is one of `malformed`, `unknown kid`,
    `bad signature`; the message says what exactly, never echoing the content."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class QuotedPosition:
    """A row of an access-log chain, as a signed answer quotes it (hash in hex)."""

    chain_key: str
    seq: int
    hash: str


@dataclass(frozen=True)
class QuotedEntry(QuotedPosition):
    """An access-log entry the request wrote."""


@dataclass(frozen=True)
class QuotedHead(QuotedPosition):
    """The head of a chain right after the request's entries were written to it: the log must
    still hold that row with that hash."""


_Quoted = TypeVar("_Quoted", QuotedEntry, QuotedHead)


@dataclass(frozen=True)
class SignedAnswer:
    """The claims of a verified signed answer."""

    kid: str
    issuer: str
    issued_at: datetime
    request_id: str | None
    agency: str | None
    officer: Mapping[str, Any] | None
    purpose: str | None
    dossier: str | None
    status: int
    response: Mapping[str, Any]
    entries: list[QuotedEntry] = field(default_factory=list)
    heads: list[QuotedHead] = field(default_factory=list)


def algorithm_for(key: jwk.JWK) -> str:
    """The JWS algorithm a key signs with: ES256 for P-256 keys, RS256 for RSA."""
    kty = key.get("kty")
    if kty == "EC" and key.get("crv") == "P-256":
        return "ES256"
    if kty == "RSA":
        return "RS256"
    raise ValueError("an answer-signing key is EC P-256 or RSA (at least 2048 bits)")


def sign_answer(claims: Mapping[str, Any], key: jwk.JWK, *, kid: str) -> str:
    """A compact JWS of `claims` (compact UTF-8 JSON) under `key`, its header naming `kid`."""
    algorithm = algorithm_for(key)
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signed = jws.JWS(payload)
    signed.add_signature(key, alg=algorithm, protected={"alg": algorithm, "kid": kid, "typ": TYP})
    return str(signed.serialize(compact=True))


def verify_answer(token: str, jwks: Mapping[str, Any]) -> SignedAnswer:
    """The claims of `token` if its signature verifies with the key its `kid` names in `jwks`
    (a JWKS object: `{"keys": [...]}`); AnswerRejected otherwise."""
    token = token.strip()
    try:
        header, algorithm = signed_header(token, what=WHAT)
    except AuthenticationError as error:
        raise AnswerRejected("malformed", str(error)) from error
    if header.get("typ") != TYP:
        raise AnswerRejected("malformed", f"not a signed answer: the header's typ is not {TYP}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AnswerRejected("malformed", "the header names no kid")
    key = _published_key(jwks, kid, algorithm)
    try:
        claims = verified_claims(token, key, algorithm, what=WHAT)
    except AuthenticationError as error:
        reason = "malformed" if str(error).startswith("malformed") else "bad signature"
        raise AnswerRejected(reason, str(error)) from error
    return _answer(kid, claims)


def _published_key(jwks: Mapping[str, Any], kid: str, algorithm: str) -> jwk.JWK:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, Sequence):
        raise AnswerRejected("malformed", 'the JWKS is not a JSON object with "keys"')
    for candidate in keys:
        if not isinstance(candidate, Mapping) or candidate.get("kid") != kid:
            continue
        if candidate.get("use", "sig") != "sig" or candidate.get("alg", algorithm) != algorithm:
            raise AnswerRejected(
                "bad signature", f"key {kid!r} is not published for {algorithm} signatures"
            )
        try:
            return jwk.JWK(**dict(candidate))
        except Exception as error:  # jwcrypto raises several kinds for a broken JWK
            raise AnswerRejected("malformed", f"key {kid!r} in the JWKS is not usable") from error
    raise AnswerRejected(
        "unknown kid", f"key {kid!r} is not in the JWKS (never published, or retired and dropped)"
    )


def _answer(kid: str, claims: Mapping[str, Any]) -> SignedAnswer:
    missing = [name for name in ANSWER_CLAIMS if name not in claims]
    if missing:
        raise AnswerRejected("malformed", f"the payload lacks {', '.join(missing)}")
    log = claims["access_log"]
    if not isinstance(log, Mapping):
        raise AnswerRejected("malformed", "access_log is not an object")
    try:
        entries = [_position(QuotedEntry, item) for item in log.get("entries", [])]
        heads = [_position(QuotedHead, item) for item in log.get("heads", [])]
        issued_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise AnswerRejected("malformed", f"the payload's claims are malformed: {error}") from error
    response, officer, status = claims["response"], claims["officer"], claims["status"]
    if not isinstance(response, Mapping) or not isinstance(status, int):
        raise AnswerRejected("malformed", "response is not an object, or status not a number")
    if officer is not None and not isinstance(officer, Mapping):
        raise AnswerRejected("malformed", "officer is not an object")
    return SignedAnswer(
        kid=kid,
        issuer=str(claims["iss"]),
        issued_at=issued_at,
        request_id=_optional(claims["request_id"]),
        agency=_optional(claims["agency"]),
        officer=officer,
        purpose=_optional(claims["purpose"]),
        dossier=_optional(claims["dossier"]),
        status=status,
        response=response,
        entries=entries,
        heads=heads,
    )


def _position(kind: type[_Quoted], item: object) -> _Quoted:
    if not isinstance(item, Mapping):
        raise TypeError("an entry or head is not an object")
    chain_key, seq, digest = item["chain_key"], item["seq"], item["hash"]
    if not isinstance(chain_key, str) or not isinstance(seq, int) or not isinstance(digest, str):
        raise TypeError("chain_key, seq and hash must be a string, a number and hex")
    bytes.fromhex(digest)  # ValueError if not hex
    return kind(chain_key=chain_key, seq=seq, hash=digest)


def _optional(value: object) -> str | None:
    return None if value is None else str(value)
