"""Persisted documents over HTTP: the manifest of the documents a caller may run
(`GET /graphql/documents`), and the request member strawberry's view drops (`documentId`).

Invariants:
- the manifest is served only to a caller whose bearer token verifies (an agency's data needs
  are not public); anyone else gets 401 with `WWW-Authenticate: Bearer` and the GraphQL error
  shape of `/graphql`'s own refusal (`UNAUTHENTICATED`). It lists the documents everyone may
  run and the caller's agency's own approved documents, never another agency's;
- the manifest is Apollo's persisted-query manifest: each operation's `body` is the trusted
  document's normalised text and its `id` that body's SHA-256, a hash `/graphql` accepts alone
  (`extensions.persistedQuery.sha256Hash`, or `documentId: "sha256:<id>"`);
- a request reaches admission with every member it was sent, `documentId` included, whichever
  path read it: the planned-documents shortcut through `request_data`, strawberry's view through
  `with_document_id` (from GET's parameters, or the body the door parsed: gateway.graph.http).
  Both hand admission the same `PersistedRequest` (`persisted`). Nothing parses the body again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from fastapi import APIRouter, Request, Response
from strawberry.http import GraphQLRequestData

from gateway.graph.http import BODY_STATE
from gateway.identity.errors import AuthenticationError
from gateway.trusted_documents import DOCUMENT_ID, PersistedRequest

MANIFEST_PATH = "/graphql/documents"
MANIFEST_MEDIA_TYPE = "application/json"

router = APIRouter(include_in_schema=False)


@dataclass
class DocumentRequestData(GraphQLRequestData):
    """One operation as strawberry's view reads it, with the top-level `documentId` it drops
    (as sent: admission checks its shape, so that a malformed one is a GraphQL error)."""

    document_id: object = None


def persisted(data: GraphQLRequestData) -> PersistedRequest:
    """What a request names, for `TrustedDocuments.resolve` (BAD_REQUEST for a malformed
    member)."""
    return PersistedRequest.of(
        {
            "query": data.query,
            "operationName": data.operation_name,
            "extensions": data.extensions,
            DOCUMENT_ID: getattr(data, "document_id", None),
        }
    )


def request_data(body: bytes | Mapping[str, object]) -> DocumentRequestData | None:
    """One operation as strawberry's view reads it, with `documentId` (from the body, or the
    body already parsed at the door), or None for anything it would treat otherwise (a batch,
    malformed JSON, members of the wrong type: its own 400s)."""
    try:
        data = orjson.loads(body) if isinstance(body, bytes) else body
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, Mapping):
        return None
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if (
        not isinstance(query, str | None)
        or not isinstance(variables, dict | None)
        or not isinstance(operation_name, str | None)
        or not isinstance(extensions, dict | None)
    ):
        return None
    return DocumentRequestData(
        query=query,
        variables=variables,
        operation_name=operation_name,
        extensions=extensions,
        document_id=data.get(DOCUMENT_ID),
    )


def with_document_id(data: GraphQLRequestData, request: Request) -> GraphQLRequestData:
    """`data` as strawberry's view parsed it, with the request's `documentId`: a GET parameter,
    or a member of the body the door parsed and kept (`BODY_STATE`)."""
    if isinstance(data, DocumentRequestData):  # read with it already (the planned shortcut)
        return data
    if request.method == "GET":
        document_id: object = request.query_params.get(DOCUMENT_ID)
    else:
        body = request.scope.get("state", {}).get(BODY_STATE)
        document_id = body.get(DOCUMENT_ID) if isinstance(body, Mapping) else None
    if document_id is None:
        return data
    return DocumentRequestData(
        query=data.query,
        variables=data.variables,
        operation_name=data.operation_name,
        extensions=data.extensions,
        protocol=data.protocol,
        document_id=document_id,
    )


def _unauthenticated(message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}
    return Response(
        orjson.dumps(body),
        status_code=401,
        media_type=MANIFEST_MEDIA_TYPE,
        headers={"WWW-Authenticate": 'Bearer realm="lienthong"'},
    )


@router.get(MANIFEST_PATH)
async def manifest(request: Request) -> Response:
    """The persisted-query manifest of the documents the caller may run."""
    services = request.app.state.services
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        principal = await services.verifier.verify(
            token.strip() if scheme.lower() == "bearer" else None
        )
    except AuthenticationError as error:
        return _unauthenticated(str(error))
    # A form saved or an agency document approved through another process is listed at once
    catalogue = await services.catalogues.moved()
    content = orjson.dumps(catalogue.trusted.manifest(principal.agency))
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    # Per agency: shared caches must not keep it
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=MANIFEST_MEDIA_TYPE, headers=headers)
