"""Persisted documents through HTTP, as clients send them: Apollo's automatic persisted queries
(POST and GET), `documentId`, a trusted document by name, the refusals, in dev and in prod alike;
and the manifest of the documents a caller may run (`GET /graphql/documents`).

Prod here is the dev app with `env` turned to prod in its services' settings (what admission
reads on every request): the dev issuer refuses to run in prod, and tokens are not what is tested
(tests/functional/test_keycloak.py runs prod behind an OpenID provider).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import parse, print_ast

from gateway.app import create_app
from gateway.graph.forms import prefill_document
from gateway.identity.dev_issuer import DevIssuer
from lienthong.resources import FORMS_DIR, OPERATIONS_DIR
from lienthong.settings import Env, Settings
from tests import clients

SUBJECT = {"subject": "048085000123"}  # a well-formed personal ID no registry row has
PREFILL_TEXT = prefill_document("CT01")[1]  # generated from graphql/forms/CT01.yaml
PREFILL_BODY = print_ast(parse(PREFILL_TEXT))
# What a client's own printer may send: neither the file's text nor the manifest's body
CLIENT_TEXT = PREFILL_BODY.replace("\n", " ,\n ").replace("  ", " ")
AD_HOC = '{ adminUnit(code: "48") { name } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


def codes(answer: dict[str, Any]) -> list[str | None]:
    """The errors' codes (None for an executor's error that has none)."""
    return [(error.get("extensions") or {}).get("code") for error in answer.get("errors", [])]


@dataclass
class Gateway:
    app: FastAPI
    http: httpx.AsyncClient
    issuer: DevIssuer

    def prod(self, prod: bool) -> None:
        """Admission reads `env` from the services' settings on every request."""
        services = self.app.state.services
        services.settings = services.settings.model_copy(
            update={"env": Env.PROD if prod else Env.DEV}
        )

    def agency(self) -> dict[str, str]:
        return {**clients.agency(self.issuer), "X-Purpose": "CT01"}

    async def post(
        self, body: dict[str, Any], headers: dict[str, str] | None = None, *, status: int = 200
    ) -> Any:
        answer = await self.http.post("/graphql", json=body, headers=headers or self.agency())
        assert answer.status_code == status, answer.text
        return answer.json()

    async def get(self, params: dict[str, str]) -> Any:
        # Apollo's Accept (a browser's would be answered with GraphiQL in dev)
        headers = {**self.agency(), "Accept": "application/json"}
        answer = await self.http.get("/graphql", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("persisted-home")


@pytest.fixture(scope="module", params=[True, False], ids=["plans", "generic"])
async def gateway(
    committed_database_url: str, home: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Gateway]:
    """The gateway with compiled plans (PrefillCT01 is answered by the planned-documents
    shortcut, which reads the body itself) and without (strawberry's view reads it)."""
    settings = Settings(database_url=committed_database_url, home=home, graphql_plans=request.param)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        yield Gateway(app, http, DevIssuer(settings))


@pytest.fixture(params=[False, True], ids=["dev", "prod"])
def env(gateway: Gateway, request: pytest.FixtureRequest) -> Gateway:
    gateway.prod(request.param)
    return gateway


async def test_apollo_automatic_persisted_queries(env: Gateway) -> None:
    """Apollo's createPersistedQueryLink: the hash alone (PersistedQueryNotFound), the hash
    with the text (runs; the hash is remembered), the hash alone again (runs), by POST and by
    GET (useGETForHashedQueries)."""
    by_name = await env.post({"operationName": "PrefillCT01", "variables": SUBJECT})
    assert "prefill" in by_name["data"]  # the document ran (the answer is the agency's)
    # a layout of this test's own, so that no earlier test's request taught it
    text = f"{CLIENT_TEXT}\n# {env.app.state.services.settings.env} {id(env)}\n"
    hashed = {"operationName": "PrefillCT01", "variables": SUBJECT, "extensions": apq(text)}

    not_found = await env.post(hashed)
    assert not_found == {
        "data": None,
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ],
    }
    assert await env.post({**hashed, "query": text}) == by_name
    assert await env.post(hashed) == by_name
    params = {
        "operationName": "PrefillCT01",
        "variables": json.dumps(SUBJECT),
        "extensions": json.dumps(apq(text)),
    }
    assert await env.get(params) == by_name


