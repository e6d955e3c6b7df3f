"""What a process runs: the prefill forms and the trusted documents (the files of
`graphql/operations/`, one generated per form, and the agencies' approved documents), as of a
policy version.

Invariants:
- a form's trusted document is generated from its code (`gateway.graph.forms.prefill_document`),
  never written by hand: a steward who creates a form creates its document, and a form and its
  document are loaded together, in one `Catalogue`;
- forms are policy: saving one moves the policy version (migration 0009's trigger). A process
  never runs a catalogue older than a version it has seen: `at_least` reloads before a prefill
  decided on a newer version uses its form, and `resolve` and `current` reload when a document
  is unknown or the manifest is asked for and the version has moved. So a form saved through any
  process is in force in every process from its next request, and nothing is read on the hot
  path to know it (the version a request decides on is read anyway);
- an agency's own document runs only as it stands at the version read when the request comes
  (`confirm` reads it: one small statement, for agency documents only), for its purpose and
  while the agreements it relies on are in force (gateway.graph.reach): a revocation, a
  suspension or an agreement's end through any process counts from the next request;
- a reload reads the version before the forms: a catalogue is never labelled newer than what it
  holds, at worst older, which costs one more reload;
- a catalogue that cannot be built (a form or document no longer valid) is never installed: the
  process keeps running the last good one, labelled with the version that failed so that it is
  not tried again before the next change, and says so in its log (saving a form builds the
  catalogue first, so this is a deployment's schema change, not a steward's edit).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
import yaml
from graphql import GraphQLError, GraphQLSchema, parse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.errors import ErrorCode, GatewayError
from gateway.graph.forms import FormCatalogue, FormError, compile_form
from gateway.graph.reach import ReachError, in_force, reads
from gateway.policy.models import Agency, AgencyDocument, Agreement, FormTemplate, PolicyVersion
from gateway.policy.service import agreements_in_scope
from gateway.trusted_documents import (
    AgencyScope,
    PersistedRequest,
    Resolved,
    TrustedDocumentError,
    TrustedDocuments,
)
from lienthong.resources import FORMS_DIR
from registries.history import is_current

log = structlog.get_logger(__name__)

# What a reload may cure: a document the set does not hold yet
_UNKNOWN_DOCUMENT = (ErrorCode.PERSISTED_QUERY_NOT_FOUND, ErrorCode.OPERATION_NOT_ALLOWED)


class CatalogueError(ValueError):
    """Forms and documents that do not build together (a form or a document invalid against
    the schema, two documents of one name), at a policy version."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


@dataclass(frozen=True)
class Catalogue:
    version: int  # the policy version read before the forms
    forms: FormCatalogue
    trusted: TrustedDocuments


async def load_catalogue(
    *, session: AsyncSession, schema: GraphQLSchema, previous: Catalogue | None = None
) -> Catalogue:
    """The forms in force (files overridden by stewards' saves) and the trusted documents,
    agencies' approved ones included, built together; CatalogueError when they do not build."""
    version = (await session.execute(select(PolicyVersion.version))).scalar_one()
    documents = await form_documents(session=session)
    return build_catalogue(
        version,
        {code: document for code, (document, _) in documents.items()},
        schema,
        agencies=await agency_documents(session=session, schema=schema),
        previous=previous,
    )


async def agency_documents(
    *, session: AsyncSession, schema: GraphQLSchema
) -> list[tuple[AgencyScope, str, str]]:
    """Each approved agency document whose agreements give everything it reads (scope, origin,
    text), in force while they are (gateway.graph.reach). An active agency's only: a suspended
    agency runs nothing."""
    approved = (
        await session.execute(
            select(AgencyDocument)
            .join(Agency, (Agency.client_id == AgencyDocument.agency) & is_current(Agency))
            .where(
                is_current(AgencyDocument),
                AgencyDocument.status == "approved",
                Agency.status == "active",
            )
            .order_by(AgencyDocument.document_id)
        )
    ).scalars()
    found = []
    terms: dict[tuple[str, str], list[Agreement]] = {}
    for document in approved:
        scope_key = (document.agency, document.purpose)
        if scope_key not in terms:
            terms[scope_key] = await agreements_in_scope(
                session=session, agency=document.agency, purpose=document.purpose
            )
        try:
            needs = reads(schema, parse(document.text))
        except (GraphQLError, ReachError) as error:
            log.error("agency document left out", document=document.document_id, error=str(error))
            continue
        window = in_force(needs, terms[scope_key])
        if window is None:  # an agreement it relies on is no longer approved
            continue
        scope = AgencyScope(document.agency, document.purpose, *window)
        found.append((scope, f"agency document {document.document_id}", document.text))
    return found


