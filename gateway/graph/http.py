"""GraphQL over HTTP at the door of `/graphql`: what the specification and clients expect, before
anything else sees the request.

- Media types: the answer is `application/graphql-response+json` when the client accepts it,
  `application/json` otherwise; 406 when it accepts neither. The router shapes request errors
  by it (4xx and no `data` for the new media type).
- Every refusal here is one JSON shape, `{"errors": [{"message", "extensions": {"code"}}]}`,
  never plain text or a 500: an unsupported content type (415), a body that is not one JSON
  object (a batch, invalid JSON or UTF-8, `null`, a string), members of the wrong type
  (`BAD_REQUEST`, 400), and what is over the limits (`PAYLOAD_TOO_LARGE`, 413): the body (checked
  on `Content-Length` and while reading, never buffered past the limit), the query's bytes, and
  JSON nesting.
- Signed answers: with a signer, a client accepting `application/jose` gets the answer as a
  signed answer (gateway.signing.hook), the answer being the `application/graphql-response+json`
  one; the door's own refusals are signed too.
- No side door: WebSocket connections to `/graphql` are refused (no subscription exists; an
  operation over a socket would skip admission and the access log).

What passes is replayed, unchanged, to the application.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ErrorCode
from gateway.signing.hook import ANSWER_STATE, AnswerEvidence, AnswerSigner

GRAPHQL_PATH = "/graphql"
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
JOSE = "application/jose"  # a signed answer (gateway.signing)
MEDIA_STATE = "graphql_media"  # scope["state"] key: the media type the answer is given in
BODY_STATE = "graphql_body"  # scope["state"] key: the body, parsed and checked here
# The members of a GraphQL-over-HTTP request body and the JSON types they may have
MEMBERS: Mapping[str, tuple[type, ...]] = {
    "query": (str,),
    "operationName": (str,),
    "variables": (dict,),
    "extensions": (dict,),
    "documentId": (str,),
}


def negotiate(accept: str | None, *, signed: bool = False) -> str | None:
    """The media type to answer in, from `Accept` (q-values honoured); None if none is.
    `application/jose` only when the gateway `signed` answers; on a tie it wins (asked for by
    name, it is what the client came for)."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE:
            chosen = GRAPHQL_RESPONSE
        elif media == JOSE and signed:
            chosen = JOSE
        elif media in (JSON, "application/*", "*/*"):  # what legacy clients send
            chosen = JSON
        else:
            continue
        if quality <= 0:
            continue
        # the higher quality wins; on a tie, the specification's own media type
        rank = (quality, _PREFERENCE.get(chosen, 0), chosen)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return best[2] if best else None


_PREFERENCE = {JOSE: 2, GRAPHQL_RESPONSE: 1}


def json_depth(value: Any, limit: int) -> int:
    """How deeply `value` nests, counting stops just past `limit` (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class RequestRejected(Exception):  # noqa: N818 - an answer, not a failure
    def __init__(self, status: int, code: ErrorCode, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.extensions = status, code, extensions


def check_body(body: bytes, *, max_query_bytes: int, max_json_depth: int) -> dict[str, Any]:
    """A POST body as the specification allows it: one JSON object of known members."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "recursion" in str(error):
            raise RequestRejected(
                413, ErrorCode.PAYLOAD_TOO_LARGE, f"the JSON nests deeper than {max_json_depth}"
            ) from error
        raise RequestRejected(
            400, ErrorCode.BAD_REQUEST, f"the body is not JSON in UTF-8: {error}"
        ) from error
    if isinstance(data, list):
        raise RequestRejected(
            400, ErrorCode.BAD_REQUEST, "batches are not supported: send one operation per request"
        )
    if not isinstance(data, dict):
        raise RequestRejected(400, ErrorCode.BAD_REQUEST, "the body must be one JSON object")
    for name, kinds in MEMBERS.items():
        value = data.get(name)
        if value is not None and not isinstance(value, kinds):
            kind = "an object" if dict in kinds else "a string"
            raise RequestRejected(
                400, ErrorCode.BAD_REQUEST, f"{name} must be {kind}", argument=name
            )
    query = data.get("query")
    if isinstance(query, str) and len(query.encode()) > max_query_bytes:
        raise RequestRejected(
            413, ErrorCode.PAYLOAD_TOO_LARGE, f"the query is longer than {max_query_bytes} bytes"
        )
    for name in ("variables", "extensions"):
        if json_depth(data.get(name), max_json_depth) > max_json_depth:
            raise RequestRejected(
                413, ErrorCode.PAYLOAD_TOO_LARGE, f"{name} nests deeper than {max_json_depth}"
            )
    return data


