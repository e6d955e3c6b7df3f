"""Token verification with real signed tokens: every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from jwcrypto import jwk, jwt

from gateway.identity.dev_issuer import DevIssuer, DevIssuerRefused
from gateway.identity.errors import AuthenticationError
from gateway.identity.factory import build_verifier
from gateway.identity.jwks import LocalKeys, RemoteKeys
from gateway.identity.verifier import TokenVerifier
from lienthong.settings import Env, Settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url="postgresql://x@127.0.0.1:1/x")


@pytest.fixture
def issuer(settings: Settings) -> DevIssuer:
    return DevIssuer(settings)


@pytest.fixture
async def verifier(settings: Settings) -> TokenVerifier:
    return await build_verifier(settings)


async def test_a_valid_token_gives_the_principal(
    issuer: DevIssuer, verifier: TokenVerifier
) -> None:
    principal = await verifier.verify(issuer.mint(agency="motcua-danang"))
    assert principal.agency == "motcua-danang"
    assert principal.roles == frozenset({"agency"})
    assert principal.is_agency
    assert not principal.is_citizen
    assert principal.token_id


async def test_a_citizen_token_carries_the_personal_id(
    issuer: DevIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.mint(agency="vneid", roles=["citizen"], citizen_id="048085000123")
    principal = await verifier.verify(token)
    assert principal.is_citizen
    assert principal.citizen_id == "048085000123"


async def test_the_key_pair_is_generated_once(settings: Settings, issuer: DevIssuer) -> None:
    again = DevIssuer(settings)
    assert again.key_id == issuer.key_id
    key_file = settings.home / "dev-issuer" / "signing-key.json"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_the_dev_issuer_is_refused_in_prod(settings: Settings) -> None:
    with pytest.raises(DevIssuerRefused, match="disabled when LIENTHONG_ENV=prod"):
        DevIssuer(settings.model_copy(update={"env": Env.PROD}))


async def _refused(verifier: TokenVerifier, token: str | None, message: str) -> None:
    with pytest.raises(AuthenticationError, match=message):
        await verifier.verify(token)


async def test_expired(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.mint(agency="a", ttl_seconds=60, now=time.time() - 3600)
    await _refused(verifier, token, "has expired")


async def test_expiry_within_the_leeway_is_accepted(
    issuer: DevIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.mint(agency="a", ttl_seconds=60, now=time.time() - 70)
    assert (await verifier.verify(token)).agency == "a"


async def test_not_yet_valid(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.mint(agency="a", extra_claims={"nbf": int(time.time()) + 600})
    await _refused(verifier, token, "not valid yet")


async def test_wrong_issuer(settings: Settings, verifier: TokenVerifier) -> None:
    other = DevIssuer(settings.model_copy(update={"public_url": "http://evil.example"}))
    await _refused(verifier, other.mint(agency="a"), "another issuer")


async def test_wrong_audience(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.mint(agency="a", extra_claims={"aud": ["some-other-api"]})
    await _refused(verifier, token, "not meant for lienthong-gateway")


async def test_no_expiry_and_no_client(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    await _refused(verifier, issuer.mint(agency="a", extra_claims={"exp": None}), "no expiry")
    await _refused(verifier, issuer.mint(agency="a", extra_claims={"azp": ""}), "no client")


async def test_signed_by_another_key_with_our_kid(
    issuer: DevIssuer, verifier: TokenVerifier
) -> None:
    stranger = jwk.JWK.generate(kty="RSA", size=2048)
    forged = jwt.JWT(
        header={"alg": "RS256", "kid": issuer.key_id},
        claims=json.loads(
            jwt.JWT.from_jose_token(issuer.mint(agency="a")).token.objects["payload"]
        ),
    )
    forged.make_signed_token(stranger)
    await _refused(verifier, forged.serialize(), "signature does not verify")


async def test_signed_by_a_key_the_issuer_does_not_publish(
    tmp_path: Path, verifier: TokenVerifier, settings: Settings
) -> None:
    other = DevIssuer(settings.model_copy(update={"home": tmp_path / "elsewhere"}))
    await _refused(verifier, other.mint(agency="a"), "key the issuer does not publish")


async def test_alg_none(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    payload = issuer.mint(agency="a").split(".")[1]
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": issuer.key_id}).encode())
    await _refused(verifier, f"{header}.{payload}.", "'none' is not accepted")


async def test_hs256_signed_with_the_public_key(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    public_pem = issuer.key.export_to_pem()
    payload = issuer.mint(agency="a").split(".")[1]
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.key_id}).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    await _refused(verifier, f"{header}.{payload}.{_b64(signature)}", "'HS256' is not accepted")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "no bearer token"),
        ("", "no bearer token"),
        ("abc", "three parts"),
        ("a.b", "three parts"),
        ("!!!.e30.sig", "header is not base64url JSON"),
        (f"{_b64(b'[1]')}.e30.sig", "header is not a JSON object"),
        (f"{_b64(b'{not json')}.e30.sig", "header is not base64url JSON"),
    ],
)
async def test_malformed_tokens(verifier: TokenVerifier, token: str | None, message: str) -> None:
    await _refused(verifier, token, message)


async def test_oversized_token(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.mint(agency="a", extra_claims={"padding": "x" * 10_000})
    await _refused(verifier, token, "larger than 8192 bytes")


async def test_dev_mode_verifies_offline(
    issuer: DevIssuer, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issuer.mint(agency="motcua-danang")

    def no_network(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("verification tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert isinstance(verifier.keys, LocalKeys)
    assert (await verifier.verify(token)).agency == "motcua-danang"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_unknown_kid_refreshes_the_jwks_once_per_interval(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "a", database_url="postgresql://x@127.0.0.1:1/x")
    old, new = DevIssuer(settings), DevIssuer(settings.model_copy(update={"home": tmp_path / "b"}))
    published = {"jwks": old.jwks()}
    fetches: list[float] = []
    clock = FakeClock()

    async def fetch() -> dict[str, Any]:
        fetches.append(clock.now)
        return published["jwks"]

    keys = RemoteKeys(fetch, min_refresh_interval=30, clock=clock)
    verifier = TokenVerifier(issuer=old.issuer, audience=old.audience, keys=keys)
    assert (await verifier.verify(old.mint(agency="a"))).agency == "a"
    published["jwks"] = new.jwks()  # the issuer rotates its key
    clock.now = 5
    with pytest.raises(AuthenticationError, match="does not publish"):
        await verifier.verify(new.mint(agency="a"))  # too soon after the last fetch
    assert fetches == [0.0]
    clock.now = 40
    assert (await verifier.verify(new.mint(agency="a"))).agency == "a"
    assert fetches == [0.0, 40]
    await verifier.verify(new.mint(agency="a"))  # a known kid costs no fetch
    assert fetches == [0.0, 40]


async def test_an_unreachable_issuer_with_no_keys_yet_is_unauthenticated() -> None:
    async def fetch() -> dict[str, Any]:
        raise OSError("connection refused")

    keys = RemoteKeys(fetch)
    with pytest.raises(AuthenticationError, match="keys cannot be fetched"):
        await keys.key_for("k1")


async def test_a_repeated_token_is_verified_once_and_its_claims_on_every_use(
    issuer: DevIssuer, settings: Settings
) -> None:
    clock = FakeClock()
    clock.now = time.time()
    counting = CountingKeys(issuer.jwks())
    verifier = TokenVerifier(
        issuer=settings.token_issuer, audience=settings.keycloak_audience, keys=counting,
        clock=clock,
    )  # fmt: skip
    token = issuer.mint(agency="motcua-danang", now=clock.now, ttl_seconds=120)
    for _ in range(3):
        assert (await verifier.verify(token)).agency == "motcua-danang"
    assert counting.lookups == 1
    clock.now += 120 + 31  # past expiry and leeway: the cached signature does not help
    with pytest.raises(AuthenticationError, match="expired"):
        await verifier.verify(token)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationError, match="signature"):
        await verifier.verify(tampered)


class CountingKeys(LocalKeys):
    """The local keys, counting how often a signature check asks for one."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__(jwks)
        self.lookups = 0

    async def key_for(self, kid: str | None) -> jwk.JWK:
        self.lookups += 1
        return await super().key_for(kid)