async def test_a_document_by_document_id_hash_name_or_text(env: Gateway) -> None:
    by_name = await env.post({"operationName": "PrefillCT01", "variables": SUBJECT})
    sent: list[dict[str, Any]] = [
        {"documentId": f"sha256:{sha256(PREFILL_BODY)}", "variables": SUBJECT},
        {"documentId": f"sha256:{sha256(PREFILL_TEXT)}", "variables": SUBJECT},
        {"extensions": apq(PREFILL_BODY), "variables": SUBJECT},
        {"extensions": apq(PREFILL_TEXT), "variables": SUBJECT},  # what clients sent before
        {"query": PREFILL_TEXT, "variables": SUBJECT},
        {"query": PREFILL_BODY, "variables": SUBJECT},
        {"query": "# a comment\n" + CLIENT_TEXT, "variables": SUBJECT},
        {"query": CLIENT_TEXT, "documentId": f"sha256:{sha256(CLIENT_TEXT)}", "variables": SUBJECT},
    ]
    for body in sent:
        assert await env.post(body) == by_name, body
    document_id = {"documentId": f"sha256:{sha256(PREFILL_BODY)}", "variables": json.dumps(SUBJECT)}
    assert await env.get(document_id) == by_name


@pytest.mark.parametrize(
    ("body", "code", "argument"),
    [
        # a hash that is not the text's: told, never guessed at
        (
            {"query": PREFILL_TEXT, "extensions": apq(PREFILL_BODY)},
            "BAD_REQUEST",
            "extensions.persistedQuery.sha256Hash",
        ),
        (
            {"query": PREFILL_TEXT, "documentId": f"sha256:{sha256(AD_HOC)}"},
            "BAD_REQUEST",
            "documentId",
        ),
        # an unknown hash does not fall back on the name sent with it
        (
            {"operationName": "PrefillCT01", "extensions": apq("unknown")},
            "PERSISTED_QUERY_NOT_FOUND",
            None,
        ),
        ({"operationName": "NoSuchDocument"}, "PERSISTED_QUERY_NOT_FOUND", None),
        ({"documentId": "PrefillCT01"}, "BAD_REQUEST", "documentId"),
        # the door's own refusal of a member of the wrong type reads the same
        ({"documentId": 5}, "BAD_REQUEST", "documentId"),
        (
            {"extensions": {"persistedQuery": {"version": 2}}},
            "BAD_REQUEST",
            "extensions.persistedQuery.version",
        ),
        ({"variables": SUBJECT}, "BAD_REQUEST", "query"),
    ],
)
async def test_refusals_are_the_same_in_dev_and_prod(
    env: Gateway, body: dict[str, Any], code: str, argument: str | None
) -> None:
    # BAD_REQUEST is HTTP 400 wherever it is found (docs/contract.md), as the door answers it
    status = 400 if code == "BAD_REQUEST" else 200
    answer = await env.post({**body, "variables": SUBJECT}, status=status)
    assert answer.get("data") is None
    assert codes(answer) == [code]
    if argument is not None:
        assert answer["errors"][0]["extensions"]["argument"] == argument


async def test_only_stewards_run_other_text_in_prod(gateway: Gateway) -> None:
    steward = clients.steward(gateway.issuer)
    citizen = clients.citizen(gateway.issuer, "048085000123")
    ran = {"data": {"adminUnit": {"name": "Thành phố Đà Nẵng"}}}
    for body in ({"query": AD_HOC}, {"query": AD_HOC, "extensions": apq(AD_HOC)}):
        gateway.prod(False)
        assert await gateway.post(body) == ran
        gateway.prod(True)
        assert await gateway.post(body, steward) == ran
        for restricted in (gateway.agency(), citizen):
            refused = await gateway.post(body, restricted)
            assert codes(refused) == ["OPERATION_NOT_ALLOWED"]
            assert refused["data"] is None
    gateway.prod(False)


