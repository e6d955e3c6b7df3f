"""Errors of the steward API as problem details (RFC 9457, `application/problem+json`), each with
a stable `code`: the contract's codes where one fits (UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT,
UNAVAILABLE), and the admin API's own for what GraphQL never answers (NOT_FOUND, CONFLICT, …)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from gateway.errors import ErrorCode

MEDIA_TYPE = "application/problem+json"


class AdminCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    PRECONDITION_REQUIRED = "PRECONDITION_REQUIRED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"


class ProblemDetail(BaseModel):
    """What every 4xx/5xx of `/admin` carries."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


class Problem(Exception):  # noqa: N818 - a problem document (RFC 9457), raised to be sent
    def __init__(
        self, status: int, code: ErrorCode | AdminCode, detail: str, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    422: "Invalid input",
    428: "Precondition required",
    503: "Unavailable",
}


def problem_response(problem: Problem) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code.value,
        **problem.extensions,
    }
    return JSONResponse(
        body, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


def bad_input(argument: str, detail: str) -> Problem:
    return Problem(422, ErrorCode.BAD_USER_INPUT, f"{argument}: {detail}", argument=argument)


def not_found(what: str, key: str) -> Problem:
    return Problem(404, AdminCode.NOT_FOUND, f"no {what} {key!r}")


def conflict(detail: str) -> Problem:
    return Problem(409, AdminCode.CONFLICT, detail)


def forbidden(detail: str, reason: str) -> Problem:
    return Problem(403, ErrorCode.FORBIDDEN, detail, reason=reason)


def unavailable(what: str) -> Problem:
    return Problem(503, ErrorCode.UNAVAILABLE, f"{what} is unavailable: nothing was changed")


async def on_problem(_request: Request, error: Problem) -> JSONResponse:
    return problem_response(error)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def on_validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, as a problem naming each offending argument."""
    errors = [
        {"argument": _location(item.get("loc", ())), "message": str(item.get("msg", ""))}
        for item in error.errors()
    ]
    first = errors[0] if errors else {"argument": "request", "message": "invalid"}
    problem = Problem(
        422,
        ErrorCode.BAD_USER_INPUT,
        f"{first['argument']}: {first['message']}",
        argument=first["argument"],
        errors=errors,
    )
    return problem_response(problem)


HTTP_CODES: dict[int, ErrorCode | AdminCode] = {
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: AdminCode.NOT_FOUND,
    405: AdminCode.METHOD_NOT_ALLOWED,
}


async def on_http_error(_request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own refusals (unknown path, wrong method, unreadable body) as problems."""
    code = HTTP_CODES.get(error.status_code, ErrorCode.BAD_USER_INPUT)
    problem = Problem(error.status_code, code, str(error.detail))
    problem.headers = dict(error.headers or {})
    return problem_response(problem)


# The problems every operation may answer, for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetail, "content": {MEDIA_TYPE: {}}, "description": TITLES[status]}
    for status in (401, 403, 422)
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """PROBLEM_RESPONSES plus the operation's own problem statuses."""
    return {
        **PROBLEM_RESPONSES,
        **{
            status: {
                "model": ProblemDetail,
                "content": {MEDIA_TYPE: {}},
                "description": TITLES[status],
            }
            for status in statuses
        },
    }
