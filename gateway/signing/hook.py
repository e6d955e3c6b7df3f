"""The signing hook at `/graphql`'s door: a client that accepts `application/jose` gets the
answer it would otherwise have had (the `application/graphql-response+json` one: same status,
same headers, same GraphQL object) as the payload of a signed answer (gateway.signing.answers).

The door (gateway.graph.http) puts an AnswerEvidence in the request's state; the router fills it
in as the request ends (who asked, for what, and what the access log recorded); the send wrapper
here holds the response, signs it with that evidence and sends the JWS instead. Refusals at the
door, before the router, are signed too: with no request id, agency or entries.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from starlette.types import Message, Send

from gateway.audit.writer import ChainPosition, Recorded
from gateway.signing.answers import MEDIA_TYPE, sign_answer
from gateway.signing.keys import AnswerKeys

log = structlog.get_logger(__name__)

ANSWER_STATE = "signed_answer"  # scope["state"] key: the AnswerEvidence of a signed request


@dataclass
class AnswerEvidence:
    """What the router knows of the request once it ends, for the signed answer."""

    request_id: str | None = None
    agency: str | None = None
    officer: Mapping[str, Any] | None = None
    purpose: str | None = None
    dossier: str | None = None
    recorded: list[Recorded] = field(default_factory=list)

    def access_log(self) -> dict[str, list[dict[str, Any]]]:
        entries = [entry for recorded in self.recorded for entry in recorded.entries]
        heads: dict[str, ChainPosition] = {}
        for recorded in self.recorded:  # the latest head of each chain written to
            head = recorded.head
            if head is not None and (
                head.chain_key not in heads or heads[head.chain_key].seq < head.seq
            ):
                heads[head.chain_key] = head
        return {
            "entries": [entry.as_json() for entry in entries],
            "heads": [head.as_json() for head in heads.values()],
        }


class AnswerSigner:
    def __init__(self, keys: AnswerKeys, *, issuer: str) -> None:
        self.keys = keys
        self.issuer = issuer

    def claims(
        self, evidence: AnswerEvidence, *, status: int, response: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "iat": int(time.time()),
            "request_id": evidence.request_id,
            "agency": evidence.agency,
            "officer": dict(evidence.officer) if evidence.officer is not None else None,
            "purpose": evidence.purpose,
            "dossier": evidence.dossier,
            "status": status,
            "response": response,
            "access_log": evidence.access_log(),
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        key = self.keys.current()
        return sign_answer(claims, key.key, kid=key.kid)

    def sending(self, send: Send, evidence: AnswerEvidence) -> Send:
        """`send`, with the response held and sent as a signed answer."""
        started: Message | None = None
        held: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = message
                return
            if started is None or message["type"] != "http.response.body":
                await send(message)
                return
            held.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._send_signed(send, started, b"".join(held), evidence)

        return sending

    async def _send_signed(
        self, send: Send, started: Message, body: bytes, evidence: AnswerEvidence
    ) -> None:
        status = int(started["status"])
        try:
            response = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            response = None
        if not isinstance(response, dict):  # nothing GraphQL to certify: sent as it is
            await send(started)
            await send({"type": "http.response.body", "body": body})
            return
        try:
            token = self.sign(self.claims(evidence, status=status, response=response)).encode()
        except Exception as error:  # the key went bad under us: say so, sign nothing false
            log.error("answer could not be signed", error=type(error).__name__)
            status, token = 503, orjson.dumps(
                {"errors": [{"message": "the answer could not be signed",
                             "extensions": {"code": "UNAVAILABLE"}}]}
            )  # fmt: skip
            media = b"application/json"
        else:
            media = MEDIA_TYPE.encode()
        headers = [
            (name, value)
            for name, value in started.get("headers", [])
            if name.lower() not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", media), (b"content-length", str(len(token)).encode())]
        await send({**started, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": token})
