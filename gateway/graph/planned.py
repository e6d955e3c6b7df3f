"""The planned-documents shortcut: `POST /graphql` of a trusted document that has a compiled plan
(gateway.graph.plans) is answered here, in front of FastAPI's routing and strawberry's view.

Both cost more than the plan itself on the prefill path (route matching, dependency solving,
request and response objects); neither checks anything. What does the checking — admission,
the plan or the generic executor it falls back to, sealing with the access log — is the
router's `answer`, which strawberry's view runs too. The response is made by the router's
`respond`, the very steps the view takes: its `process_result`, error hook, JSON encoding, status
and headers.

Anything else — another path or method, a body that is not one JSON object, a stream, a
document without a plan — goes on to the application unchanged, its body replayed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import GraphQLRequestData

from gateway.graph.documents import request_data
from gateway.graph.http import BODY_STATE

if TYPE_CHECKING:
    from gateway.graph.router import GatewayRouter

GRAPHQL_PATH = "/graphql"


class _Post:
    """The request adapter strawberry's execution reads: only its method."""

    method = "POST"


async def _body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body, and the messages it came in (to replay them)."""
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away
            return b"", messages
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), messages


class PlannedDocuments:
    """ASGI middleware; `router` is the application's GatewayRouter."""

    def __init__(self, app: ASGIApp, router: GatewayRouter) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == GRAPHQL_PATH
            and self.router.plans_enabled
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        accept = headers.get("accept", "")
        if (
            "application/json" not in headers.get("content-type", "")
            or "multipart" in accept
            or "text/event-stream" in accept
        ):
            await self.app(scope, receive, send)
            return
        parsed = scope.get("state", {}).get(BODY_STATE)
        if isinstance(parsed, dict):  # checked at the door (gateway.graph.http)
            data = request_data(parsed)
            if data is None or not self.router.has_plan(data):
                await self.app(scope, receive, send)
                return
            await self._answer(Request(scope, receive), data, send)
            return
        body, messages = await _body(receive)
        data = request_data(body) if messages[-1]["type"] == "http.request" else None
        if data is None or not self.router.has_plan(data):
            await self.app(scope, _replay(messages, receive), send)
            return
        await self._answer(Request(scope, receive), data, send)

    async def _answer(self, request: Request, data: GraphQLRequestData, send: Send) -> None:
        router = self.router
        # As FastAPI makes the sub-response strawberry's view answers with: no length
        sub_response = Response()
        del sub_response.headers["content-length"]
        result = await router.answer(request, _Post(), sub_response, router.new_context(), data)
        response = await router.respond(request, result, sub_response)
        await response(request.scope, request.receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the messages already read, then the client's own."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