async def test_the_manifest_to_callers_with_a_token(gateway: Gateway) -> None:
    citizen = clients.citizen(gateway.issuer, "048085000123")
    answers = [
        await gateway.http.get("/graphql/documents", headers=headers)
        for headers in (clients.agency(gateway.issuer), citizen)
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "private, no-cache"
    manifest = answers[0].json()
    assert answers[1].json() == manifest  # for now every caller may run every document
    assert manifest["format"] == "apollo-persisted-query-manifest"
    assert manifest["version"] == 1
    names = sorted(
        [path.stem for path in OPERATIONS_DIR.glob("*.graphql")]
        + ["Prefill" + path.stem for path in FORMS_DIR.glob("*.yaml")]
    )
    assert [operation["name"] for operation in manifest["operations"]] == names
    prefill = next(o for o in manifest["operations"] if o["name"] == "PrefillCT01")
    assert prefill == {
        "id": sha256(PREFILL_BODY),
        "name": "PrefillCT01",
        "type": "query",
        "body": PREFILL_BODY,
    }
    assert {o["type"] for o in manifest["operations"]} == {"query", "mutation"}

    # every id runs alone, in prod, for an agency: sent without its variables, each document
    # reaches the executor, which names the first variable missing (a citizen's own reads need
    # none: they run, and their fields are refused to anyone but the citizen; nor does the
    # change feed, which this agency, subscribed to nothing, is refused)
    gateway.prod(True)
    try:
        for operation in manifest["operations"]:
            answer = await gateway.post({"documentId": f"sha256:{operation['id']}"})
            if operation["name"] in {"MyAccessLog", "MyConsents"}:
                assert answer["errors"][0]["extensions"]["field"] == "citizen", answer
            elif operation["name"] == "Changes":
                assert answer["errors"][0]["extensions"]["field"] == "changes", answer
            else:
                assert answer["errors"][0]["message"].startswith("Variable '$"), answer
    finally:
        gateway.prod(False)

    unchanged = await gateway.http.get(
        "/graphql/documents",
        headers={**citizen, "If-None-Match": answers[0].headers["etag"]},
    )
    assert unchanged.status_code == 304


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"],
)
async def test_no_manifest_without_a_valid_token(
    gateway: Gateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = await gateway.http.get("/graphql/documents", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert [e["extensions"] for e in body["errors"]] == [{"code": "UNAUTHENTICATED"}]
    assert body["errors"][0]["message"]
    assert "operations" not in body


async def test_an_expired_token_gets_no_manifest(gateway: Gateway) -> None:
    token = gateway.issuer.mint(agency="motcua-danang", ttl_seconds=1, now=0)
    answer = await gateway.http.get(
        "/graphql/documents", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401


async def test_citizens_and_reference_lookups_have_documents_in_prod(gateway: Gateway) -> None:
    """What citizens' software and address pickers run in prod, where only trusted documents
    run for them: the citizen's own reads and consents, and public reference data."""
    citizen = clients.citizen(gateway.issuer, SUBJECT["subject"])
    gateway.prod(True)
    try:
        consents = await gateway.post({"operationName": "MyConsents"}, citizen)
        assert consents == {"data": {"myConsents": []}}
        log = await gateway.post(
            {"operationName": "MyAccessLog", "variables": {"first": 5}}, citizen
        )
        assert log["data"]["myAccessLog"]["pageInfo"] == {"endCursor": None, "hasNextPage": False}
        ad_hoc = await gateway.post({"query": "{ myConsents { id } }"}, citizen)
        assert ad_hoc["errors"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"
        unit = await gateway.post(
            {"operationName": "AdminUnit", "variables": {"code": "48"}},
            clients.agency(gateway.issuer),  # no X-Purpose: reference data is public
        )
        assert unit["data"]["adminUnit"]["code"] == "48"
        assert unit["data"]["adminUnit"]["level"] == "province"
    finally:
        gateway.prod(False)
