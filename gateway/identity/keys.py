"""Agencies' public keys, the ones their software signs officer assertions with.

Invariants:
- only public keys are stored: a JWK with any private member is refused, never stored;
- RSA keys are 2048 to 8192 bits (exponent odd, at least 3), EC keys are P-256: the keys the
  verifier's algorithms (RS256, PS256, ES256) can use; an `alg`, if given, is one of them;
- a `kid` is unique per agency forever (a retired kid is never reused, nor a retired key
  registered again under a new kid), so a kid always means one key;
- an agency has at most MAX_ACTIVE_KEYS active keys (rotation: register the new, retire the old);
- every change to `agency_keys` moves the policy version (trigger), so caches reload the keys
  before the next request: a retired key verifies nothing from then on.

Changes to one agency's keys are serialised by a transaction-scoped advisory lock, so two
registrations at once cannot both pass the checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jwcrypto.jwk import JWK
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.identity.jose import b64url_decode
from gateway.policy.models import Agency, AgencyKey
from registries.history import is_current

MAX_ACTIVE_KEYS = 5
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192  # verification cost grows with the modulus; nobody needs more
KID = re.compile(r"[\w.:-]{1,64}")
# RFC 7518 §6.2.2, §6.3.2 and §6.4: what only a private (or symmetric) key has
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
ALGORITHMS = {"RSA": frozenset({"RS256", "PS256"}), "EC": frozenset({"ES256"})}
EC_COORDINATE_BYTES = 32  # P-256
ACTIVE = "active"
RETIRED = "retired"


class AgencyKeyError(Exception):
    """A key that cannot be registered, found or retired; the message says why."""


class KeyInputError(AgencyKeyError):
    """The JWK itself is unacceptable; `member` names the offending member ("" for the whole)."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(message)
        self.member = member


class KeyNotFoundError(AgencyKeyError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"no {what} {key!r}")
        self.what = what
        self.key = key


class KeyConflictError(AgencyKeyError):
    """The key clashes with the agency's keys (a kid or key material already used, too many)."""


def thumbprint(public: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: the key's identity whatever kid it is registered under."""
    return str(JWK(**public).thumbprint())


def public_jwk(candidate: object) -> dict[str, Any]:
    """The JWK to store: checked, and reduced to the members that define a public signing key
    (other members, e.g. `x5c` or WebCrypto's `ext`, are dropped rather than stored unchecked)."""
    if not isinstance(candidate, Mapping):
        raise KeyInputError("", "must be a JSON object: a public JWK (RFC 7517)")
    private = sorted(PRIVATE_MEMBERS & set(candidate))
    if private:
        raise KeyInputError(
            private[0],
            f"private key member {', '.join(private)}: register the public key only, and make a "
            "new key pair, since this private key has left the agency",
        )
    kid = candidate.get("kid")
    if not isinstance(kid, str) or not KID.fullmatch(kid):
        raise KeyInputError("kid", "required: up to 64 letters, digits or . : _ -")
    kty = candidate.get("kty")
    if kty not in ALGORITHMS:
        raise KeyInputError("kty", "must be RSA (at least 2048 bits) or EC (P-256)")
    stored: dict[str, Any] = {"kty": kty, "kid": kid}
    if "use" in candidate:
        if candidate["use"] != "sig":
            raise KeyInputError("use", "must be sig: the key signs officer assertions")
        stored["use"] = "sig"
    if "alg" in candidate:
        if candidate["alg"] not in ALGORITHMS[kty]:
            raise KeyInputError(
                "alg", f"a {kty} key signs with {' or '.join(sorted(ALGORITHMS[kty]))}"
            )
        stored["alg"] = candidate["alg"]
    if kty == "RSA":
        stored.update(_rsa(candidate))
    else:
        stored.update(_ec(candidate))
    try:
        JWK(**stored).get_op_key("verify")  # the curve point, the modulus: usable at all
    except Exception as error:  # jwcrypto and cryptography raise several kinds
        raise KeyInputError("", "not a usable public key") from error
    return stored


def _member(candidate: Mapping[str, Any], member: str) -> tuple[str, bytes]:
    value = candidate.get(member)
    if not isinstance(value, str) or not value:
        raise KeyInputError(member, "required (base64url)")
    try:
        return value, b64url_decode(value)
    except ValueError as error:
        raise KeyInputError(member, "not base64url (RFC 7515: no padding)") from error


def _rsa(candidate: Mapping[str, Any]) -> dict[str, str]:
    n, modulus = _member(candidate, "n")
    e, exponent = _member(candidate, "e")
    bits = int.from_bytes(modulus, "big").bit_length()
    if bits < MIN_RSA_BITS:
        raise KeyInputError("n", f"an RSA key of {bits} bits is too weak: at least {MIN_RSA_BITS}")
    if bits > MAX_RSA_BITS:
        raise KeyInputError("n", f"an RSA key of {bits} bits is over {MAX_RSA_BITS}")
    value = int.from_bytes(exponent, "big")
    if value < 3 or value % 2 == 0 or len(exponent) > 8:
        raise KeyInputError("e", "must be an odd public exponent of at least 3 (usually AQAB)")
    return {"n": n, "e": e}


def _ec(candidate: Mapping[str, Any]) -> dict[str, str]:
    if candidate.get("crv") != "P-256":
        raise KeyInputError("crv", "must be P-256 (ES256)")
    coordinates = {"crv": "P-256"}
    for member in ("x", "y"):
        text, value = _member(candidate, member)
        if len(value) != EC_COORDINATE_BYTES:
            raise KeyInputError(member, f"a P-256 coordinate is {EC_COORDINATE_BYTES} bytes")
        coordinates[member] = text
    return coordinates


async def active_keys(*, session: AsyncSession, agency: str) -> dict[str, dict[str, Any]]:
    """kid -> public JWK of the agency's active keys: what OfficerAssertions.verify takes."""
    rows = await session.execute(
        select(AgencyKey.kid, AgencyKey.jwk).where(
            AgencyKey.agency == agency, AgencyKey.status == ACTIVE
        )
    )
    return {kid: dict(key) for kid, key in rows}


async def _require_agency(session: AsyncSession, agency: str) -> None:
    """The agency as it stands now (active or suspended); a never registered one is unknown."""
    found = await session.execute(
        select(Agency.client_id).where(Agency.client_id == agency, is_current(Agency))
    )
    if found.scalar_one_or_none() is None:
        raise KeyNotFoundError("agency", agency)


async def _lock(session: AsyncSession, agency: str) -> None:
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext("agency-keys:" + agency)))
    )