class GraphQLHttp:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_query_bytes: int,
        max_json_depth: int,
        ide_path: str | None = None,
        signer: AnswerSigner | None = None,
    ) -> None:
        self.app = app
        self.signer = signer
        self.ide_path = ide_path  # where a browser opening /graphql is sent (dev's GraphiQL)
        self.max_body = max_body_bytes
        self.max_query = max_query_bytes
        self.max_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") != GRAPHQL_PATH or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Refused before the handshake completes: the client sees HTTP 403
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        if self.ide_path and scope["method"] == "GET" and _wants_a_page(headers.get("accept")):
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", self.ide_path.encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        media = negotiate(headers.get("accept"), signed=self.signer is not None)
        if media == JOSE and self.signer is not None:
            # The answer a graphql-response+json client gets, signed on its way out
            evidence = AnswerEvidence()
            scope.setdefault("state", {})[ANSWER_STATE] = evidence
            send = self.signer.sending(send, evidence)
            media = GRAPHQL_RESPONSE
        if media is None:
            await _reject(send, JSON, RequestRejected(
                406, ErrorCode.NOT_ACCEPTABLE,
                f"the answer is {GRAPHQL_RESPONSE} or {JSON}: accept one of them",
            ))  # fmt: skip
            return
        scope.setdefault("state", {})[MEDIA_STATE] = media
        try:
            if scope["method"] == "POST":
                receive = await self._body(headers, receive, scope)
            elif scope["method"] == "GET" and len(scope.get("query_string", b"")) > self.max_query:
                raise RequestRejected(
                    413, ErrorCode.PAYLOAD_TOO_LARGE,
                    f"the query string is longer than {self.max_query} bytes",
                )  # fmt: skip
        except RequestRejected as rejected:
            await _reject(send, media, rejected)
            return
        await self.app(scope, receive, _answering_in(media, send))

    async def _body(self, headers: Headers, receive: Receive, scope: Scope) -> Receive:
        """The body, read within the limit and checked (kept parsed in the scope's state, so
        that nothing parses it again), and a `receive` that replays it."""
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != JSON:
            raise RequestRejected(
                415, ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"send the operation as {JSON} (Content-Type), not {media or 'nothing'}",
            )  # fmt: skip
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _too_large(self.max_body)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(self.max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope["state"][BODY_STATE] = check_body(
            body, max_query_bytes=self.max_query, max_json_depth=self.max_depth
        )
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _wants_a_page(accept: str | None) -> bool:
    """A browser's navigation: it asks for HTML before anything JSON."""
    return bool(accept) and "text/html" in (accept or "").split(",")[0]


def _too_large(limit: int) -> RequestRejected:
    return RequestRejected(
        413, ErrorCode.PAYLOAD_TOO_LARGE, f"the body is larger than {limit} bytes"
    )


# What the frameworks below answer in their own words (strawberry's plain-text 400s, FastAPI's
# `{"detail": …}`), by status: the contract's code for it
FRAMEWORK_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.BAD_REQUEST,
    405: ErrorCode.METHOD_NOT_ALLOWED,
}


def _answering_in(media: str, send: Send) -> Send:
    """`send`, with a JSON answer's media type set to the negotiated one; and an error in the
    frameworks' own words (strawberry's plain-text 400s, FastAPI's `{"detail": …}`) put in the
    contract's shape. Such statuses are held until their body says whose they are."""
    started: Message | None = None
    held: list[bytes] = []

    async def sending(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            if media != JSON:
                message["headers"] = [
                    (name, _media(value) if name == b"content-type" else value)
                    for name, value in message.get("headers", [])
                ]
            if message["status"] in FRAMEWORK_CODES:
                started = message
                return
            await send(message)
            return
        if started is None:
            await send(message)
            return
        held.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(held)
        if _graphql_answer(body):
            await send(started)
            await send({"type": "http.response.body", "body": body})
            return
        await _reject(send, media, _translated(started["status"], body))

    return sending


def _media(content_type: bytes) -> bytes:
    """A JSON answer's content type, as the specification's media type."""
    return GRAPHQL_RESPONSE.encode() if content_type.startswith(JSON.encode()) else content_type


def _graphql_answer(body: bytes) -> bool:
    """The router's own answer (`errors` and perhaps `data`), not a framework's refusal."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(answer, dict) and isinstance(answer.get("errors"), list)


def _translated(status: int, body: bytes) -> RequestRejected:
    detail = None
    if body.startswith(b"{"):
        try:
            parsed = orjson.loads(body)
            detail = parsed.get("detail") if isinstance(parsed, dict) else None
        except orjson.JSONDecodeError:
            detail = None
    message = str(detail) if detail else body.decode("utf-8", "replace").strip() or "refused"
    return RequestRejected(status, FRAMEWORK_CODES[status], message)


async def _reject(send: Send, media: str, rejected: RequestRejected) -> None:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": str(rejected),
                    "extensions": {"code": rejected.code.value, **rejected.extensions},
                }
            ]
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": rejected.status,
            "headers": [
                (b"content-type", f"{media}; charset=utf-8".encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
