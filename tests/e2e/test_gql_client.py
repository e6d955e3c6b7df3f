"""The gateway as a Python agency developer meets it: `gql` (4.x, httpx transport) against a real
`lienthong serve`.

In dev: the schema fetched by standard introspection, a registry query with its purpose, and a
persisted document sent by hash the way Apollo's clients send it (automatic persisted queries:
the hash alone, the text only when the gateway answers `PERSISTED_QUERY_NOT_FOUND`, the hash
alone again once the gateway remembers it). In prod, behind the OpenID stand-in for Keycloak
(tests/oidc): tokens by the client-credentials grant, the schema from the published
`graphql/schema.graphql` (no introspection in prod), a verified officer (`X-Officer-Assertion`
signed with the agency's registered key), trusted documents only.

`PersistedQueries` is the transport an agency would write: gql has no persisted queries of its
own (docs/agency-developers.md shows it)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportClosed, TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import ExecutionResult, print_ast
from jwcrypto import jwk, jwt

from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.officers import assertion_claims
from lienthong.resources import OPERATIONS_DIR
from lienthong.settings import Settings
from tests import openid
from tests.net import answer_key, lienthong_serve

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = (ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
AGENCY = "motcua-danang"
NAME = "Lê Thị Ánh Tuyết"
RESIDENT_CT01 = (OPERATIONS_DIR / "ResidentCT01.graphql").read_text(encoding="utf-8")
# The same document as an agency's code base may hold it: its own comment and layout, so its
# SHA-256 is none the gateway knows until the text has been sent once
_, _, _OPERATION = RESIDENT_CT01.partition("\n")  # the file's text without its comment
CLIENT_TEXT = "# our one-stop client's copy of ResidentCT01\n" + _OPERATION.replace("  ", "\t")
AD_HOC = "query Name($id: ID!) { resident(id: $id) { fullName } }"
STEWARD = "steward-console"
SECRETS = {AGENCY: "s3cret-motcua", STEWARD: "s3cret-steward"}  # the stand-in's clients
CLIENTS = [
    {"client_id": AGENCY, "client_secret": SECRETS[AGENCY], "roles": ["agency"]},
    {"client_id": STEWARD, "client_secret": SECRETS[STEWARD], "roles": ["steward"]},
]


class PersistedQueries(HTTPXAsyncTransport):
    """gql's httpx transport with Apollo's automatic persisted queries: each operation is sent
    as `extensions.persistedQuery.sha256Hash` alone (the SHA-256 of the operation's text as the
    client holds it), and with its text only when the gateway answers
    `PERSISTED_QUERY_NOT_FOUND`. `sent` records each POST: (whether it carried the text, the
    code of the answer's first error, None when it has none)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.sent: list[tuple[bool, str | None]] = []

    async def execute(
        self,
        request: GraphQLRequest,
        *,
        extra_args: dict[str, Any] | None = None,
        upload_files: bool = False,
    ) -> ExecutionResult:
        loc = request.document.loc
        text = loc.source.body if loc is not None else print_ast(request.document)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        payload: dict[str, Any] = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        }
        if request.operation_name:
            payload["operationName"] = request.operation_name
        if request.variable_values:
            payload["variables"] = request.variable_values
        result = await self._post(payload, with_text=False)
        if _code(result) == "PERSISTED_QUERY_NOT_FOUND":
            result = await self._post({**payload, "query": text}, with_text=True)
        return result

    async def _post(self, payload: dict[str, Any], *, with_text: bool) -> ExecutionResult:
        if self.client is None:
            raise TransportClosed("Transport is not connected")
        response = await self.client.post(self.url, json=payload)
        result = self._prepare_result(response)
        self.sent.append((with_text, _code(result)))
        return result


def _code(result: ExecutionResult) -> str | None:
    errors: list[Any] = list(result.errors or [])
    return (errors[0].get("extensions") or {}).get("code") if errors else None


def _codes(error: TransportQueryError) -> list[str]:
    return [e["extensions"]["code"] for e in error.errors or []]


