"""HTTP conventions shared by every concern: steward authentication, ETags and `If-Match`,
and keyset pagination with opaque cursors."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from gateway import cursors
from gateway.admin.context import Admin
from gateway.admin.problems import AdminCode, Problem, bad_input, forbidden
from gateway.errors import ErrorCode
from gateway.identity.errors import AuthenticationError
from gateway.identity.principal import Principal

_bearer = HTTPBearer(auto_error=False, description="A steward's access token (realm role).")


def get_admin(request: Request) -> Admin:
    admin: Admin = request.app.state.admin
    return admin


AdminDep = Annotated[Admin, Depends(get_admin)]


async def require_steward(
    admin: AdminDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Steward tokens only: agencies and citizens are refused whatever else they hold."""
    try:
        principal = await admin.services.verifier.verify(
            credentials.credentials if credentials else None
        )
    except AuthenticationError as error:
        problem = Problem(401, ErrorCode.UNAUTHENTICATED, str(error))
        problem.headers = {"WWW-Authenticate": 'Bearer realm="lienthong"'}
        raise problem from error
    steward_only(principal)
    return principal


def steward_only(principal: Principal) -> None:
    """Stewards only (the admin API, the console's steward pages): a citizen is refused whatever
    roles their token also holds."""
    if not principal.is_steward or principal.citizen_id is not None:
        raise forbidden("the admin API is for data stewards only", "steward role required")


StewardDep = Annotated[Principal, Depends(require_steward)]
IfMatch = Annotated[
    str | None,
    Header(
        description="The ETag of the version the change is based on (required).", max_length=200
    ),
]


def etag(version_id: int) -> str:
    return f'"{version_id}"'


def require_match(if_match: str | None, current: str) -> None:
    """Optimistic concurrency: a change names the version it was made against."""
    if if_match is None:
        raise Problem(
            428, AdminCode.PRECONDITION_REQUIRED, "send If-Match with the ETag you last read"
        )
    candidates = {tag.strip() for tag in if_match.split(",")}
    if "*" not in candidates and current not in candidates:
        raise Problem(
            412,
            AdminCode.PRECONDITION_FAILED,
            "the resource changed since you read it: read it again and retry",
            current_etag=current,
        )


Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None


def bad_cursor() -> Problem:
    return bad_input("cursor", "not a cursor this API handed out")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        return cursors.decode_cursor(cursor, size)
    except cursors.CursorError as error:
        raise bad_cursor() from error


def decode_id_cursor(cursor: str) -> int:
    try:
        return cursors.decode_id_cursor(cursor)
    except cursors.CursorError as error:
        raise bad_cursor() from error


def tag(response: Response, version_id: int) -> None:
    response.headers["ETag"] = etag(version_id)
