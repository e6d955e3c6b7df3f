"""Officer assertions and token-exchange officers, with real signed JWTs: every way an assertion
can be wrong is refused with a message saying what is wrong, a key taken out of the agency's
keys stops verifying at once (cache or not), and no single changed byte gets through."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwcrypto import jwk, jwt

from gateway.identity import officers
from gateway.identity.dev_issuer import DevAgencyKeys, DevIssuer
from gateway.identity.errors import AuthenticationError
from gateway.identity.factory import build_verifier
from gateway.identity.jose import b64url_encode, verified_claims
from gateway.identity.officers import (
    OFFICER_ASSERTION_HEADER,
    Officer,
    OfficerAssertions,
    OfficerError,
    officer_from_claims,
)
from lienthong.settings import Settings

AGENCY = "motcua-danang"
OTHER = "thue-hcm"
AUDIENCE = "lienthong-gateway"
NOW = 1_780_000_000.0
NAME = "Nguyễn Văn An"
UNIT = "Bộ phận một cửa UBND quận Hải Châu"
REALM = json.loads(
    (Path(__file__).resolve().parents[4] / "infra/keycloak/realm-lienthong.json").read_text(
        encoding="utf-8"
    )
)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevAgencyKeys:
    return DevAgencyKeys(tmp_path_factory.mktemp("officer-keys"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def assertions(clock: Clock) -> OfficerAssertions:
    return OfficerAssertions(audience=AUDIENCE, max_lifetime_seconds=600, clock=clock)


def keys_of(dev_keys: DevAgencyKeys, agency: str) -> dict[str, dict[str, Any]]:
    """What active_keys() returns for an agency with its one dev key registered."""
    public = dev_keys.public_jwk(agency)
    return {public["kid"]: public}


def make(dev_keys: DevAgencyKeys, agency: str = AGENCY, **overrides: Any) -> str:
    return dev_keys.assertion(
        agency=agency, officer="an.nv", name=NAME, unit=UNIT, audience=AUDIENCE, now=NOW,
        **overrides,
    )  # fmt: skip


def refused(
    assertions: OfficerAssertions,
    assertion: str,
    message: str,
    *,
    agency: str = AGENCY,
    keys: dict[str, dict[str, Any]],
) -> str:
    with pytest.raises(OfficerError) as raised:
        assertions.verify(assertion, agency=agency, keys=keys)
    assert message in str(raised.value)
    return str(raised.value)


def test_a_good_assertion_names_its_officer(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    officer = assertions.verify(make(dev_keys), agency=AGENCY, keys=keys_of(dev_keys, AGENCY))
    assert officer == Officer(id="an.nv", name=NAME, unit=UNIT, verified="assertion")
    assert officer.as_log() == {"id": "an.nv", "name": NAME, "unit": UNIT, "verified": "assertion"}
    assert OFFICER_ASSERTION_HEADER == "x-officer-assertion"


def test_the_audience_may_be_a_list_and_nbf_and_jti_are_optional(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    assertion = make(dev_keys, claims={"aud": ["other", AUDIENCE], "nbf": NOW - 5, "jti": "j-1"})
    assert assertions.verify(assertion, agency=AGENCY, keys=keys_of(dev_keys, AGENCY)).id == "an.nv"
    assertion = make(dev_keys, claims={"jti": None})
    assert assertions.verify(assertion, agency=AGENCY, keys=keys_of(dev_keys, AGENCY))


def test_a_decomposed_vietnamese_name_is_kept_composed(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    decomposed = unicodedata.normalize("NFD", NAME)
    assert decomposed != NAME
    officer = assertions.verify(
        make(dev_keys, claims={"name": decomposed}), agency=AGENCY, keys=keys_of(dev_keys, AGENCY)
    )
    assert officer.name == NAME


def test_signed_by_another_agencys_key(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    theirs = make(dev_keys, agency=OTHER, claims={"iss": AGENCY})
    message = refused(assertions, theirs, "which is not an active key of agency 'motcua-danang'",
                      keys=keys_of(dev_keys, AGENCY))  # fmt: skip
    assert message.startswith("the officer assertion is signed with key 'dev-")
    # the other agency's key, passed off under our kid: the signature gives it away
    ours = dev_keys.kid(AGENCY)
    forged = make(dev_keys, agency=OTHER, claims={"iss": AGENCY}, header={"kid": ours})
    refused(assertions, forged, "the officer assertion signature does not verify",
            keys=keys_of(dev_keys, AGENCY))  # fmt: skip


def test_issuer_must_be_the_calling_agency(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    # the calling agency (azp) is thue-hcm, but the assertion is motcua-danang's own
    refused(assertions, make(dev_keys), "issuer (iss) is not the calling agency 'thue-hcm'",
            agency=OTHER, keys=keys_of(dev_keys, AGENCY))  # fmt: skip
    refused(assertions, make(dev_keys, claims={"iss": OTHER}), "is not the calling agency",
            keys=keys_of(dev_keys, AGENCY))  # fmt: skip


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"aud": "another-gateway"}, "the officer assertion is not meant for lienthong-gateway"),
        ({"aud": ["a", "b"]}, "not meant for lienthong-gateway"),
        ({"aud": None}, "not meant for lienthong-gateway"),
        ({"exp": None}, "the officer assertion has no expiry (exp)"),
        ({"iat": None}, "the officer assertion has no issue time (iat)"),
        ({"exp": "soon"}, "malformed officer assertion: exp is not a number"),
        ({"exp": True}, "exp is not a number"),
        ({"exp": float("nan")}, "exp is not a number"),
        ({"iat": float("-inf")}, "iat is not a number"),
        ({"nbf": "now"}, "nbf is not a number"),
        ({"exp": int(NOW) + 601}, "lives longer than 600 s (exp - iat)"),
        ({"exp": int(NOW) - 1}, "expires before it is issued"),
        ({"iat": int(NOW) + 60, "exp": int(NOW) + 120}, "issued in the future (iat)"),
        ({"nbf": int(NOW) + 60}, "not valid yet (nbf)"),
        ({"sub": None}, "the officer assertion names no officer (sub)"),
        ({"sub": ""}, "names no officer (sub)"),
        ({"sub": "an nv"}, "sub is not an officer id (up to 64 letters, digits or . @ : _ -)"),
        ({"sub": "a" * 65}, "sub is not an officer id"),
        ({"sub": 42}, "sub is not an officer id"),
        ({"name": None}, "the officer assertion has no name claim"),
        ({"unit": None}, "the officer assertion has no unit claim"),
        ({"name": ""}, "name must be 1 to 200 printable characters"),
        ({"name": "   "}, "name must be 1 to 200 printable characters"),
        ({"name": "x" * 201}, "name must be 1 to 200 printable characters"),
        ({"unit": "Bộ phận\nmột cửa"}, "unit must be 1 to 200 printable characters"),
        ({"unit": "\u202eabc"}, "unit must be 1 to 200 printable characters"),  # bidi override
        ({"name": ["An"]}, "name must be 1 to 200 printable characters"),
        ({"jti": 7}, "malformed officer assertion: jti is not a short string"),
    ],
)
def test_wrong_claims_are_refused(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions, claims: dict[str, Any], message: str
) -> None:
    refused(assertions, make(dev_keys, claims=claims), message, keys=keys_of(dev_keys, AGENCY))


def test_expiry_with_leeway(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions, clock: Clock
) -> None:
    assertion = make(dev_keys, ttl=60)
    keys = keys_of(dev_keys, AGENCY)
    clock.now = NOW + 60 + 30  # within the 30 s leeway
    assert assertions.verify(assertion, agency=AGENCY, keys=keys)
    clock.now = NOW + 60 + 31
    refused(assertions, assertion, "the officer assertion has expired", keys=keys)
    clock.now = NOW - 30  # issued 30 s "in the future": clocks drift
    assert OfficerAssertions(audience=AUDIENCE, max_lifetime_seconds=600, clock=clock).verify(
        assertion, agency=AGENCY, keys=keys
    )


def test_the_lifetime_bound_is_the_setting(dev_keys: DevAgencyKeys, clock: Clock) -> None:
    strict = OfficerAssertions(audience=AUDIENCE, max_lifetime_seconds=60, clock=clock)
    refused(strict, make(dev_keys, ttl=61), "lives longer than 60 s",
            keys=keys_of(dev_keys, AGENCY))  # fmt: skip
    assert strict.verify(make(dev_keys, ttl=60), agency=AGENCY, keys=keys_of(dev_keys, AGENCY))


def _unsigned(header: dict[str, Any], payload: str) -> str:
    return f"{b64url_encode(json.dumps(header).encode())}.{payload}"


def test_alg_none_and_hmac_are_refused(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    keys = keys_of(dev_keys, AGENCY)
    kid = dev_keys.kid(AGENCY)
    payload = make(dev_keys).split(".")[1]
    none = _unsigned({"alg": "none", "kid": kid}, payload) + "."
    refused(assertions, none, "officer assertion algorithm 'none' is not accepted "
            "(accepted: ES256, PS256, RS256)", keys=keys)  # fmt: skip
    signing_input = _unsigned({"alg": "HS256", "kid": kid}, payload)
    secret = json.dumps(keys[kid]).encode()  # an HMAC keyed with the public key
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    refused(assertions, f"{signing_input}.{b64url_encode(mac)}", "'HS256' is not accepted",
            keys=keys)  # fmt: skip


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"kid": None}, "names no key (kid): it must name one of the agency's registered keys"),
        ({"kid": "no-such-key"}, "signed with key 'no-such-key', which is not an active key"),
        ({"kid": "bad kid!"}, "malformed officer assertion: the kid is not a key id"),
        ({"kid": 12}, "the kid is not a key id"),
    ],
)
def test_the_key_id_must_name_an_active_key(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions, header: dict[str, Any], message: str
) -> None:
    assertion = make(dev_keys, header=header)
    refused(assertions, assertion, message, keys=keys_of(dev_keys, AGENCY))


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        ("", "no officer assertion: send X-Officer-Assertion"),
        ("abc", "malformed officer assertion: expected a signed JWT (three parts)"),
        ("a.b.c.d", "expected a signed JWT (three parts)"),
        ("!!!.e30.sig", "malformed officer assertion: the header is not base64url JSON"),
        (f"{b64url_encode(b'[1]')}.e30.sig", "the header is not a JSON object"),
        ("x" * 8193, "the officer assertion is larger than 8192 bytes"),
    ],
)
def test_malformed_assertions(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions, assertion: str, message: str
) -> None:
    refused(assertions, assertion, message, keys=keys_of(dev_keys, AGENCY))


def test_errors_are_authentication_errors(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    with pytest.raises(AuthenticationError):
        assertions.verify("abc", agency=AGENCY, keys=keys_of(dev_keys, AGENCY))


def test_a_non_canonical_signature_is_refused(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    """The last base64url character of a 256-byte signature carries 4 unused bits: setting one
    would decode to the same bytes with a lenient decoder."""
    header, payload, signature = make(dev_keys).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) ^ 1]
    refused(assertions, f"{header}.{payload}.{signature[:-1]}{last}", "signature does not verify",
            keys=keys_of(dev_keys, AGENCY))  # fmt: skip


def test_rotation_the_old_key_stops_at_once_even_cached(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions, tmp_path: Path
) -> None:
    old = keys_of(dev_keys, AGENCY)
    assertion = make(dev_keys)
    assert assertions.verify(assertion, agency=AGENCY, keys=old)  # now cached
    new_keys = DevAgencyKeys(tmp_path)
    new = keys_of(new_keys, AGENCY)
    both = {**old, **new}
    assert assertions.verify(assertion, agency=AGENCY, keys=both)  # during the overlap
    # the old key retired: active_keys() no longer has its kid
    refused(assertions, assertion, "is not an active key of agency", keys=new)
    refused(assertions, assertion, "is not an active key of agency", keys={})
    # a kid now naming another key material must not verify from the cache either
    (kid,) = old
    swapped = {kid: {**next(iter(new.values())), "kid": kid}}
    refused(assertions, assertion, "signature does not verify", keys=swapped)
    fresh = new_keys.assertion(agency=AGENCY, officer="an.nv", name=NAME, unit=UNIT, now=NOW)
    assert assertions.verify(fresh, agency=AGENCY, keys=new).verified == "assertion"


def test_the_cache_skips_the_signature_but_not_the_checks(
    dev_keys: DevAgencyKeys,
    assertions: OfficerAssertions,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    original: Callable[..., dict[str, Any]] = verified_claims

    def counting(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        checked.append(token)
        return original(token, *args, **kwargs)

    monkeypatch.setattr(officers, "verified_claims", counting)
    keys = keys_of(dev_keys, AGENCY)
    assertion = make(dev_keys, ttl=300)
    for _ in range(3):
        assertions.verify(assertion, agency=AGENCY, keys=keys)
    assert len(checked) == 1
    # another calling agency never gets a hit from this entry
    refused(assertions, assertion, "not the calling agency", agency=OTHER, keys=keys)
    assert len(checked) == 2
    clock.now = NOW + officers.VERIFIED_TTL_SECONDS + 1  # the entry lapsed: checked again
    assertions.verify(assertion, agency=AGENCY, keys=keys)
    assert len(checked) == 3
    clock.now = NOW + 300 + 31  # past exp, whatever the cache holds
    refused(assertions, assertion, "has expired", keys=keys)


def test_a_key_given_as_a_mapping_compares_by_content(
    dev_keys: DevAgencyKeys, assertions: OfficerAssertions
) -> None:
    keys = keys_of(dev_keys, AGENCY)
    assertion = make(dev_keys)
    assertions.verify(assertion, agency=AGENCY, keys=keys)
    copied = json.loads(json.dumps(keys))  # what a reload of active_keys() gives
    assert assertions.verify(assertion, agency=AGENCY, keys=copied)


def test_an_ec_key_verifies_es256(assertions: OfficerAssertions) -> None:
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    public = {**json.loads(key.export_public()), "kid": "ec-1"}
    claims = officers.assertion_claims(
        agency=AGENCY, officer="an.nv", name=NAME, unit=UNIT, audience=AUDIENCE,
        issued_at=int(NOW), ttl_seconds=60,
    )  # fmt: skip
    token = jwt.JWT(header={"alg": "ES256", "kid": "ec-1"}, claims=claims)
    token.make_signed_token(key)
    officer = assertions.verify(token.serialize(), agency=AGENCY, keys={"ec-1": public})
    assert officer.unit == UNIT


# Property: any single changed character anywhere in a valid assertion is refused.
@pytest.fixture(scope="module")
def valid(dev_keys: DevAgencyKeys) -> tuple[str, dict[str, dict[str, Any]]]:
    return make(dev_keys, ttl=600), keys_of(dev_keys, AGENCY)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_single_byte_change_is_refused(
    valid: tuple[str, dict[str, dict[str, Any]]], data: st.DataObject
) -> None:
    assertion, keys = valid
    position = data.draw(st.integers(min_value=0, max_value=len(assertion) - 1), label="position")
    replacement = data.draw(
        st.characters(min_codepoint=0, max_codepoint=255).filter(
            lambda c: c != assertion[position]
        ),
        label="replacement",
    )
    changed = assertion[:position] + replacement + assertion[position + 1 :]
    verifier = OfficerAssertions(audience=AUDIENCE, max_lifetime_seconds=600, clock=lambda: NOW)
    assert verifier.verify(assertion, agency=AGENCY, keys=keys)
    with pytest.raises(AuthenticationError):
        verifier.verify(changed, agency=AGENCY, keys=keys)


# Token exchange (RFC 8693): the officer named by the access token itself.
def test_a_token_exchange_token_names_a_verified_officer() -> None:
    claims = {"preferred_username": "an.nv", "name": NAME, "unit": UNIT}
    officer = officer_from_claims(claims, frozenset({"agency", "officer"}))
    assert officer == Officer(id="an.nv", name=NAME, unit=UNIT, verified="token")
    assert officer_from_claims(claims, frozenset({"agency"})) is None


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"preferred_username": None}, "the token names no officer (preferred_username)"),
        ({"preferred_username": "service account"}, "preferred_username is not an officer id"),
        ({"unit": None}, "the token has no unit claim"),
        ({"name": ""}, "the token's name must be 1 to 200 printable characters"),
    ],
)
def test_an_officer_token_must_name_the_officer_completely(
    claims: dict[str, Any], message: str
) -> None:
    complete = {"preferred_username": "an.nv", "name": NAME, "unit": UNIT}
    with pytest.raises(OfficerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        officer_from_claims({**complete, **claims}, frozenset({"officer"}))


async def test_the_verifier_puts_the_token_officer_on_the_principal(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://x@127.0.0.1:1/x")
    issuer = DevIssuer(settings)
    verifier = await build_verifier(settings)
    exchanged = issuer.mint_officer(agency=AGENCY, officer="an.nv", name=NAME, unit=UNIT)
    principal = await verifier.verify(exchanged)
    assert principal.agency == AGENCY
    assert principal.is_agency
    assert principal.officer == Officer(id="an.nv", name=NAME, unit=UNIT, verified="token")
    assert (await verifier.verify(issuer.mint(agency=AGENCY))).officer is None
    broken = issuer.mint(agency=AGENCY, roles=["agency", "officer"], extra_claims={"name": NAME})
    with pytest.raises(AuthenticationError, match="names no officer"):
        await verifier.verify(broken)


def test_the_realm_export_maps_what_the_gateway_reads() -> None:
    """Each sample agency client can exchange tokens and writes the three claims
    officer_from_claims reads; `officer` is a realm role."""
    assert "officer" in {role["name"] for role in REALM["roles"]["realm"]}
    clients = {client["clientId"]: client for client in REALM["clients"]}
    for agency in ("motcua-danang", "thue-hcm", "tainguyen-danang", "nganhang-abc"):
        client = clients[agency]
        assert client["attributes"]["standard.token.exchange.enabled"] == "true"
        mappers = {m["name"]: m for m in client["protocolMappers"]}
        assert mappers["officer-username"]["config"]["claim.name"] == "preferred_username"
        assert mappers["officer-name"]["protocolMapper"] == "oidc-full-name-mapper"
        assert mappers["officer-unit"]["config"]["user.attribute"] == "unit"
        assert mappers["officer-unit"]["config"]["claim.name"] == "unit"
    portal = clients["motcua-danang-portal"]
    assert portal["publicClient"] is True
    audience = {m["config"].get("included.client.audience") for m in portal["protocolMappers"]}
    assert "motcua-danang" in audience  # so that motcua-danang may exchange its tokens
    profile = json.loads(
        REALM["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"][
            "kc.user.profile.config"
        ][0]
    )
    unit = next(a for a in profile["attributes"] if a["name"] == "unit")
    assert unit["permissions"]["edit"] == ["admin"]
    assert unit["validations"]["length"]["max"] == officers.MAX_TEXT_CHARS
    demo = json.loads(
        (Path(__file__).resolve().parents[4] / "infra/keycloak/demo/officers.json").read_text(
            encoding="utf-8"
        )
    )
    (user,) = demo["users"]
    token = {
        "preferred_username": user["username"],
        "name": f"{user['firstName']} {user['lastName']}",  # Keycloak's full-name mapper
        "unit": user["attributes"]["unit"][0],
    }
    assert officer_from_claims(token, frozenset(user["realmRoles"])) == Officer(
        id="nguyenvanan", name=NAME, unit=UNIT, verified="token"
    )
    assert "credentials" not in user  # no password is committed


def test_the_dev_keys_are_private_files(dev_keys: DevAgencyKeys) -> None:
    dev_keys.kid(AGENCY)
    path = dev_keys.folder / f"{AGENCY}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    public = dev_keys.public_jwk(AGENCY)
    assert not {"d", "p", "q"} & set(public)
    with pytest.raises(ValueError, match="not a client id"):
        dev_keys.kid("../escape")
