"""Trusted documents: the GraphQL operations published in `graphql/operations/*.graphql`, the
one generated for each prefill form, and each agency's own approved documents (all loaded by
gateway.graph.catalogue), and how a request names the document it runs (persisted documents as
clients send them).

Each file holds exactly one named operation. Documents are parsed and validated against the
schema once, when the set is built (at start-up, and when a form is saved), so the hot path
never parses a trusted document.

Invariants:
- what a request runs for a trusted document is that document's `source` (its text) and
  nothing else: it is the text `Plans` is keyed by, and `parse_limited` caches;
- a trusted document is known by its operation name and by SHA-256 hashes: of its file's text
  (what clients used before), of its *normalised* text (`print_ast` of the parsed file: no
  comments, one layout; the manifest's `body`, whose hash is the manifest's `id`), and of any
  text a client sent that normalised to it (remembered, at most `REMEMBERED_HASHES` of them, the
  least recently used forgotten first). A hash names a text, never a caller's choice of document:
  it is only ever remembered for the very text it is the SHA-256 of;
- an agency's own document (`scope`) is known to that agency only: by name, hash or text any
  other caller resolves it as if it did not exist, and only that agency's manifest lists it; a
  name is everyone's or one agency's, never both;
- `resolve` is the one resolution order, the same in dev and prod, for every caller; only its
  last step (a text that is no trusted document) depends on whether the caller is restricted
  (in prod, agencies and citizens: trusted documents only; stewards may run anything).

The order (`resolve`):
1. a hash with text: the hash must be the text's SHA-256 (`BAD_REQUEST` naming the member
   otherwise), then the text resolves as in 3;
2. a hash alone: a known hash runs its document; an unknown one is `PERSISTED_QUERY_NOT_FOUND`
   with the message `PersistedQueryNotFound`, on which Apollo clients resend with the text;
3. text: a known hash of it, else its normalised form, names a trusted document, which runs
   (and the text's hash is remembered); text that matches none runs as sent for an unrestricted
   caller, and is `OPERATION_NOT_ALLOWED` for a restricted one, whatever hash came with it;
4. an `operationName` alone names a trusted document by name (what one-stop software sends);
   an unknown name is `PERSISTED_QUERY_NOT_FOUND`;
5. nothing at all is `BAD_REQUEST` (`query`).

A malformed member (a `documentId` that is not `sha256:` and 64 hex digits, …) is `BAD_REQUEST`
naming it, as the door answers a member of the wrong type.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    Source,
    parse,
    print_ast,
    validate,
)
from graphql.language import Lexer, TokenKind

from gateway.errors import ErrorCode, GatewayError
from lienthong.resources import OPERATIONS_DIR

log = structlog.get_logger(__name__)

# Client hashes remembered for the documents their texts normalised to. A hash costs about 150
# bytes: 4,096 of them are well under a megabyte per process. Each process remembers its own:
# a client whose hash another process remembers gets PERSISTED_QUERY_NOT_FOUND here and resends
# its text once, which Apollo's clients do by themselves.
REMEMBERED_HASHES = 4096
# Bounds on a text parsed only to be compared with the trusted documents (before the router's own
# limits): a text that normalises to a trusted document has exactly its lexical tokens, so more
# cannot match; comments and layout are free, within these bounds.
MAX_MATCH_COMMENTS = 1000
MAX_MATCH_LENGTH = 256 * 1024

APQ_HASH = "extensions.persistedQuery.sha256Hash"
DOCUMENT_ID = "documentId"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"  # the message Apollo's clients (web, iOS, Kotlin) test


@dataclass(frozen=True)
class AgencyScope:
    """An agency document's terms: only `agency` runs it, only for `purpose`, and only while
    every agreement it relies on is in force (`valid_from` to `valid_to`, None: open)."""

    agency: str
    purpose: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= now) and (
            self.valid_to is None or now < self.valid_to
        )


@dataclass(frozen=True)
class TrustedDocument:
    name: str
    sha256: str  # of `source`, the file's text
    source: str  # the file's (or the generated) text: what runs, and what plans are keyed by
    document: DocumentNode
    origin: str  # where it comes from: its file's name, or "form <code>"
    body: str  # the normalised text: `print_ast(document)`
    body_sha256: str  # the manifest's `id`
    operation_type: str  # "query" | "mutation" | "subscription"
    scope: AgencyScope | None = None  # an agency's own document; None: everyone's

    @property
    def owner(self) -> str | None:
        return None if self.scope is None else self.scope.agency


class TrustedDocumentError(ValueError):
    """A file in graphql/operations/ is not a single valid named operation."""


@dataclass(frozen=True)
class PersistedRequest:
    """What a request names: its text, its operation name, and a document hash (lowercase hex)
    from `extensions.persistedQuery.sha256Hash` or `documentId: "sha256:<hex>"`; `sha256_from`
    says which member carried the hash, for the errors that name it."""

    query: str | None = None
    operation_name: str | None = None
    sha256: str | None = None
    sha256_from: str = APQ_HASH

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> PersistedRequest:
        """The members of a GraphQL-over-HTTP request (a JSON body, or GET's parameters with
        `extensions` decoded); a member of the wrong shape is `BAD_REQUEST` naming it."""
        query, operation_name = body.get("query"), body.get("operationName")
        if not isinstance(query, str | None):
            raise _bad_request("query", "query: the GraphQL document, as a string")
        if not isinstance(operation_name, str | None):
            raise _bad_request("operationName", "operationName: an operation's name, a string")
        apq = _apq_hash(body.get("extensions"))
        document_id = _document_id(body.get(DOCUMENT_ID))
        if apq is not None and document_id is not None and apq != document_id:
            raise _bad_request(
                DOCUMENT_ID,
                f"{DOCUMENT_ID} and {APQ_HASH} name different documents: send one of them",
            )
        return cls(
            query=query,
            operation_name=operation_name,
            sha256=apq or document_id,
            sha256_from=APQ_HASH if apq is not None or document_id is None else DOCUMENT_ID,
        )


class Resolved(NamedTuple):
    """What a request runs: the text, the operation name, and the trusted document it is (None
    for an unrestricted caller's own text)."""

    query: str
    operation_name: str | None
    document: TrustedDocument | None


def _bad_request(argument: str, message: str) -> GatewayError:
    """A request that is not a well-formed GraphQL-over-HTTP request, naming the member: the
    code the door (gateway.graph.http) gives members of the wrong type, so that one member
    answers alike whatever is wrong with it."""
    return GatewayError(ErrorCode.BAD_REQUEST, message, argument=argument)


def _apq_hash(extensions: object) -> str | None:
    if extensions is None:
        return None
    if not isinstance(extensions, Mapping):
        raise _bad_request("extensions", "extensions: a JSON object")
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, Mapping):
        raise _bad_request("extensions.persistedQuery", "persistedQuery: a JSON object")
    version = persisted.get("version", 1)
    if version != 1 or isinstance(version, bool):
        raise _bad_request(
            "extensions.persistedQuery.version", "persistedQuery: only version 1 is supported"
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
        raise _bad_request(APQ_HASH, "sha256Hash: the SHA-256 of the document, 64 hex digits")
    return sha256.lower()


def _document_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (
        value.startswith("sha256:") and _HEX64.fullmatch(value.removeprefix("sha256:"))
    ):
        raise _bad_request(
            DOCUMENT_ID, 'documentId: "sha256:" and the SHA-256 of the document, 64 hex digits'
        )
    return value.removeprefix("sha256:").lower()


def _sha256(text: str) -> str:
    # surrogatepass: a lone surrogate (JSON allows `\ud800`) hashes to nothing known, never raises
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _lexical_tokens(source: str) -> int:
    """The tokens the parser reads (comments excluded), as `max_lexical_tokens` counts them."""
    lexer, count = Lexer(Source(source)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def _document(
    schema: GraphQLSchema, source: str, origin: str, scope: AgencyScope | None = None
) -> TrustedDocument:
    document = parse(source)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise TrustedDocumentError(f"{origin}: expected exactly one named operation")
    errors = validate(schema, document)
    if errors:
        raise TrustedDocumentError(f"{origin}: {errors[0].message}")
    body = print_ast(document)
    return TrustedDocument(
        name=operations[0].name.value,
        sha256=_sha256(source),
        source=source,
        document=document,
        origin=origin,
        body=body,
        body_sha256=_sha256(body),
        operation_type=operations[0].operation.value,
        scope=scope,
    )


Owner = str | None  # the agency whose own document it is; None: everyone's
_Candidates = dict[Owner, TrustedDocument]


def _visible(candidates: _Candidates | None, agency: str | None) -> TrustedDocument | None:
    """Of the documents with one text or hash, the one `agency` may run: everyone's first."""
    if not candidates:
        return None
    return candidates.get(None) or (candidates.get(agency) if agency is not None else None)


class TrustedDocuments:
    def __init__(self, documents: list[TrustedDocument]) -> None:
        self._by_name: dict[tuple[Owner, str], TrustedDocument] = {}
        self._by_hash: dict[str, _Candidates] = {}  # file and normalised texts' hashes
        self._by_body: dict[str, _Candidates] = {}
        self._remembered: OrderedDict[tuple[Owner, str], TrustedDocument] = OrderedDict()
        self._manifests: dict[str | None, dict[str, Any]] = {}
        for document in documents:
            # A name is everyone's or one agency's, never both: a request by name is unambiguous
            taken = self._by_name.get((None, document.name)) or self._by_name.get(
                (document.owner, document.name)
            )
            if taken is None and document.owner is None:
                taken = next((d for (_, n), d in self._by_name.items() if n == document.name), None)
            if taken is not None:
                raise TrustedDocumentError(
                    f"operation {document.name!r} is defined in both "
                    f"{taken.origin} and {document.origin}"
                )
            self._by_name[document.owner, document.name] = document
            for digest in (document.sha256, document.body_sha256):
                self._by_hash.setdefault(digest, {})[document.owner] = document
            self._by_body.setdefault(document.body, {})[document.owner] = document
        self._max_tokens = max((_lexical_tokens(d.body) for d in documents), default=0)

    @classmethod
    def load(
        cls,
        schema: GraphQLSchema,
        folder: Path = OPERATIONS_DIR,
        *,
        generated: Mapping[str, str] | None = None,
        agencies: Iterable[tuple[AgencyScope, str, str]] = (),
        previous: TrustedDocuments | None = None,
    ) -> TrustedDocuments:
        """The files of `folder`, the `generated` texts (by origin) and the `agencies`' own
        documents (scope, origin, text), each a single named operation valid against `schema`.
        The client hashes `previous` remembered for a document whose text is unchanged are
        remembered again: a reload does not make clients resend."""
        sources = [
            (path.name, path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob("*.graphql"))
        ]
        sources += sorted((generated or {}).items())
        published = [_document(schema, text, origin) for origin, text in sources]
        names = {d.name for d in published}
        for scope, origin, text in agencies:
            # An agency's document is data: one that no longer builds (a schema change) or
            # takes a published name is left out, never the published ones with it
            try:
                document = _document(schema, text, origin, scope)
            except (GraphQLError, TrustedDocumentError) as error:
                log.error("agency document left out", origin=origin, error=str(error))
                continue
            if document.name in names:
                log.error("agency document left out: its name is published", origin=origin)
                continue
            published.append(document)
        documents = cls(published)
        if previous is not None:
            for (owner, digest), document in previous._remembered.items():
                kept = documents._by_name.get((owner, document.name))
                if kept is not None and kept.body == document.body:
                    documents._remember(digest, kept)
        return documents

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[TrustedDocument]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        """Whether `name` is one of everyone's documents."""
        return (None, name) in self._by_name

    def named(self, name: str, agency: str | None = None) -> TrustedDocument | None:
        """Everyone's document of that name, else `agency`'s own."""
        return self._by_name.get((None, name)) or (
            self._by_name.get((agency, name)) if agency is not None else None
        )

    def manifest(self, agency: str | None = None) -> dict[str, Any]:
        """The Apollo persisted-query manifest of the documents `agency` may run: everyone's
        and its own (ids: the SHA-256 of each normalised body, which `resolve` accepts alone)."""
        manifest = self._manifests.get(agency)
        if manifest is None:
            runs = [d for d in self if d.owner is None or d.owner == agency]
            manifest = self._manifests[agency] = {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {
                        "id": d.body_sha256,
                        "name": d.name,
                        "type": d.operation_type,
                        "body": d.body,
                    }
                    for d in sorted(runs, key=lambda d: d.name)
                ],
            }
        return manifest

    def resolve(
        self,
        request: PersistedRequest,
        *,
        restricted: bool,
        remember: bool = True,
        agency: str | None = None,
    ) -> Resolved:
        """What `request` runs, in the module's one order. `restricted`: the caller may run
        trusted documents only. `remember=False` looks without learning a new hash (for
        routing before the caller is authenticated). `agency`: the caller's, whose own
        documents it may run besides everyone's (an agency document is unknown to others)."""
        if request.query is not None:
            return self._resolve_text(
                request.query, request, restricted=restricted, remember=remember, agency=agency
            )
        if request.sha256 is not None:
            document = self._known(request.sha256, agency)
            if document is None:
                raise GatewayError(ErrorCode.PERSISTED_QUERY_NOT_FOUND, NOT_FOUND_MESSAGE)
            return self._runs(document, request.operation_name)
        if request.operation_name is not None:
            document = self.named(request.operation_name, agency)
            if document is None:
                raise GatewayError(
                    ErrorCode.PERSISTED_QUERY_NOT_FOUND,
                    f"no trusted document is named {request.operation_name!r}: the manifest "
                    "(GET /graphql/documents) lists them",
                )
            return self._runs(document, None)
        raise _bad_request(
            "query",
            "no GraphQL query in the request: send a query, a trusted document's hash "
            "(extensions.persistedQuery.sha256Hash or documentId) or its operationName",
        )

    def _resolve_text(
        self,
        query: str,
        request: PersistedRequest,
        *,
        restricted: bool,
        remember: bool,
        agency: str | None,
    ) -> Resolved:
        digest = _sha256(query)
        if request.sha256 is not None and request.sha256 != digest:
            # A client that hashes something other than what it sends would have every later
            # hash-alone request run the wrong text: it is told, never guessed at
            raise _bad_request(
                request.sha256_from,
                f"{request.sha256_from} is not the SHA-256 of the query sent: hash the exact "
                "text of `query` (UTF-8), or send the hash alone",
            )
        document = self._known(digest, agency)
        if document is None:
            document = _visible(self._by_body.get(self._normalised(query) or ""), agency)
            if document is not None and remember:
                self._remember(digest, document)
        if document is not None:
            return self._runs(document, request.operation_name)
        if restricted:
            raise GatewayError(
                ErrorCode.OPERATION_NOT_ALLOWED,
                "only trusted documents may be run: the manifest (GET /graphql/documents) "
                "lists them",
            )
        return Resolved(query, request.operation_name, None)

    @staticmethod
    def _runs(document: TrustedDocument, operation_name: str | None) -> Resolved:
        # A name other than the document's own is passed on: the executor reports it as an
        # unknown operation, exactly as it does for the same text sent with that name
        return Resolved(document.source, operation_name or document.name, document)

    def _known(self, sha256: str, agency: str | None) -> TrustedDocument | None:
        document = _visible(self._by_hash.get(sha256), agency)
        for owner in (None, agency) if agency is not None else (None,):
            if document is not None:
                break
            document = self._remembered.get((owner, sha256))
            if document is not None:
                self._remembered.move_to_end((owner, sha256))
        return document

    def _remember(self, sha256: str, document: TrustedDocument) -> None:
        self._remembered[document.owner, sha256] = document
        if len(self._remembered) > REMEMBERED_HASHES:
            self._remembered.popitem(last=False)

    def _normalised(self, text: str) -> str | None:
        """`print_ast` of the text, or None when it cannot be a trusted document's (a syntax
        error, or more than any trusted document's tokens)."""
        if not self._by_body:
            return None  # nothing to match (and no token count to bound the parse by)
        try:
            document = parse(
                text,
                no_location=True,
                max_lexical_tokens=self._max_tokens,
                max_comments=MAX_MATCH_COMMENTS,
                max_source_length=MAX_MATCH_LENGTH,
            )
        except GraphQLError:
            return None
        return print_ast(document)
