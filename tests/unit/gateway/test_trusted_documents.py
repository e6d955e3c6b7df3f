from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import strawberry

from gateway.errors import ErrorCode, GatewayError
from gateway.trusted_documents import TrustedDocumentError, TrustedDocuments


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str) -> str:
        return name


SCHEMA = strawberry.Schema(query=Query)._schema
PREFILL = "query PrefillHello($name: String!) { hello(name: $name) }\n"


@pytest.fixture
def operations(tmp_path: Path) -> Path:
    (tmp_path / "prefill_hello.graphql").write_text(PREFILL, encoding="utf-8")
    return tmp_path


def test_found_by_name_hash_document_id_and_exact_text(operations: Path) -> None:
    documents = TrustedDocuments.load(SCHEMA, operations)
    digest = hashlib.sha256(PREFILL.encode()).hexdigest()
    by_name = documents.find(query=None, document_id="PrefillHello", sha256=None)
    assert by_name.name == "PrefillHello"
    assert documents.find(query=None, document_id=f"sha256:{digest}", sha256=None) is by_name
    assert documents.find(query=None, document_id=None, sha256=digest) is by_name
    assert documents.find(query=PREFILL, document_id=None, sha256=None) is by_name


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"query": None, "document_id": "Unknown", "sha256": None}, "PERSISTED_QUERY_NOT_FOUND"),
        ({"query": None, "document_id": "sha256:00", "sha256": None}, "PERSISTED_QUERY_NOT_FOUND"),
        ({"query": None, "document_id": None, "sha256": "ab" * 32}, "PERSISTED_QUERY_NOT_FOUND"),
        (
            {"query": '{ hello(name: "x") }', "document_id": None, "sha256": None},
            "OPERATION_NOT_ALLOWED",
        ),
        ({"query": None, "document_id": None, "sha256": None}, "OPERATION_NOT_ALLOWED"),
    ],
)
def test_anything_else_is_refused_with_the_contract_code(
    operations: Path, kwargs: dict[str, str | None], code: str
) -> None:
    documents = TrustedDocuments.load(SCHEMA, operations)
    with pytest.raises(GatewayError) as raised:
        documents.find(**kwargs)
    assert raised.value.code is ErrorCode(code)
    assert raised.value.extensions == {"code": code}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{ hello(name: "x") }', "exactly one named operation"),
        ('query A { hello(name: "x") } query B { hello(name: "y") }', "exactly one"),
        ("query Bad { nope }", "Cannot query field 'nope'"),
    ],
)
def test_invalid_operation_files_are_refused_at_load(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "bad.graphql").write_text(text, encoding="utf-8")
    with pytest.raises(TrustedDocumentError, match=message):
        TrustedDocuments.load(SCHEMA, tmp_path)


def test_duplicate_operation_names_are_refused(operations: Path) -> None:
    (operations / "again.graphql").write_text(PREFILL, encoding="utf-8")
    with pytest.raises(TrustedDocumentError, match="defined in both"):
        TrustedDocuments.load(SCHEMA, operations)
