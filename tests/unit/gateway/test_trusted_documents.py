"""Trusted documents and the one resolution order of persisted documents
(gateway.trusted_documents): every case, in the request shapes clients send, for an unrestricted
caller (dev; stewards) and a restricted one (agencies and citizens in prod), which differ only
for text that is no trusted document."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import strawberry
from graphql import parse, print_ast
from graphql.language import Lexer, Source, TokenKind
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import trusted_documents
from gateway.errors import ErrorCode, GatewayError
from gateway.graph.forms import FormCatalogue
from gateway.graph.schema import build_schema
from gateway.trusted_documents import (
    APQ_HASH,
    MAX_MATCH_LENGTH,
    NOT_FOUND_MESSAGE,
    PersistedRequest,
    Resolved,
    TrustedDocument,
    TrustedDocumentError,
    TrustedDocuments,
)
from lienthong.resources import OPERATIONS_DIR


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str) -> str:
        return name


@strawberry.type
class Mutation:
    @strawberry.mutation
    def wave(self, name: str) -> str:
        return name


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)._schema
# The file's text differs from its normalised form (a comment, one line): three texts, two hashes
PREFILL = "# Says hello.\nquery PrefillHello($name: String!) { hello(name: $name) }\n"
BODY = "query PrefillHello($name: String!) {\n  hello(name: $name)\n}"
WAVE = "mutation Wave($name: String!) { wave(name: $name) }\n"
# What another client's printer may send for PrefillHello: neither the file nor the body
CLIENT = "query PrefillHello( $name : String! ) {\n\thello( name : $name ) ,\n}\n"
AD_HOC = '{ hello(name: "x") }'
VARIABLES = {"name": "Lan"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    """Apollo's `extensions` for a hash (createPersistedQueryLink)."""
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


@pytest.fixture
def operations(tmp_path: Path) -> Path:
    (tmp_path / "prefill_hello.graphql").write_text(PREFILL, encoding="utf-8")
    (tmp_path / "wave.graphql").write_text(WAVE, encoding="utf-8")
    return tmp_path


@pytest.fixture
def documents(operations: Path) -> TrustedDocuments:
    return TrustedDocuments.load(SCHEMA, operations)


def test_a_trusted_document_is_known_by_name_file_hash_and_normalised_hash(
    documents: TrustedDocuments,
) -> None:
    document = documents.named("PrefillHello")
    assert document is not None
    assert document.source == PREFILL
    assert document.sha256 == sha256(PREFILL)
    assert document.body == BODY
    assert document.body_sha256 == sha256(BODY)
    assert document.operation_type == "query"
    assert "PrefillHello" in documents
    assert "Nope" not in documents
    assert documents.named("Nope") is None
    assert len(documents) == 2


