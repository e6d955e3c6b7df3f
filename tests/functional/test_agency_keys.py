"""Agencies' public keys for officer assertions, end to end through HTTP (the whole gateway app,
its own committed database): register, list, read, retire; every refusal as the steward sees it
(problem+json naming the JWK member); a retired key verifies nothing any more; and the
`lienthong dev assertion` command that registers a dev key and prints a verifying assertion."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from jwcrypto import jwk
from typer.testing import CliRunner, Result

from gateway.identity import keys
from gateway.identity.dev_issuer import DevAgencyKeys, DevIssuer
from gateway.identity.errors import AuthenticationError
from gateway.identity.factory import build_verifier
from gateway.identity.officers import Officer, OfficerAssertions, OfficerError
from lienthong import cli
from lienthong.settings import Env, Settings, get_settings
from registries.db import create_engine, session_factory
from tests import clients
from tests.clients import problem

PROBLEM = "application/problem+json"
NAME = "Trần Thị Bình"
UNIT = "Sở Tư pháp Đà Nẵng"
_numbers = itertools.count(1)


def rsa(size: int = 2048, **members: Any) -> dict[str, Any]:
    public = json.loads(jwk.JWK.generate(kty="RSA", size=size).export_public())
    return {**public, **members}


def ec(**members: Any) -> dict[str, Any]:
    return {**json.loads(jwk.JWK.generate(kty="EC", crv="P-256").export_public()), **members}


@pytest.fixture(scope="module")
def key_settings(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("keys-home"))


class Client(clients.Caller):
    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        sent = headers if headers is not None else self.steward()
        return await self.http.request(method, f"/admin{path}", headers=sent, **kwargs)

    async def agency(self) -> str:
        """A freshly registered agency, so that each test counts its own keys."""
        client_id = f"so-tuphap-{next(_numbers)}"
        new = {"client_id": client_id, "name": "Sở Tư pháp", "kind": "justice"}
        assert (await self.call("POST", "/agencies", json=new)).status_code == 201
        return client_id

    async def register(self, agency: str, key: dict[str, Any]) -> httpx.Response:
        return await self.call("POST", f"/agencies/{agency}/keys", json={"jwk": key})


@pytest.fixture(scope="module")
async def client(key_settings: Settings) -> AsyncIterator[Client]:
    async with clients.app_client(key_settings) as http:
        yield Client(http, DevIssuer(key_settings))


async def active_keys(settings: Settings, agency: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            return await keys.active_keys(session=session, agency=agency)
    finally:
        await engine.dispose()


async def test_register_list_read_and_retire(client: Client, key_settings: Settings) -> None:
    agency = await client.agency()
    key = rsa(kid="2026-01", alg="RS256", use="sig", x5t="dropped", ext=True)
    created = await client.register(agency, key)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/admin/agencies/{agency}/keys/2026-01"
    body = created.json()
    assert body["kid"] == "2026-01"
    assert body["status"] == "active"
    assert body["created_by"] == "steward-lan"
    assert body["retired_at"] is None
    assert body["jwk"] == {k: key[k] for k in ("kty", "kid", "n", "e", "alg", "use")}
    assert body["thumbprint"] == jwk.JWK(**key).thumbprint()

    second = await client.register(agency, ec(kid="2026-02"))
    assert second.status_code == 201, second.text
    listed = (await client.call("GET", f"/agencies/{agency}/keys")).json()
    assert [k["kid"] for k in listed] == ["2026-01", "2026-02"]
    read = await client.call("GET", f"/agencies/{agency}/keys/2026-01")
    assert read.json() == body
    assert set(await active_keys(key_settings, agency)) == {"2026-01", "2026-02"}

    retired = await client.call(
        "DELETE", f"/agencies/{agency}/keys/2026-01", headers=client.steward("steward-minh")
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["status"] == "retired"
    assert retired.json()["retired_by"] == "steward-minh"
    assert retired.json()["retired_at"] is not None
    again = await client.call("DELETE", f"/agencies/{agency}/keys/2026-01")
    assert again.status_code == 200
    assert again.json() == retired.json()  # idempotent: not retired a second time

    assert set(await active_keys(key_settings, agency)) == {"2026-02"}
    active = await client.call("GET", f"/agencies/{agency}/keys?status=active")
    assert [k["kid"] for k in active.json()] == ["2026-02"]
    gone = await client.call("GET", f"/agencies/{agency}/keys?status=retired")
    assert [k["kid"] for k in gone.json()] == ["2026-01"]


async def test_a_kid_or_a_key_is_never_registered_twice(client: Client) -> None:
    agency = await client.agency()
    key = rsa(kid="k1")
    assert (await client.register(agency, key)).status_code == 201
    body = problem(await client.register(agency, rsa(kid="k1")), 409, "CONFLICT")
    assert body["detail"] == f"agency {agency!r} already has a key 'k1'"
    body = problem(await client.register(agency, {**key, "kid": "k2"}), 409, "CONFLICT")
    assert body["detail"] == f"this key is already registered for agency {agency!r} as 'k1'"

    await client.call("DELETE", f"/agencies/{agency}/keys/k1")
    body = problem(await client.register(agency, rsa(kid="k1")), 409, "CONFLICT")
    assert body["detail"].endswith("(retired: a kid is never reused)")
    body = problem(await client.register(agency, {**key, "kid": "k3"}), 409, "CONFLICT")
    assert body["detail"].endswith("and was retired: a retired key is never registered again")


async def test_at_most_five_active_keys(client: Client) -> None:
    agency = await client.agency()
    for number in range(keys.MAX_ACTIVE_KEYS):
        assert (await client.register(agency, ec(kid=f"k{number}"))).status_code == 201
    body = problem(await client.register(agency, ec(kid="k5")), 409, "CONFLICT")
    assert body["detail"] == f"agency {agency!r} already has 5 active keys: retire one first"
    await client.call("DELETE", f"/agencies/{agency}/keys/k0")
    assert (await client.register(agency, ec(kid="k5"))).status_code == 201


@pytest.mark.parametrize(
    ("key", "argument", "detail"),
    [
        (
            {**rsa(kid="x"), "d": "AQAB", "p": "AQAB"},
            "body.jwk.d",
            "body.jwk.d: private key member d, p: register the public key only, and make a new "
            "key pair, since this private key has left the agency",
        ),
        ({"kty": "oct", "k": "c2VjcmV0", "kid": "x"}, "body.jwk.k", "private key member k"),
        (rsa(size=1024, kid="x"), "body.jwk.n",
         "body.jwk.n: an RSA key of 1024 bits is too weak: at least 2048"),
        (rsa(), "body.jwk.kid", "body.jwk.kid: required: up to 64 letters, digits or . : _ -"),
        (rsa(kid="a b"), "body.jwk.kid", "required: up to 64 letters"),
        (rsa(kid="k" * 65), "body.jwk.kid", "required: up to 64 letters"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "x"}, "body.jwk.kty",
         "body.jwk.kty: must be RSA (at least 2048 bits) or EC (P-256)"),
        ({**ec(kid="x"), "crv": "P-384"}, "body.jwk.crv", "body.jwk.crv: must be P-256 (ES256)"),
        (ec(kid="x", alg="RS256"), "body.jwk.alg", "body.jwk.alg: a EC key signs with ES256"),
        (rsa(kid="x", alg="HS256"), "body.jwk.alg", "a RSA key signs with PS256 or RS256"),
        (rsa(kid="x", use="enc"), "body.jwk.use", "must be sig: the key signs officer assertions"),
        ({**rsa(kid="x"), "n": "AQAB=="}, "body.jwk.n", "not base64url (RFC 7515: no padding)"),
        ({**rsa(kid="x"), "n": 12}, "body.jwk.n", "body.jwk.n: required (base64url)"),
        ({**rsa(kid="x"), "e": "AAAB"}, "body.jwk.e", "must be an odd public exponent"),
        ({**rsa(kid="x"), "e": "AQ"}, "body.jwk.e", "must be an odd public exponent"),
        ({**ec(kid="x"), "y": "AAAA"}, "body.jwk.y", "a P-256 coordinate is 32 bytes"),
        ({**ec(kid="x"), "y": ec()["x"]}, "body.jwk", "body.jwk: not a usable public key"),
    ],
)  # fmt: skip
async def test_bad_keys_are_refused_naming_the_member(
    client: Client, key: dict[str, Any], argument: str, detail: str
) -> None:
    agency = await client.agency()
    body = problem(await client.register(agency, key), 422, "BAD_USER_INPUT")
    assert body["argument"] == argument
    assert detail in body["detail"]
    assert (await client.call("GET", f"/agencies/{agency}/keys")).json() == []


@pytest.mark.parametrize(
    ("payload", "argument"),
    [
        ({"jwk": "not an object"}, "body.jwk"),
        ({}, "body.jwk"),
        ({"jwk": ec(kid="x"), "extra": 1}, "body.extra"),
    ],
)
async def test_bad_bodies(client: Client, payload: dict[str, Any], argument: str) -> None:
    agency = await client.agency()
    answer = await client.call("POST", f"/agencies/{agency}/keys", json=payload)
    assert problem(answer, 422, "BAD_USER_INPUT")["argument"] == argument


async def test_unknown_agencies_and_keys(client: Client) -> None:
    for method, path, body in [
        ("GET", "/agencies/nobody-here/keys", None),
        ("POST", "/agencies/nobody-here/keys", {"jwk": ec(kid="x")}),
        ("GET", "/agencies/nobody-here/keys/x", None),
        ("DELETE", "/agencies/nobody-here/keys/x", None),
    ]:
        answer = await client.call(method, path, json=body)
        assert problem(answer, 404, "NOT_FOUND")["detail"] == "no agency 'nobody-here'"
    agency = await client.agency()
    for method in ("GET", "DELETE"):
        answer = await client.call(method, f"/agencies/{agency}/keys/never")
        assert problem(answer, 404, "NOT_FOUND")["detail"] == f"no key '{agency}/never'"
    answer = await client.call("GET", f"/agencies/{agency}/keys/bad%20kid")
    assert problem(answer, 422, "BAD_USER_INPUT")["argument"] == "path.kid"


async def test_only_stewards(client: Client) -> None:
    agency = await client.agency()
    agency_token = {"Authorization": f"Bearer {client.issuer.mint(agency=agency)}"}
    officer_token = {
        "Authorization": "Bearer "
        + client.issuer.mint_officer(agency=agency, officer="b.tt", name=NAME, unit=UNIT)
    }
    for method, path, body in [
        ("GET", f"/agencies/{agency}/keys", None),
        ("POST", f"/agencies/{agency}/keys", {"jwk": ec(kid="mine")}),
        ("DELETE", f"/agencies/{agency}/keys/mine", None),
    ]:
        for headers in (agency_token, officer_token):
            answer = await client.call(method, path, headers=headers, json=body)
            assert problem(answer, 403, "FORBIDDEN")["reason"] == "steward role required"
        problem(await client.call(method, path, headers={}, json=body), 401, "UNAUTHENTICATED")
    assert (await client.call("GET", f"/agencies/{agency}/keys")).json() == []


async def test_a_registered_key_verifies_and_a_retired_one_does_not(
    client: Client, key_settings: Settings
) -> None:
    agency = await client.agency()
    dev_keys = DevAgencyKeys(key_settings.home)
    assert (await client.register(agency, dev_keys.public_jwk(agency))).status_code == 201
    assertion = dev_keys.assertion(agency=agency, officer="b.tt", name=NAME, unit=UNIT)
    verifier = OfficerAssertions(
        audience=key_settings.officer_audience,
        max_lifetime_seconds=key_settings.officer_assertion_max_seconds,
    )
    officer = verifier.verify(
        assertion, agency=agency, keys=await active_keys(key_settings, agency)
    )
    assert officer == Officer(id="b.tt", name=NAME, unit=UNIT, verified="assertion")

    await client.call("DELETE", f"/agencies/{agency}/keys/{dev_keys.kid(agency)}")
    with pytest.raises(OfficerError, match="is not an active key of agency"):
        verifier.verify(assertion, agency=agency, keys=await active_keys(key_settings, agency))


@pytest.fixture
def cli_env(key_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", key_settings.libpq_url)
    monkeypatch.setenv("LIENTHONG_HOME", str(key_settings.home))
    monkeypatch.setenv("LIENTHONG_ENV", "dev")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def invoke(runner: CliRunner, args: list[str]) -> Result:
    """The command in a thread of its own: it runs its own event loop, as from a shell."""
    return await asyncio.to_thread(lambda: runner.invoke(cli.app, args))


def said(stream: str) -> str:
    """What the command printed, with rich's line wrapping undone."""
    return " ".join(stream.split())


