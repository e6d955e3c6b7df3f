"""Verified officers: the person inside an agency behind a request.

An officer comes from one of three places, and says which (`Officer.verified`):

- "assertion": a JWT in `X-Officer-Assertion` (the shape of an RFC 7523 assertion; the model is
  X-Road's member-asserted user id), signed by the agency's own software with one of the
  agency's ACTIVE registered keys (`kid`), issued by the agency itself (`iss` = the access
  token's `azp`), about the officer (`sub`), for the gateway (`aud`), short-lived (`exp`, `iat`,
  `exp - iat` bounded), naming the officer's `name` and `unit`;
- "token": an access token obtained by RFC 8693 token exchange (Keycloak), carrying the realm
  role `officer` and the claims `preferred_username`, `name` and `unit`;
- "header": the free-text `X-Officer` of development, recorded as unverified (the router builds
  it; production refuses it).

Invariants: an assertion verifies only against a key present in the `keys` given to that very
call, so a key retired (or replaced under the same kid) stops verifying at once, even for an
assertion verified a moment before; a verified assertion is reused for at most
VERIFIED_TTL_SECONDS and never past its own `exp`; its time claims are checked on every use.
Every refusal is an OfficerError (an AuthenticationError) that names what is wrong without
echoing the assertion's claims.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jwcrypto import jwk

from gateway.identity.errors import AuthenticationError
from gateway.identity.jose import signed_header, verified_claims

OFFICER_ASSERTION_HEADER = "x-officer-assertion"
OFFICER_ROLE = "officer"
OFFICER_ID = re.compile(r"[\w.@:-]{1,64}")  # X-Officer's pattern: one id for every source
KEY_ID = re.compile(r"[\w.:-]{1,64}")  # a registered key's kid (gateway.identity.keys)
MAX_ASSERTION_BYTES = 8192
MAX_TEXT_CHARS = 200
DEFAULT_LEEWAY_SECONDS = 30
# A verified assertion is reused (no signature check) for at most this long: the agency's
# software sends the same assertion for every call of one officer's task.
VERIFIED_TTL_SECONDS = 60
VERIFIED_MAX_ASSERTIONS = 10_000
ASSERTION = "officer assertion"

Verification = Literal["assertion", "token", "header"]


class OfficerError(AuthenticationError):
    """An officer assertion (or a token naming an officer) that cannot be trusted."""


@dataclass(frozen=True, slots=True)
class Officer:
    id: str
    name: str | None
    unit: str | None
    verified: Verification  # "header": dev-only X-Officer, unverified

    def as_log(self) -> dict[str, Any]:
        """The officer as the access log records it."""
        return {"id": self.id, "name": self.name, "unit": self.unit, "verified": self.verified}


def assertion_claims(
    *,
    agency: str,
    officer: str,
    name: str,
    unit: str,
    audience: str,
    issued_at: int,
    ttl_seconds: int,
    jti: str | None = None,
) -> dict[str, Any]:
    """The claims of an officer assertion, as agency software must write them."""
    claims: dict[str, Any] = {
        "iss": agency,
        "sub": officer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "name": name,
        "unit": unit,
    }
    if jti is not None:
        claims["jti"] = jti
    return claims


def token_claims(*, officer: str, name: str, unit: str) -> dict[str, Any]:
    """The claims (besides the `officer` role) a token-exchange token names its officer with:
    what Keycloak's username, full-name and `unit` attribute mappers write."""
    return {"preferred_username": officer, "name": name, "unit": unit}


def officer_from_claims(claims: Mapping[str, Any], roles: frozenset[str]) -> Officer | None:
    """The officer a verified access token names (token exchange), or None when it names none.

    A token with the `officer` role must name the officer completely: one that lacks a claim is
    refused rather than treated as naming nobody, so that a broken mapper fails loudly."""
    if OFFICER_ROLE not in roles:
        return None
    return read_officer(claims, id_claim="preferred_username", what="token", verified="token")


def read_officer(
    source: Mapping[str, Any], *, id_claim: str, what: str, verified: Verification
) -> Officer:
    """The officer `source` names under `id_claim`, `name` and `unit`, checked: the id against
    X-Officer's pattern, the name and unit as printable text of at most 200 characters."""
    return Officer(
        id=_officer_id(source.get(id_claim), claim=id_claim, what=what),
        name=_text(source.get("name"), claim="name", what=what),
        unit=_text(source.get("unit"), claim="unit", what=what),
        verified=verified,
    )


@dataclass(frozen=True, slots=True)
class _Verified:
    until: float  # clock time after which the signature is checked again
    agency: str
    kid: str
    key: dict[str, Any]  # the JWK it verified with: the entry holds only while `keys` has it
    officer: Officer
    expires: float
    issued: float
    not_before: float | None