# The resolution table: a request body as clients send it, and what it runs for an unrestricted
# caller and for a restricted one. "runs" = the trusted document's own text under the given
# operation name; "as sent" = the caller's text; a code = the refusal (and the member it names).
RUNS, AS_SENT = "runs", "as sent"
BAD = ErrorCode.BAD_REQUEST
Outcome = tuple[str, str | None] | tuple[ErrorCode, str | None]
RUN: Outcome = (RUNS, "PrefillHello")
NOT_FOUND: Outcome = (ErrorCode.PERSISTED_QUERY_NOT_FOUND, None)
NOT_ALLOWED: Outcome = (ErrorCode.OPERATION_NOT_ALLOWED, None)
UNKNOWN = "ab" * 32
# fmt: off
TABLE: list[tuple[str, dict[str, Any], Outcome, Outcome]] = [
    # (case, body, unrestricted, restricted)
    ("name alone", {"operationName": "PrefillHello"}, RUN, RUN),
    ("unknown name alone", {"operationName": "Nope"}, NOT_FOUND, NOT_FOUND),
    ("file hash alone (APQ)", {"extensions": apq(sha256(PREFILL))}, RUN, RUN),
    ("body hash alone (APQ)", {"extensions": apq(sha256(BODY))}, RUN, RUN),
    ("body hash alone (documentId)", {"documentId": f"sha256:{sha256(BODY)}"}, RUN, RUN),
    ("upper-case hex", {"documentId": f"sha256:{sha256(BODY).upper()}"}, RUN, RUN),
    ("hash and its name",
     {"operationName": "PrefillHello", "extensions": apq(sha256(BODY))}, RUN, RUN),
    ("unknown hash alone", {"extensions": apq(UNKNOWN)}, NOT_FOUND, NOT_FOUND),
    ("unknown documentId", {"documentId": f"sha256:{UNKNOWN}"}, NOT_FOUND, NOT_FOUND),
    # the dev bug: a wrong hash with a known name ran the named document
    ("unknown hash, known name",
     {"operationName": "PrefillHello", "extensions": apq(UNKNOWN)}, NOT_FOUND, NOT_FOUND),
    ("file text", {"query": PREFILL}, RUN, RUN),
    ("normalised text", {"query": BODY}, RUN, RUN),
    ("another client's layout", {"query": CLIENT}, RUN, RUN),
    ("text with its hash", {"query": CLIENT, "extensions": apq(sha256(CLIENT))}, RUN, RUN),
    ("text with its documentId",
     {"query": CLIENT, "documentId": f"sha256:{sha256(CLIENT)}"}, RUN, RUN),
    ("text and its name", {"query": CLIENT, "operationName": "PrefillHello"}, RUN, RUN),
    # another name is passed on: the executor reports it as unknown, as for any text
    ("text, another name",
     {"query": CLIENT, "operationName": "Other"}, (RUNS, "Other"), (RUNS, "Other")),
    ("text, another document's hash",
     {"query": CLIENT, "extensions": apq(sha256(BODY))}, (BAD, APQ_HASH), (BAD, APQ_HASH)),
    ("text, wrong documentId",
     {"query": CLIENT, "documentId": f"sha256:{UNKNOWN}"}, (BAD, "documentId"),
     (BAD, "documentId")),
    ("ad-hoc text", {"query": AD_HOC}, (AS_SENT, None), NOT_ALLOWED),
    ("ad-hoc text with its hash",
     {"query": AD_HOC, "extensions": apq(sha256(AD_HOC))}, (AS_SENT, None), NOT_ALLOWED),
    ("ad-hoc text, a trusted name",
     {"query": AD_HOC, "operationName": "PrefillHello"}, (AS_SENT, "PrefillHello"), NOT_ALLOWED),
    ("a trusted document and more",
     {"query": BODY + '\nquery More { hello(name: "x") }'}, (AS_SENT, None), NOT_ALLOWED),
    ("text that does not parse", {"query": "query PrefillHello {"}, (AS_SENT, None), NOT_ALLOWED),
    ("nothing", {}, (BAD, "query"), (BAD, "query")),
    ("nothing but variables", {"variables": VARIABLES}, (BAD, "query"), (BAD, "query")),
]
# fmt: on


@pytest.mark.parametrize("restricted", [False, True], ids=["unrestricted", "restricted"])
@pytest.mark.parametrize(
    ("body", "unrestricted", "restricted_outcome"),
    [pytest.param(body, u, r, id=case) for case, body, u, r in TABLE],
)
def test_one_resolution_order_for_every_caller(
    documents: TrustedDocuments,
    body: dict[str, Any],
    unrestricted: Outcome,
    restricted_outcome: Outcome,
    restricted: bool,
) -> None:
    expected = restricted_outcome if restricted else unrestricted
    outcome, detail = expected
    request = PersistedRequest.of(body)
    if isinstance(outcome, ErrorCode):
        with pytest.raises(GatewayError) as raised:
            documents.resolve(request, restricted=restricted)
        assert raised.value.code is outcome
        extensions = raised.value.extensions or {}
        assert extensions.get("argument") == detail
        assert extensions["code"] == outcome.value
        return
    resolved = documents.resolve(request, restricted=restricted)
    if outcome == RUNS:
        assert resolved == Resolved(PREFILL, detail, documents.named("PrefillHello"))
    else:
        assert resolved == Resolved(body["query"], detail, None)


def test_the_restricted_caller_differs_only_on_text_that_is_no_trusted_document() -> None:
    differing = [case for case, _, unrestricted, restricted in TABLE if unrestricted != restricted]
    prefixes = ("ad-hoc", "a trusted document and", "text that")
    assert differing
    assert all(case.startswith(prefixes) for case in differing)


@pytest.mark.parametrize("restricted", [False, True], ids=["unrestricted", "restricted"])
def test_apollo_automatic_persisted_queries(documents: TrustedDocuments, restricted: bool) -> None:
    """Apollo's createPersistedQueryLink: the hash alone; PersistedQueryNotFound; the hash with
    the text, which runs and is remembered; the hash alone again, which now runs."""
    hashed = {
        "operationName": "PrefillHello",
        "variables": VARIABLES,
        "extensions": apq(sha256(CLIENT)),
    }
    with pytest.raises(GatewayError) as raised:
        documents.resolve(PersistedRequest.of(hashed), restricted=restricted)
    # Apollo's clients recognise the refusal by this message (iOS, Kotlin) or code (web)
    assert raised.value.message == NOT_FOUND_MESSAGE
    assert raised.value.extensions == {"code": "PERSISTED_QUERY_NOT_FOUND"}

    with_text = documents.resolve(
        PersistedRequest.of({**hashed, "query": CLIENT}), restricted=restricted
    )
    assert with_text == Resolved(PREFILL, "PrefillHello", documents.named("PrefillHello"))
    assert documents.resolve(PersistedRequest.of(hashed), restricted=restricted) == with_text
    # GET (useGETForHashedQueries): the same members, `extensions` decoded
    get = PersistedRequest.of({"extensions": apq(sha256(CLIENT))})
    assert documents.resolve(get, restricted=True) == with_text


