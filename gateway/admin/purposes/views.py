"""`/admin/purposes` and `/admin/forms`: the purpose catalogue and the prefill form templates."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.admin.http import AdminDep, Cursor, IfMatch, Limit, Page, StewardDep, tag
from gateway.admin.problems import responses
from gateway.admin.purposes import service
from gateway.admin.purposes.models import FormIn, FormOut, PurposeChange, PurposeIn, PurposeOut
from gateway.admin.types import FormPath, PurposePath
from gateway.graph.catalogue import form_documents

router = APIRouter(tags=["purposes and forms"])


@router.get("/purposes", responses=responses())
async def list_purposes(
    *, admin: AdminDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[PurposeOut]:
    async with admin.transaction() as session:
        items, after = await service.list_purposes(session=session, limit=limit, cursor=cursor)
    return Page(items=[PurposeOut.of(p) for p in items], next_cursor=after)


@router.post("/purposes", status_code=201, responses=responses(409))
async def create_purpose(
    *, new: PurposeIn, admin: AdminDep, steward: StewardDep, response: Response
) -> PurposeOut:
    async with admin.transaction() as session:
        purpose = await service.create_purpose(session=session, new=new, actor=steward.subject)
    response.headers["Location"] = f"/admin/purposes/{purpose.code}"
    tag(response, purpose.version_id)
    return PurposeOut.of(purpose)


@router.get("/purposes/{code}", responses=responses(404))
async def read_purpose(*, code: PurposePath, admin: AdminDep, response: Response) -> PurposeOut:
    async with admin.transaction() as session:
        purpose = await service.get_purpose(session=session, code=code)
    tag(response, purpose.version_id)
    return PurposeOut.of(purpose)


@router.get("/purposes/{code}/versions", responses=responses(404))
async def purpose_versions(*, code: PurposePath, admin: AdminDep) -> list[PurposeOut]:
    async with admin.transaction() as session:
        return [
            PurposeOut.of(p) for p in await service.purpose_versions(session=session, code=code)
        ]


@router.patch("/purposes/{code}", responses=responses(404, 412, 428))
async def update_purpose(
    *,
    code: PurposePath,
    change: PurposeChange,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> PurposeOut:
    async with admin.transaction() as session:
        purpose = await service.update_purpose(
            session=session, code=code, change=change, actor=steward.subject, if_match=if_match
        )
    tag(response, purpose.version_id)
    return PurposeOut.of(purpose)


def _form_out(code: str, document: dict[str, object], source: str) -> FormOut:
    return FormOut.model_validate({**document, "code": code, "source": source})


@router.get("/forms", responses=responses())
async def list_forms(*, admin: AdminDep) -> list[FormOut]:
    async with admin.transaction() as session:
        documents = await form_documents(session=session)
    return [
        _form_out(code, document, source) for code, (document, source) in sorted(documents.items())
    ]


@router.get("/forms/{code}", responses=responses(404))
async def read_form(*, code: FormPath, admin: AdminDep, response: Response) -> FormOut:
    async with admin.transaction() as session:
        document, source = await service.get_form(session=session, code=code)
    response.headers["ETag"] = service.form_etag(document)
    return _form_out(code, document, source)


@router.put("/forms/{code}", responses=responses(412, 428))
async def save_form(
    *,
    code: FormPath,
    form: FormIn,
    admin: AdminDep,
    steward: StewardDep,
    response: Response,
    if_match: IfMatch = None,
) -> FormOut:
    """Creates or replaces a form (If-Match required when it exists). It is compiled against the
    GraphQL schema first; `prefill` uses it from the next request on."""
    async with admin.transaction() as session:
        document = await service.save_form(
            session=session,
            schema=admin.schema,
            code=code,
            form=form,
            actor=steward.subject,
            if_match=if_match,
        )
    # Committed: this process runs the form (and its document) from now on, the others from
    # their next request (the save moved the policy version: gateway.graph.catalogue)
    await admin.services.catalogues.reload()
    response.headers["ETag"] = service.form_etag(document)
    return _form_out(code, document, "steward")