async def list_keys(*, session: AsyncSession, agency: str) -> list[AgencyKey]:
    """Every key of the agency, retired ones included, oldest first."""
    await _require_agency(session, agency)
    rows = await session.execute(
        select(AgencyKey)
        .where(AgencyKey.agency == agency)
        .order_by(AgencyKey.created_at, AgencyKey.key_id)
    )
    return list(rows.scalars())


async def get_key(*, session: AsyncSession, agency: str, kid: str) -> AgencyKey:
    await _require_agency(session, agency)
    found = await session.execute(
        select(AgencyKey).where(AgencyKey.agency == agency, AgencyKey.kid == kid)
    )
    key = found.scalar_one_or_none()
    if key is None:
        raise KeyNotFoundError("key", f"{agency}/{kid}")
    return key


async def register_key(
    *, session: AsyncSession, agency: str, jwk: Mapping[str, Any], actor: str
) -> AgencyKey:
    """Registers an active public key for `agency` (see the module's invariants)."""
    await _require_agency(session, agency)
    public = public_jwk(jwk)
    kid = public["kid"]
    await _lock(session, agency)
    existing = list(
        (await session.execute(select(AgencyKey).where(AgencyKey.agency == agency))).scalars()
    )
    material = thumbprint(public)
    for key in existing:
        if key.kid == kid:
            raise KeyConflictError(
                f"agency {agency!r} already has a key {kid!r}"
                + (" (retired: a kid is never reused)" if key.status == RETIRED else "")
            )
        if thumbprint(key.jwk) == material:
            raise KeyConflictError(
                f"this key is already registered for agency {agency!r} as {key.kid!r}"
                + (" and was retired: a retired key is never registered again"
                   if key.status == RETIRED else "")
            )  # fmt: skip
    active = sum(key.status == ACTIVE for key in existing)
    if active >= MAX_ACTIVE_KEYS:
        raise KeyConflictError(
            f"agency {agency!r} already has {MAX_ACTIVE_KEYS} active keys: retire one first"
        )
    row = AgencyKey(agency=agency, kid=kid, jwk=public, status=ACTIVE, created_by=actor)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as error:  # only if someone bypassed the lock
        raise KeyConflictError(f"agency {agency!r} already has a key {kid!r}") from error
    await session.refresh(row)  # created_at is the database's clock
    return row


async def retire_key(*, session: AsyncSession, agency: str, kid: str, actor: str) -> AgencyKey:
    """Retires the key (idempotent: a retired key is returned as it is)."""
    await _require_agency(session, agency)
    await _lock(session, agency)
    found = await session.execute(
        select(AgencyKey).where(AgencyKey.agency == agency, AgencyKey.kid == kid).with_for_update()
    )
    key = found.scalar_one_or_none()
    if key is None:
        raise KeyNotFoundError("key", f"{agency}/{kid}")
    if key.status == RETIRED:
        return key
    await session.execute(
        update(AgencyKey)
        .where(AgencyKey.key_id == key.key_id)
        .values(status=RETIRED, retired_by=actor, retired_at=func.now())  # the database's clock
    )
    await session.refresh(key)
    return key