def test_a_text_sent_alone_is_remembered_by_its_hash(documents: TrustedDocuments) -> None:
    """A client that sends its text every time is matched once by parsing, then by hash."""
    documents.resolve(PersistedRequest(query=CLIENT), restricted=True)
    by_hash = documents.resolve(PersistedRequest(sha256=sha256(CLIENT)), restricted=True)
    assert by_hash.document is documents.named("PrefillHello")


def test_looking_without_remembering(documents: TrustedDocuments) -> None:
    """Routing before authentication looks (remember=False) without teaching the gateway."""
    looked = documents.resolve(PersistedRequest(query=CLIENT), restricted=False, remember=False)
    assert looked.document is documents.named("PrefillHello")
    with pytest.raises(GatewayError, match=NOT_FOUND_MESSAGE):
        documents.resolve(PersistedRequest(sha256=sha256(CLIENT)), restricted=False)


def test_remembered_hashes_are_bounded_least_recently_used_first(
    documents: TrustedDocuments, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trusted_documents, "REMEMBERED_HASHES", 2)
    texts = [CLIENT + " " * n for n in range(1, 4)]

    def known(text: str) -> bool:
        try:
            documents.resolve(PersistedRequest(sha256=sha256(text)), restricted=True)
        except GatewayError:
            return False
        return True

    for text in texts[:2]:
        documents.resolve(PersistedRequest(query=text), restricted=True)
    assert known(texts[0])  # used: the second is now the least recent
    documents.resolve(PersistedRequest(query=texts[2]), restricted=True)
    assert [known(t) for t in texts] == [True, False, True]
    # the documents' own hashes are never forgotten
    assert known(PREFILL)
    assert known(BODY)


VERSION = "extensions.persistedQuery.version"


@pytest.mark.parametrize(
    ("body", "argument"),
    [
        ({"query": 1}, "query"),
        ({"operationName": ["PrefillHello"]}, "operationName"),
        ({"extensions": "persistedQuery"}, "extensions"),
        ({"extensions": {"persistedQuery": "abc"}}, "extensions.persistedQuery"),
        ({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": UNKNOWN}}}, VERSION),
        ({"extensions": {"persistedQuery": {"version": True, "sha256Hash": UNKNOWN}}}, VERSION),
        ({"extensions": {"persistedQuery": {"version": 1}}}, APQ_HASH),
        ({"extensions": apq("abc")}, APQ_HASH),
        ({"extensions": apq("zz" * 32)}, APQ_HASH),
        ({"extensions": apq(f"sha256:{'ab' * 32}")}, APQ_HASH),
        ({"documentId": 5}, "documentId"),
        ({"documentId": "ab" * 32}, "documentId"),
        ({"documentId": "PrefillHello"}, "documentId"),
        ({"documentId": f"md5:{'ab' * 16}"}, "documentId"),
        ({"documentId": f"sha256:{'ab' * 31}"}, "documentId"),
        ({"documentId": f"sha256:{'ab' * 32}", "extensions": apq("cd" * 32)}, "documentId"),
    ],
)
def test_malformed_members_are_bad_requests_naming_the_member(
    body: dict[str, Any], argument: str
) -> None:
    with pytest.raises(GatewayError) as raised:
        PersistedRequest.of(body)
    assert raised.value.code is ErrorCode.BAD_REQUEST
    assert (raised.value.extensions or {})["argument"] == argument


def test_the_same_hash_twice_is_one_hash() -> None:
    digest = "ab" * 32
    request = PersistedRequest.of({"documentId": f"sha256:{digest}", "extensions": apq(digest)})
    assert request == PersistedRequest(sha256=digest)
    assert PersistedRequest.of({"extensions": {"other": 1}}) == PersistedRequest()
    assert PersistedRequest.of({"documentId": f"sha256:{digest}"}).sha256_from == "documentId"


def test_texts_beyond_any_trusted_document_are_not_matched(documents: TrustedDocuments) -> None:
    """The text is parsed before the router's own limits only as far as a trusted document could
    go: more tokens, comments or characters cannot match (and cost no more to find out)."""
    many_tokens = BODY.replace("hello(name: $name)", "hello(name: $name) " * 50)
    long = "#" + "x" * MAX_MATCH_LENGTH + "\n" + BODY
    comments = "# c\n" * (trusted_documents.MAX_MATCH_COMMENTS + 1) + BODY
    for text in (many_tokens, long, comments):
        assert documents.resolve(PersistedRequest(query=text), restricted=False).document is None
        with pytest.raises(GatewayError) as raised:
            documents.resolve(PersistedRequest(query=text), restricted=True)
        assert raised.value.code is ErrorCode.OPERATION_NOT_ALLOWED
    # just within the bounds, it matches
    within = "# c\n" * trusted_documents.MAX_MATCH_COMMENTS + BODY
    assert documents.resolve(PersistedRequest(query=within), restricted=True).document


def test_a_lone_surrogate_is_no_document_and_no_crash(documents: TrustedDocuments) -> None:
    """JSON allows `\\ud800`: such a text hashes to nothing known and does not parse."""
    with pytest.raises(GatewayError) as raised:
        documents.resolve(PersistedRequest(query="query \ud800 { a }"), restricted=True)
    assert raised.value.code is ErrorCode.OPERATION_NOT_ALLOWED


def test_the_manifest_is_apollos_persisted_query_manifest(documents: TrustedDocuments) -> None:
    assert documents.manifest() == {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(BODY), "name": "PrefillHello", "type": "query", "body": BODY},
            {
                "id": sha256("mutation Wave($name: String!) {\n  wave(name: $name)\n}"),
                "name": "Wave",
                "type": "mutation",
                "body": "mutation Wave($name: String!) {\n  wave(name: $name)\n}",
            },
        ],
    }


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