ASSERTION_ARGS = ["dev", "assertion", "--officer", "b.tt", "--name", NAME, "--unit", UNIT]


async def test_dev_assertion_registers_its_key_once(
    client: Client, key_settings: Settings, cli_env: CliRunner
) -> None:
    agency = await client.agency()
    first = await invoke(cli_env, [*ASSERTION_ARGS, "--agency", agency])
    assert first.exit_code == 0, first.output
    assertion = first.stdout.strip()
    kid = DevAgencyKeys(key_settings.home).kid(agency)
    assert f"registered the dev key {kid} for {agency}" in said(first.stderr)
    listed = (await client.call("GET", f"/agencies/{agency}/keys")).json()
    assert [(k["kid"], k["created_by"]) for k in listed] == [(kid, "dev")]
    verifier = OfficerAssertions(audience="lienthong-gateway", max_lifetime_seconds=600)
    keys_now = await active_keys(key_settings, agency)
    assert verifier.verify(assertion, agency=agency, keys=keys_now).unit == UNIT

    second = await invoke(cli_env, [*ASSERTION_ARGS, "--agency", agency, "--ttl", "60"])
    assert second.exit_code == 0, second.output
    assert "registered" not in second.stderr
    assert len((await client.call("GET", f"/agencies/{agency}/keys")).json()) == 1

    # a steward retires the dev key: the next assertion comes with a new key
    await client.call("DELETE", f"/agencies/{agency}/keys/{kid}")
    third = await invoke(cli_env, [*ASSERTION_ARGS, "--agency", agency])
    assert third.exit_code == 0, third.output
    assert f"the dev key {kid} of {agency} was retired: made a new one" in said(third.stderr)
    keys_now = await active_keys(key_settings, agency)
    assert kid not in keys_now
    assert verifier.verify(third.stdout.strip(), agency=agency, keys=keys_now).id == "b.tt"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "nobody-here"], "--agency: no agency 'nobody-here'"),
        (["--agency", "Bad_Agency"], "--agency: a client id"),
        (["--agency", "x1", "--ttl", "601"], "--ttl: at most 600 s"),
    ],
)
def test_dev_assertion_refusals(cli_env: CliRunner, args: list[str], message: str) -> None:
    answer = cli_env.invoke(cli.app, [*ASSERTION_ARGS, *args])
    assert answer.exit_code == 2
    assert message in said(answer.stderr)
    assert answer.stdout == ""