@contextmanager
def _serve(database_url: str, home: Path, **settings: str) -> Iterator[str]:
    """A real `lienthong serve` with these settings; yields the URL of its /graphql."""
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url,
        "LIENTHONG_HOME": str(home),
        **{f"LIENTHONG_{name.upper()}": value for name, value in settings.items()},
    }
    with lienthong_serve(env) as url:
        yield f"{url}/graphql"


@pytest.fixture(scope="module")
def dev(gateway: str) -> str:
    """The dev gateway's /graphql."""
    return f"{gateway}/graphql"


def _agency(home: Path, **headers: str) -> dict[str, str]:
    token = DevIssuer(Settings(home=home)).mint(agency=AGENCY)
    return {"Authorization": f"Bearer {token}", **headers}


async def test_the_schema_by_standard_introspection(dev: str, home: Path) -> None:
    transport = HTTPXAsyncTransport(url=dev, headers=_agency(home))
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None
        schema = session.client.schema
        query = schema.query_type
        assert query is not None
        assert {"resident", "residents", "prefill", "adminUnit"} <= set(query.fields)
        assert schema.get_type("Resident") is not None
        # gql validates against the fetched schema before sending anything
        with pytest.raises(Exception, match="Cannot query field 'noSuchField'"):
            await session.execute(gql("{ noSuchField }"))


async def test_a_query_with_its_purpose(dev: str, home: Path, resident_id: str) -> None:
    headers = _agency(home, **{"X-Purpose": "CT01", "X-Request-Id": "hs-2026-000123"})
    transport = HTTPXAsyncTransport(url=dev, headers=headers)
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        request = gql("query Name($id: ID!) { resident(id: $id) { fullName sex } }")
        request.variable_values = {"id": resident_id}
        answer = await session.execute(request)
    assert answer == {"resident": {"fullName": NAME, "sex": "female"}}
    # the client's request id comes back as the correlation id, beside the server's own
    assert transport.response_headers is not None
    assert transport.response_headers["x-correlation-id"] == "hs-2026-000123"
    assert transport.response_headers["x-request-id"] != "hs-2026-000123"

    # without a purpose: refused before anything is read
    bare = HTTPXAsyncTransport(url=dev, headers=_agency(home))
    async with Client(transport=bare) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(request)
    assert _codes(refused.value) == ["PURPOSE_REQUIRED"]


async def test_a_persisted_document_by_hash_as_apollo_sends_it(
    dev: str, home: Path, resident_id: str
) -> None:
    headers = _agency(home, **{"X-Purpose": "CT01"})
    request = gql(CLIENT_TEXT)
    request.variable_values = {"id": resident_id}

    first = PersistedQueries(url=dev, headers=headers)
    async with Client(transport=first, schema=SCHEMA) as session:
        answer = await session.execute(request)
        assert answer["resident"]["fullName"] == NAME
        # the hash alone was unknown; the hash with the text ran (and taught the gateway)
        assert first.sent == [(False, "PERSISTED_QUERY_NOT_FOUND"), (True, None)]
        assert await session.execute(request) == answer
        assert first.sent[2:] == [(False, None)]

    # another client (a new connection) holding the same text: the hash alone is enough now
    again = PersistedQueries(url=dev, headers=headers)
    async with Client(transport=again, schema=SCHEMA) as session:
        assert await session.execute(request) == answer
    assert again.sent == [(False, None)]

    # the published file's own text is known by its hash from the start
    published = gql(RESIDENT_CT01)
    published.variable_values = {"id": resident_id}
    known = PersistedQueries(url=dev, headers=headers)
    async with Client(transport=known, schema=SCHEMA) as session:
        assert await session.execute(published) == answer
    assert known.sent == [(False, None)]


async def test_an_unknown_hash_alone_is_persisted_query_not_found(dev: str, home: Path) -> None:
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    async with httpx.AsyncClient() as http:
        answer = await http.post(dev, json=body, headers=_agency(home))
    assert answer.status_code == 200
    assert answer.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert answer.json()["errors"][0]["message"] == "PersistedQueryNotFound"