def test_no_trusted_documents_match_nothing(tmp_path: Path) -> None:
    empty = TrustedDocuments.load(SCHEMA, tmp_path)
    assert empty.manifest()["operations"] == []
    assert empty.resolve(PersistedRequest(query=BODY), restricted=False).document is None


# The published documents, against the gateway's schema: every one, re-laid out at random with
# comments, is itself to every caller, and its manifest entry runs by its id alone.
GATEWAY_SCHEMA = build_schema()._schema
FORMS = FormCatalogue.load(GATEWAY_SCHEMA)  # graphql/forms/: each form has its generated document
PUBLISHED = TrustedDocuments.load(GATEWAY_SCHEMA, generated=FORMS.documents())
WORD = re.compile(r"\w")
IGNORED = st.one_of(
    st.sampled_from([" ", "\t", ",", "\n", "\r\n", "\r", "\ufeff", "  ", ", "]),
    st.builds(
        lambda text, end: f"#{text}{end}",
        st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=20),
        st.sampled_from(["\n", "\r\n", "\r"]),
    ),
)


def _tokens(source: str) -> Iterator[str]:
    lexer = Lexer(Source(source))
    while (token := lexer.advance()).kind is not TokenKind.EOF:
        yield source[token.start : token.end]


@st.composite
def relaid(draw: st.DrawFn) -> tuple[TrustedDocument, str]:
    """A published document's tokens, separated by random runs of ignored text (none at all
    where the tokens allow it)."""
    document = draw(st.sampled_from(list(PUBLISHED)))
    tokens = list(_tokens(document.source))
    parts = ["".join(draw(st.lists(IGNORED, max_size=3)))]
    for before, after in zip(tokens, [*tokens[1:], None], strict=True):
        parts.append(before)
        gap = "".join(draw(st.lists(IGNORED, max_size=3)))
        if not gap and after is not None and WORD.match(before[-1]) and WORD.match(after[0]):
            gap = " "  # two words need something between them
        parts.append(gap)
    return document, "".join(parts)


@settings(max_examples=200, deadline=None)
@given(relaid(), st.booleans())
def test_any_layout_of_a_trusted_document_resolves_to_itself(
    case: tuple[TrustedDocument, str], restricted: bool
) -> None:
    document, text = case
    assert print_ast(parse(text)) == document.body  # the layout is only layout
    resolved = PUBLISHED.resolve(PersistedRequest(query=text), restricted=restricted)
    assert resolved == Resolved(document.source, document.name, document)
    again = PUBLISHED.resolve(PersistedRequest(sha256=sha256(text)), restricted=restricted)
    assert again == resolved


def test_every_published_document_runs_by_its_manifest_id() -> None:
    manifest = PUBLISHED.manifest()
    assert manifest["format"] == "apollo-persisted-query-manifest"
    names = {path.stem for path in OPERATIONS_DIR.glob("*.graphql")}
    names |= {"Prefill" + code for code in FORMS.codes()}
    assert {operation["name"] for operation in manifest["operations"]} == names
    assert {"PrefillCT01", "PrefillHKD01", "PrefillXD01", "MyAccessLog", "GrantConsent"} <= names
    for operation in manifest["operations"]:
        assert operation["id"] == sha256(operation["body"])
        assert print_ast(parse(operation["body"])) == operation["body"]
        request = PersistedRequest.of({"documentId": f"sha256:{operation['id']}"})
        resolved = PUBLISHED.resolve(request, restricted=True)
        assert resolved.document is not None
        assert resolved.operation_name == operation["name"]
        assert operation["type"] == resolved.document.operation_type
