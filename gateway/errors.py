"""The error codes of docs/contract.md (`errors[].extensions.code`), and their exception."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from graphql import GraphQLError


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PURPOSE_REQUIRED = "PURPOSE_REQUIRED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    DOSSIER_REQUIRED = "DOSSIER_REQUIRED"
    OFFICER_REQUIRED = "OFFICER_REQUIRED"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    BAD_REQUEST = "BAD_REQUEST"  # not a GraphQL-over-HTTP request (a batch, bad JSON, …)
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"


class GatewayError(GraphQLError):
    """A GraphQL error whose `extensions.code` is one of the contract's codes."""

    def __init__(self, code: ErrorCode, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code.value, **extensions})
        self.code = code


def bad_user_input(argument: str, message: str) -> GatewayError:
    return GatewayError(ErrorCode.BAD_USER_INPUT, message, argument=argument)


def forbidden(field: str, reason: str) -> GatewayError:
    return GatewayError(
        ErrorCode.FORBIDDEN, f"not allowed to see {field}: {reason}", field=field, reason=reason
    )


def unavailable(what: str) -> GatewayError:
    """Fail closed: a dependency the answer needs (policy engine, access log) is down."""
    return GatewayError(ErrorCode.UNAVAILABLE, f"{what} is unavailable: no data is returned")