# -- prod, behind the OpenID stand-in for Keycloak ------------------------------------------


@dataclass
class Prod:
    url: str
    oidc: str
    officer_key: jwk.JWK

    def token(self, client_id: str = AGENCY) -> str:
        return openid.client_credentials(self.oidc, client_id, SECRETS[client_id])

    def assertion(self, officer: str = "cb-0042") -> str:
        """An officer assertion, as the agency's software signs it (docs/identity.md)."""
        claims = assertion_claims(
            agency=AGENCY, officer=officer, name="Nguyễn Thị Lan",
            unit="Bộ phận Một cửa phường Hải Châu", audience="lienthong-gateway",
            issued_at=int(time.time()), ttl_seconds=300,
        )  # fmt: skip
        token = jwt.JWT(header={"alg": "ES256", "kid": "motcua-gql-1"}, claims=claims)
        token.make_signed_token(self.officer_key)
        return str(token.serialize())


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with openid.openid_stand_in(CLIENTS, tmp_path_factory.mktemp("oidc")) as url:
            yield url
    except openid.StandInMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="module")
async def prod(
    committed_database_url: str, oidc: str, resident_id: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Prod]:  # fmt: skip
    served = _serve(
        committed_database_url, tmp_path_factory.mktemp("gql-prod-home"),
        env="prod", keycloak_url=oidc, keycloak_realm=openid.REALM,
        keycloak_audience=openid.AUDIENCE,
        answer_signing_key_file=answer_key(tmp_path_factory.mktemp("keys")),
    )  # fmt: skip
    with served as url:
        key = jwk.JWK.generate(kty="EC", crv="P-256", kid="motcua-gql-1")
        gateway = Prod(url=url, oidc=oidc, officer_key=key)
        # the agency's public key, registered by a steward (docs/identity.md)
        steward = {"Authorization": f"Bearer {gateway.token(STEWARD)}"}
        admin = url.removesuffix("/graphql") + f"/admin/agencies/{AGENCY}/keys"
        async with httpx.AsyncClient() as http:
            registered = await http.post(
                admin, json={"jwk": key.export_public(as_dict=True)}, headers=steward
            )
        assert registered.status_code == 201, registered.text
        yield gateway


async def test_a_prod_gateway_answers_gql(prod: Prod, resident_id: str) -> None:
    headers = {
        "Authorization": f"Bearer {prod.token()}",
        "X-Purpose": "CT01",
        "X-Officer-Assertion": prod.assertion(),
    }
    request = gql(CLIENT_TEXT)
    request.variable_values = {"id": resident_id}
    transport = PersistedQueries(url=prod.url, headers=headers)
    # no introspection in prod: the client validates against the published schema file
    async with Client(transport=transport, schema=SCHEMA) as session:
        answer = await session.execute(request)
        assert answer["resident"]["fullName"] == NAME
        assert transport.sent == [(False, "PERSISTED_QUERY_NOT_FOUND"), (True, None)]
        assert await session.execute(request) == answer
        assert transport.sent[2:] == [(False, None)]

        # only trusted documents: the same field in a document of the client's own is refused
        ad_hoc = gql(AD_HOC)
        ad_hoc.variable_values = {"id": resident_id}
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(ad_hoc)
        assert _codes(refused.value) == ["OPERATION_NOT_ALLOWED"]

    # a verified officer is required for registry data: no assertion, no data
    nameless = {k: v for k, v in headers.items() if k != "X-Officer-Assertion"}
    async with Client(transport=PersistedQueries(url=prod.url, headers=nameless)) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(request)
    assert _codes(refused.value) == ["OFFICER_REQUIRED"]

    # and a client cannot fetch the schema from a prod gateway: for an agency, the introspection
    # query is no trusted document (and a prod schema has no introspection at all)
    plain = HTTPXAsyncTransport(url=prod.url, headers=headers)
    with pytest.raises(TransportQueryError, match="OPERATION_NOT_ALLOWED"):
        async with Client(transport=plain, fetch_schema_from_transport=True):
            pass
