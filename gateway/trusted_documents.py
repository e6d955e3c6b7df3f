"""Trusted documents: the GraphQL operations published in `graphql/operations/*.graphql`.

Each file holds exactly one named operation. A client names it by operation name, by
`sha256:<hex>` of the file's text (as `documentId`, or as an APQ-style
`extensions.persistedQuery.sha256Hash`), or sends the exact text. Documents are parsed and
validated against the schema once, at start-up, so the hot path never parses a trusted document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, parse, validate

from gateway.errors import ErrorCode, GatewayError

OPERATIONS_DIR = Path(__file__).resolve().parent.parent / "graphql" / "operations"


@dataclass(frozen=True)
class TrustedDocument:
    name: str
    sha256: str
    source: str
    document: DocumentNode
    path: Path


class TrustedDocumentError(ValueError):
    """A file in graphql/operations/ is not a single valid named operation."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TrustedDocuments:
    def __init__(self, documents: list[TrustedDocument]) -> None:
        self._by_name: dict[str, TrustedDocument] = {}
        self._by_hash: dict[str, TrustedDocument] = {}
        for document in documents:
            if document.name in self._by_name:
                raise TrustedDocumentError(
                    f"operation {document.name!r} is defined in both "
                    f"{self._by_name[document.name].path.name} and {document.path.name}"
                )
            self._by_name[document.name] = document
            self._by_hash[document.sha256] = document

    @classmethod
    def load(cls, schema: GraphQLSchema, folder: Path = OPERATIONS_DIR) -> TrustedDocuments:
        documents = []
        for path in sorted(folder.glob("*.graphql")):
            source = path.read_text(encoding="utf-8")
            document = parse(source)
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) != 1 or operations[0].name is None:
                raise TrustedDocumentError(f"{path.name}: expected exactly one named operation")
            errors = validate(schema, document)
            if errors:
                raise TrustedDocumentError(f"{path.name}: {errors[0].message}")
            documents.append(
                TrustedDocument(
                    name=operations[0].name.value,
                    sha256=_sha256(source),
                    source=source,
                    document=document,
                    path=path,
                )
            )
        return cls(documents)

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[TrustedDocument]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def find(
        self, *, query: str | None, document_id: str | None, sha256: str | None
    ) -> TrustedDocument:
        """The trusted document a request names, or PERSISTED_QUERY_NOT_FOUND / NOT_ALLOWED."""
        if document_id:
            found = (
                self._by_hash.get(document_id.removeprefix("sha256:"))
                if document_id.startswith("sha256:")
                else self._by_name.get(document_id)
            )
            if found is None:
                raise GatewayError(
                    ErrorCode.PERSISTED_QUERY_NOT_FOUND,
                    f"no trusted document {document_id!r}",
                )
            return found
        if sha256:
            by_hash = self._by_hash.get(sha256)
            if by_hash is None:
                raise GatewayError(
                    ErrorCode.PERSISTED_QUERY_NOT_FOUND, f"no trusted document sha256:{sha256}"
                )
            return by_hash
        if query is not None:
            exact = self._by_hash.get(_sha256(query))
            if exact is not None:
                return exact
        raise GatewayError(
            ErrorCode.OPERATION_NOT_ALLOWED,
            "only trusted documents from graphql/operations/ may be run by agencies in prod",
        )