def test_dev_assertion_checks_the_officer(cli_env: CliRunner) -> None:
    args = ["dev", "assertion", "--agency", "x1", "--officer", "b tt", "--name", NAME]
    answer = cli_env.invoke(cli.app, [*args, "--unit", UNIT])
    assert answer.exit_code == 2
    assert "--officer is not an officer id" in said(answer.stderr)


def test_dev_commands_are_refused_in_prod(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENTHONG_ENV", Env.PROD.value)
    monkeypatch.setenv("LIENTHONG_KEYCLOAK_URL", "https://sso.example.gov.vn")
    get_settings.cache_clear()
    answer = cli_env.invoke(cli.app, [*ASSERTION_ARGS, "--agency", "x1"])
    assert answer.exit_code == 2
    assert "disabled when LIENTHONG_ENV=prod" in said(answer.stderr)
    answer = cli_env.invoke(
        cli.app,
        ["dev", "token", "--agency", "x1", "--officer", "b.tt", "--officer-name", NAME,
         "--unit", UNIT],
    )  # fmt: skip
    assert answer.exit_code == 2


async def test_dev_token_for_an_officer(cli_env: CliRunner, key_settings: Settings) -> None:
    args = ["dev", "token", "--agency", "motcua-danang", "--officer", "b.tt"]
    answer = cli_env.invoke(cli.app, [*args, "--officer-name", NAME, "--unit", UNIT])
    assert answer.exit_code == 0, answer.output
    principal = await (await build_verifier(key_settings)).verify(answer.stdout.strip())
    assert principal.agency == "motcua-danang"
    assert principal.officer == Officer(id="b.tt", name=NAME, unit=UNIT, verified="token")
    half = cli_env.invoke(cli.app, [*args, "--unit", UNIT])
    assert half.exit_code == 2
    assert "give --officer, --officer-name and --unit together" in said(half.stderr)
    with pytest.raises(AuthenticationError):
        await (await build_verifier(key_settings)).verify("not a token")
