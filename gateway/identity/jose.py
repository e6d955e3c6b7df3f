"""Compact JWS, as the gateway reads it: access tokens and officer assertions alike.

Invariants: only the asymmetric algorithms of ALLOWED_ALGORITHMS are accepted (never `none`,
never an HMAC "signed" with a public key); every segment must be canonical unpadded base64url,
so one signed value has exactly one spelling and no byte of it can change unnoticed; a failure is
an AuthenticationError whose message names what is wrong and never echoes the content.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from gateway.identity.errors import AuthenticationError

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "PS256"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict: the base64url alphabet, no padding, and zero unused bits. Python's decoder skips
    foreign characters and ignores the unused bits, which would let several texts carry the
    same signature."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64url_encode(data) != segment:
        raise ValueError("not canonical base64url")
    return data


def b64url_json(segment: str, part: str, *, what: str = "token") -> dict[str, Any]:
    """A segment that must hold a JSON object (`part`: header or payload)."""
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeError) as error:
        raise AuthenticationError(f"malformed {what}: the {part} is not base64url JSON") from error
    if not isinstance(value, dict):
        raise AuthenticationError(f"malformed {what}: the {part} is not a JSON object")
    return value


def signed_header(token: str, *, what: str = "token") -> tuple[dict[str, Any], str]:
    """The header of a compact JWS and its algorithm, checked against the allow-list, before
    any key is looked up."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise AuthenticationError(f"malformed {what}: expected a signed JWT (three parts)")
    header = b64url_json(parts[0], "header", what=what)
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise AuthenticationError(
            f"{what} algorithm {algorithm!r} is not accepted "
            f"(accepted: {', '.join(sorted(ALLOWED_ALGORITHMS))})"
        )
    return header, str(algorithm)


def verified_claims(
    token: str, key: jwk.JWK, algorithm: str, *, what: str = "token"
) -> dict[str, Any]:
    """The claims of a compact JWS whose signature verifies with `key` under `algorithm` (an
    algorithm signed_header accepted)."""
    _, payload, signature = token.split(".")
    try:
        b64url_decode(payload)
        b64url_decode(signature)
    except ValueError as error:
        raise AuthenticationError(f"the {what} signature does not verify") from error
    signed = jws.JWS()
    try:
        signed.deserialize(token)
        signed.verify(key, alg=algorithm)
    except (JWException, ValueError, TypeError) as error:
        raise AuthenticationError(f"the {what} signature does not verify") from error
    try:
        claims = json.loads(signed.payload)
    except ValueError as error:
        raise AuthenticationError(f"malformed {what}: the payload is not JSON") from error
    if not isinstance(claims, dict):
        raise AuthenticationError(f"malformed {what}: the payload is not a JSON object")
    return claims