async def form_documents(*, session: AsyncSession) -> dict[str, tuple[dict[str, Any], str]]:
    """Every form's template and where it comes from: "file" (`graphql/forms/`), or "steward"
    (the version a steward saved, which overrides the file)."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for path in sorted(FORMS_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[str(document["code"])] = (document, "file")
    rows = await session.execute(select(FormTemplate).where(is_current(FormTemplate)))
    for template in rows.scalars():
        found[template.code] = (dict(template.document), "steward")
    return found


def build_catalogue(
    version: int,
    documents: dict[str, dict[str, Any]],
    schema: GraphQLSchema,
    *,
    agencies: list[tuple[AgencyScope, str, str]] | None = None,
    previous: Catalogue | None = None,
) -> Catalogue:
    """Forms compiled from their templates (by code) and the trusted documents with theirs
    and the `agencies`' own (gateway.trusted_documents.TrustedDocuments.load)."""
    try:
        forms = FormCatalogue(
            [compile_form(document, schema, code) for code, document in documents.items()]
        )
        trusted = TrustedDocuments.load(
            schema,
            generated=forms.documents(),
            agencies=agencies or (),
            previous=previous.trusted if previous is not None else None,
        )
    except (FormError, TrustedDocumentError) as error:
        raise CatalogueError(str(error), version) from error
    return Catalogue(version, forms, trusted)


class Catalogues:
    """This process's current catalogue, and its reloads (one at a time)."""

    def __init__(
        self,
        current: Catalogue,
        sessions: async_sessionmaker[AsyncSession],
        schema: GraphQLSchema,
    ) -> None:
        self.current = current
        self._sessions = sessions
        self._schema = schema
        self._lock = asyncio.Lock()

    async def at_least(self, version: int | None) -> Catalogue:
        """The catalogue, reloaded first when a request decided on a newer policy version."""
        if version is None or version <= self.current.version:
            return self.current
        return await self.reload(newer_than=self.current.version)

    async def moved(self) -> Catalogue:
        """The catalogue, reloaded first when the policy version has moved since it was read
        (one small statement: for the manifest and for documents this process does not know)."""
        async with self._sessions() as session:
            version = (await session.execute(select(PolicyVersion.version))).scalar_one()
        return await self.at_least(version)

    async def reload(self, *, newer_than: int | None = None) -> Catalogue:
        """A fresh catalogue (unless another reload has meanwhile installed one newer than
        `newer_than`); on a catalogue that does not build, the last good one."""
        async with self._lock:
            if newer_than is not None and self.current.version > newer_than:
                return self.current
            try:
                async with self._sessions() as session:
                    self.current = await load_catalogue(
                        session=session, schema=self._schema, previous=self.current
                    )
            except CatalogueError as error:
                log.error("forms and documents do not build; the last good ones stay",
                          error=str(error), version=error.version)  # fmt: skip
                last = self.current
                self.current = Catalogue(max(error.version, last.version), last.forms, last.trusted)
            return self.current

    async def resolve(
        self, request: PersistedRequest, *, restricted: bool, agency: str | None = None
    ) -> Resolved:
        """`TrustedDocuments.resolve` on the current documents; a document they do not hold is
        looked for again once, in a catalogue reloaded if the policy version has moved (a form
        saved or an agency document approved through another process)."""
        try:
            return self.current.trusted.resolve(request, restricted=restricted, agency=agency)
        except GatewayError as error:
            if error.code not in _UNKNOWN_DOCUMENT:
                raise
            known = self.current
            if (await self.moved()) is known:
                raise
        return self.current.trusted.resolve(request, restricted=restricted, agency=agency)

    async def confirm(
        self,
        resolved: Resolved,
        request: PersistedRequest,
        *,
        restricted: bool,
        agency: str | None,
        purpose: str | None,
    ) -> Resolved:
        """What a request resolved to an agency's own document runs: that document as it stands
        now, approved at the policy version read now (a revocation, a suspension or an ended
        agreement through any process counts from the next request), for its purpose
        (OPERATION_NOT_ALLOWED otherwise), while the agreements it relies on are in force. A
        document no longer in force resolves as an unknown one does in a fresh catalogue."""
        document = resolved.document
        if document is None or document.scope is None:
            return resolved
        current = (await self.moved()).trusted.named(document.name, document.owner)
        if current is None or current.scope is None or current.body != document.body:
            return self.current.trusted.resolve(request, restricted=restricted, agency=agency)
        if current.scope.purpose != purpose or not current.scope.in_force(datetime.now(UTC)):
            raise GatewayError(
                ErrorCode.OPERATION_NOT_ALLOWED,
                f"document {document.name} is not in force for your agency and this purpose "
                "(X-Purpose): the manifest (GET /graphql/documents) lists what you may run",
            )
        return resolved
