"""GraphQL over HTTP as the specification and real clients expect it: media types, request
errors, one JSON error shape with a code for every bad input, limits before buffering, the
standard introspection query in dev, security headers, and no WebSocket side door."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.types import Message

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests import clients
from tests.graphql_world import sample_resident

GRAPHQL_RESPONSE = "application/graphql-response+json"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName } }"


@pytest.fixture(scope="module")
def settings_(committed_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=committed_database_url,
        home=tmp_path_factory.mktemp("http-home"),
        graphql_max_body_bytes=4096,
        graphql_max_query_bytes=2048,
        graphql_max_json_depth=8,
    )


@pytest.fixture(scope="module")
async def resident(settings_: Settings) -> str:
    return await sample_resident(settings_, "Đỗ Văn Nam")


@pytest.fixture(scope="module")
async def http(settings_: Settings, resident: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clients.app_client(settings_) as client:
        client.headers.update(clients.agency(DevIssuer(settings_)))
        client.headers["X-Purpose"] = "CT01"
        yield client


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
    return dict(body)


async def test_the_specifications_media_type_when_accepted(
    http: httpx.AsyncClient, resident: str
) -> None:
    body = {"query": RESIDENT, "variables": {"id": resident}}
    modern = await http.post("/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE})
    assert modern.status_code == 200
    assert modern.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert modern.json() == {"data": {"resident": {"fullName": "Đỗ Văn Nam"}}}
    legacy = await http.post("/graphql", json=body, headers={"Accept": "application/json"})
    assert legacy.headers["content-type"].startswith("application/json")
    neither = await http.post("/graphql", json=body, headers={"Accept": "text/csv"})
    _error(neither, 406, "NOT_ACCEPTABLE")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ resident(id: "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": '{ resident(id: "1") { noSuchField } }'}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": RESIDENT, "operationName": "Nope"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query A { __typename } query B { __typename }"}, "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_request_errors_are_4xx_without_data_in_the_new_media_type(
    http: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    """And 200 with `data: null` for application/json clients, as the specification says."""
    modern = await http.post("/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE})
    assert "data" not in _error(modern, 400, code)
    legacy = await http.post("/graphql", json=body, headers={"Accept": "application/json"})
    assert _error(legacy, 200, code)["data"] is None


async def test_an_unknown_operation_name_is_a_validation_error_not_a_purpose_one(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post(
        "/graphql",
        json={"query": RESIDENT, "operationName": "Other"},
        headers={"X-Purpose": ""},
    )
    assert "Other" in _error(answer, 200, "GRAPHQL_VALIDATION_FAILED")["errors"][0]["message"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'[{"query": "{ __typename }"}]', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ __typename }"', "application/json", 400, "BAD_REQUEST"),
        (b"null", "application/json", 400, "BAD_REQUEST"),
        (b'"x"', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ __typename }\xff"}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": 42}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ __typename }", "variables": [1]}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ __typename }"}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"query=%7B__typename%7D", "application/x-www-form-urlencoded", 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"query": "{ __typename }", "variables": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000
         + b"}", "application/json", 413, "PAYLOAD_TOO_LARGE"),
    ],
    ids=["batch", "invalid JSON", "null", "a string", "invalid UTF-8", "query not a string",
         "variables not an object", "text/plain", "a form", "JSON nested 5,000 levels"],
)  # fmt: skip
async def test_bad_requests_answer_json_with_a_code(
    http: httpx.AsyncClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    answer = await http.post("/graphql", content=content, headers={"Content-Type": content_type})
    assert answer.headers["content-type"].startswith("application/json")
    _error(answer, status, code)


@pytest.mark.parametrize(
    ("method", "params", "status", "code"),
    [
        ("GET", {"query": 'mutation { revokeConsent(id: "x") { id } }'}, 400, "BAD_REQUEST"),
        ("GET", {}, 404, "BAD_REQUEST"),
        ("GET", {"query": "{ __typename }", "variables": "not json"}, 400, "BAD_REQUEST"),
        ("PUT", {}, 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", {}, 405, "METHOD_NOT_ALLOWED"),
    ],
)
async def test_what_the_frameworks_refuse_answers_in_the_same_shape(
    http: httpx.AsyncClient, method: str, params: dict[str, str], status: int, code: str
) -> None:
    """strawberry's and FastAPI's own refusals (plain text, `{"detail"}`) reach the client as
    every other error does."""
    answer = await http.request(method, "/graphql", params=params)
    assert answer.headers["content-type"].startswith("application/json")
    _error(answer, status, code)


async def test_nesting_within_the_limit_passes(http: httpx.AsyncClient) -> None:
    nested: dict[str, Any] = {"a": 1}
    for _ in range(6):
        nested = {"a": nested}
    answer = await http.post("/graphql", json={"query": "{ __typename }", "variables": nested})
    assert answer.json() == {"data": {"__typename": "Query"}}
    for _ in range(4):
        nested = {"a": nested}
    too_deep = await http.post("/graphql", json={"query": "{ __typename }", "variables": nested})
    _error(too_deep, 413, "PAYLOAD_TOO_LARGE")


async def test_bodies_and_queries_over_the_limits_are_refused_unread(
    http: httpx.AsyncClient,
) -> None:
    padded = "{ __typename }" + " " * 3000  # white space counts: a query is its bytes
    _error(await http.post("/graphql", json={"query": padded}), 413, "PAYLOAD_TOO_LARGE")
    commented = "# " + "x" * 2100 + "\n{ __typename }"
    _error(await http.post("/graphql", json={"query": commented}), 413, "PAYLOAD_TOO_LARGE")
    huge = b'{"query": "{ __typename }", "extensions": {"pad": "' + b"x" * 10_000_000 + b'"}}'
    answer = await http.post("/graphql", content=huge, headers={"Content-Type": "application/json"})
    assert "4096 bytes" in _error(answer, 413, "PAYLOAD_TOO_LARGE")["errors"][0]["message"]

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        yield b'{"query": "{ __typename }", "extensions": {"pad": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}}'

    chunked = await http.post(
        "/graphql", content=streamed(), headers={"Content-Type": "application/json"}
    )
    _error(chunked, 413, "PAYLOAD_TOO_LARGE")


async def test_the_standard_introspection_query_runs_in_dev(http: httpx.AsyncClient) -> None:
    answer = await http.post("/graphql", json={"query": get_introspection_query()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    # introspection has a depth limit of its own; the data's is unchanged
    too_deep = "{ __schema { types { " + "ofType { " * 25 + "name" + " }" * 25 + " } } }"
    _error(await http.post("/graphql", json={"query": too_deep}), 200, "QUERY_TOO_COMPLEX")


async def test_answers_carry_no_cache_no_sniff_no_frame_headers(
    http: httpx.AsyncClient, resident: str
) -> None:
    answer = await http.post("/graphql", json={"query": RESIDENT, "variables": {"id": resident}})
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    refused = await http.post("/graphql", content=b"[]", headers={"Content-Type": "text/plain"})
    assert refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_no_websocket_side_door(settings_: Settings, protocol: str) -> None:
    """A socket would run operations outside admission and the access log: the handshake is
    refused (the client sees HTTP 403), whatever the subprotocol."""
    app = create_app(settings_)
    sent: list[Message] = []
    messages: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
        "headers": [(b"sec-websocket-protocol", protocol.encode())], "subprotocols": [protocol],
        "scheme": "ws", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000),
        "root_path": "", "asgi": {"version": "3.0"},
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