class OfficerAssertions:
    """Verifies `X-Officer-Assertion` values against the calling agency's active keys."""

    def __init__(
        self,
        *,
        audience: str,
        max_lifetime_seconds: int,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self.max_lifetime = max_lifetime_seconds
        self.leeway = leeway_seconds
        self.clock = clock
        self._verified: dict[str, _Verified] = {}
        self._key_objects: dict[str, jwk.JWK] = {}

    def verify(
        self, assertion: str, *, agency: str, keys: Mapping[str, Mapping[str, Any]]
    ) -> Officer:
        """The officer `assertion` names, if `agency` signed it with one of `keys` (kid -> public
        JWK of its active keys, as gateway.identity.keys.active_keys returns them)."""
        if not assertion:
            raise OfficerError(
                "no officer assertion: send X-Officer-Assertion: <JWT signed with an agency key>"
            )
        if len(assertion) > MAX_ASSERTION_BYTES:
            raise OfficerError(f"the officer assertion is larger than {MAX_ASSERTION_BYTES} bytes")
        now = self.clock()
        cached = self._verified.get(assertion)
        if (
            cached is not None
            and cached.until > now
            and cached.agency == agency
            and keys.get(cached.kid) == cached.key
        ):
            # what the signed text says cannot change; only the time it is used at can
            self._in_time(cached.expires, cached.issued, cached.not_before, now=now)
            return cached.officer
        try:
            header, algorithm = signed_header(assertion, what=ASSERTION)
        except AuthenticationError as error:
            raise OfficerError(str(error)) from error
        kid = header.get("kid")
        if kid is None:
            raise OfficerError(
                "the officer assertion names no key (kid): it must name one of the agency's "
                "registered keys"
            )
        if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
            raise OfficerError("malformed officer assertion: the kid is not a key id")
        public = keys.get(kid)
        if public is None:
            raise OfficerError(
                f"the officer assertion is signed with key {kid!r}, which is not an active key "
                f"of agency {agency!r}"
            )
        key = self._key(public)
        try:
            claims = verified_claims(assertion, key, algorithm, what=ASSERTION)
        except AuthenticationError as error:
            raise OfficerError(str(error)) from error
        officer = self._officer(claims, agency=agency, now=now)
        if len(self._verified) >= VERIFIED_MAX_ASSERTIONS:
            self._verified.clear()  # a bound, not an eviction policy: misses only cost a check
        expires = float(claims["exp"])
        self._verified[assertion] = _Verified(
            until=min(now + VERIFIED_TTL_SECONDS, expires + self.leeway),
            agency=agency,
            kid=kid,
            key=dict(public),
            officer=officer,
            expires=expires,
            issued=float(claims["iat"]),
            not_before=float(claims["nbf"]) if "nbf" in claims else None,
        )
        return officer

    def _key(self, public: Mapping[str, Any]) -> jwk.JWK:
        """The key object of a JWK, built once per key text (parsing an RSA key is not free)."""
        text = json.dumps(public, sort_keys=True)
        key = self._key_objects.get(text)
        if key is None:
            try:
                key = jwk.JWK(**public)
            except Exception as error:  # jwcrypto raises several kinds for a bad stored key
                raise OfficerError("the agency's key cannot be used") from error
            if len(self._key_objects) >= VERIFIED_MAX_ASSERTIONS:
                self._key_objects.clear()
            self._key_objects[text] = key
        return key

    def _officer(self, claims: Mapping[str, Any], *, agency: str, now: float) -> Officer:
        if claims.get("iss") != agency:
            raise OfficerError(
                f"the officer assertion's issuer (iss) is not the calling agency {agency!r}"
            )
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise OfficerError(f"the officer assertion is not meant for {self.audience}")
        expires = _instant(claims, "exp", "expiry")
        issued = _instant(claims, "iat", "issue time")
        if expires - issued > self.max_lifetime:
            raise OfficerError(
                f"the officer assertion lives longer than {self.max_lifetime} s (exp - iat)"
            )
        if expires <= issued:
            raise OfficerError("the officer assertion expires before it is issued")
        not_before = _instant(claims, "nbf", "start") if "nbf" in claims else None
        self._in_time(expires, issued, not_before, now=now)
        jti = claims.get("jti")
        if jti is not None and not (isinstance(jti, str) and 0 < len(jti) <= MAX_TEXT_CHARS):
            raise OfficerError("malformed officer assertion: jti is not a short string")
        return read_officer(claims, id_claim="sub", what=ASSERTION, verified="assertion")

    def _in_time(
        self, expires: float, issued: float, not_before: float | None, *, now: float
    ) -> None:
        if now > expires + self.leeway:
            raise OfficerError("the officer assertion has expired")
        if issued > now + self.leeway:
            raise OfficerError("the officer assertion is issued in the future (iat)")
        if not_before is not None and not_before > now + self.leeway:
            raise OfficerError("the officer assertion is not valid yet (nbf)")


def _instant(claims: Mapping[str, Any], claim: str, meaning: str) -> float:
    """A NumericDate; JSON's NaN and infinities are refused (NaN compares false with anything,
    which would make an assertion never expire)."""
    value = claims.get(claim)
    if value is None:
        raise OfficerError(f"the officer assertion has no {meaning} ({claim})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OfficerError(f"malformed officer assertion: {claim} is not a number")
    return float(value)


def _officer_id(value: object, *, claim: str, what: str) -> str:
    if value is None or value == "":
        raise OfficerError(f"the {what} names no officer ({claim})")
    if not isinstance(value, str) or not OFFICER_ID.fullmatch(value):
        raise OfficerError(
            f"the {what}'s {claim} is not an officer id (up to 64 letters, digits or . @ : _ -)"
        )
    return value


def _text(value: object, *, claim: str, what: str) -> str:
    """A name or unit: Vietnamese text welcome, in NFC so that the same name composed or
    decomposed logs the same; control and format characters refused, since it is logged."""
    if value is None:
        raise OfficerError(f"the {what} has no {claim} claim")
    text = unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else ""
    if not 0 < len(text) <= MAX_TEXT_CHARS or any(
        unicodedata.category(char).startswith("C") for char in text
    ):
        raise OfficerError(
            f"the {what}'s {claim} must be 1 to {MAX_TEXT_CHARS} printable characters"
        )
    return text
