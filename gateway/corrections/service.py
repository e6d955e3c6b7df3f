"""Correction requests: reported by a citizen (or an officer with the citizen present), forwarded
or rejected by a steward of the registry that holds the field, corrected by the load that brings
another value (registries/corrections.py `settle`). Every step is appended to the request's
history (`correction_events`) in the transaction that makes it.

The rules every caller (GraphQL, `/me`, `/admin`, the console) goes through are here, each
refusal a CorrectionRefused naming the argument and a stable code.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.corrections.models import CorrectionEvent, CorrectionRequest
from gateway.cursors import decode_id_cursor, encode_cursor
from gateway.subjects import SUBJECT_KINDS
from registries.corrections import CORRECTABLE, OPEN_STATUSES, TABLES

MAX_EXPLANATION = 2000
MAX_NOTE = 2000
# Free text over several lines, but no other control character (PostgreSQL refuses NUL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AGENCY = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")  # an agency's client id (gateway/admin/types.py)


class CorrectionRefused(ValueError):  # noqa: N818 - an outcome, said to whoever asked
    """A report or a decision the rules refuse; nothing was recorded."""

    def __init__(self, argument: str, code: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument
        self.code = code


class CorrectionNotFound(LookupError):  # noqa: N818 - a lookup outcome, reported as not found
    pass


class CorrectionSettled(ValueError):  # noqa: N818 - an outcome: the request is settled
    """A step the request's status does not allow (forwarding a settled request…)."""


@dataclass(frozen=True)
class Reporter:
    """Who reports: the citizen, or an agency's verified officer with the citizen present (the
    dossier naming the citizen is the proof, docs/corrections.md)."""

    kind: str  # citizen | officer
    actor: str  # what the history names
    detail: Mapping[str, Any]


def check_field(subject_type: str, field: str, known: frozenset[str]) -> tuple[str, ...]:
    """The registry columns of a field a correction may name; refused when the type has no such
    field, or has it but it is not a value the registry holds (an identifier, a relation)."""
    if field not in known:
        raise CorrectionRefused(
            "field",
            "CORRECTION_FIELD_UNKNOWN",
            f"field: {subject_type} has no field {field!r}",
        )
    columns = CORRECTABLE.get(subject_type, {}).get(field)
    if columns is None:
        held = ", ".join(sorted(CORRECTABLE.get(subject_type, {})))
        raise CorrectionRefused(
            "field",
            "CORRECTION_FIELD_NOT_HELD",
            f"field: {field} is not a value the registry holds for you to dispute (one of: {held})",
        )
    return columns


def check_text(argument: str, value: str, *, limit: int, code: str) -> str:
    """Free text: something to say, at most `limit` characters, no control character."""
    cleaned = value.strip()
    if not cleaned:
        raise CorrectionRefused(argument, f"{code}_EMPTY", f"{argument}: say why (not empty)")
    if len(cleaned) > limit:
        raise CorrectionRefused(
            argument,
            f"{code}_TOO_LONG",
            f"{argument}: at most {limit} characters, got {len(cleaned)}",
        )
    if _CONTROL.search(cleaned):
        raise CorrectionRefused(argument, f"{code}_INVALID", f"{argument}: no control characters")
    return cleaned


async def report(
    *,
    session: AsyncSession,
    subject_type: str,
    subject_id: str,
    field: str,
    explanation: str,
    known: frozenset[str],
    reporter: Reporter,
) -> CorrectionRequest:
    """Open a dispute on one field of one subject: the field's value and version as they are
    now are recorded, and the field shows its flag from the next request."""
    columns = check_field(subject_type, field, known)
    explanation = check_text(
        "explanation", explanation, limit=MAX_EXPLANATION, code="CORRECTION_EXPLANATION"
    )
    table, key = TABLES[subject_type]
    # The value as the registry holds it, by the rule `settle` compares with (to_jsonb by name)
    current = (
        await session.execute(
            text(
                f"SELECT r.version_id, (SELECT jsonb_object_agg(col, to_jsonb(r) -> col) "  # noqa: S608 - names from TABLES
                f"FROM unnest(CAST(:columns AS text[])) AS col) FROM {table} AS r "
                f"WHERE r.{key} = :key AND r.valid_to IS NULL"
            ),
            {"columns": list(columns), "key": subject_id},
        )
    ).one_or_none()
    if current is None:
        raise CorrectionRefused(
            "subject",
            "CORRECTION_SUBJECT_ABSENT",
            "subject: the registry holds no current record of this person",
        )
    version_id, value = current
    request = CorrectionRequest(
        subject_type=subject_type,
        subject_id=subject_id,
        field=field,
        domain=SUBJECT_KINDS[subject_type].domain,
        columns=list(columns),
        disputed_value=value,
        disputed_version_id=version_id,
        explanation=explanation,
        reported_by=reporter.kind,
        reporter=dict(reporter.detail),
        status="reported",
    )
    try:
        async with session.begin_nested():
            session.add(request)
            await session.flush()
    except IntegrityError as error:  # uq_correction_requests_open
        raise CorrectionRefused(
            "field",
            "CORRECTION_ALREADY_OPEN",
            f"field: {field} is already disputed; its request is being handled",
        ) from error
    session.add(
        CorrectionEvent(
            request_id=request.request_id,
            step="reported",
            actor=reporter.actor,
            detail={"reported_by": reporter.kind, **dict(reporter.detail)},
        )
    )
    await session.flush()
    await session.refresh(request)
    return request


async def open_disputes(
    *, session: AsyncSession, subject_type: str, subject_ids: Sequence[str]
) -> dict[str, list[str]]:
    """The disputed fields of each subject (one statement for all of them, through the open
    disputes' partial index)."""
    found: dict[str, list[str]] = defaultdict(list)
    if not subject_ids:
        return found
    rows = await session.execute(
        select(CorrectionRequest.subject_id, CorrectionRequest.field)
        .where(
            CorrectionRequest.subject_type == subject_type,
            CorrectionRequest.subject_id.in_(set(subject_ids)),
            CorrectionRequest.status.in_(OPEN_STATUSES),
        )
        .order_by(CorrectionRequest.subject_id, CorrectionRequest.field)
    )
    for subject_id, field in rows:
        found[subject_id].append(field)
    return found


async def history(
    *, session: AsyncSession, request_ids: Sequence[int]
) -> dict[int, list[CorrectionEvent]]:
    found: dict[int, list[CorrectionEvent]] = defaultdict(list)
    if not request_ids:
        return found
    rows = await session.execute(
        select(CorrectionEvent)
        .where(CorrectionEvent.request_id.in_(set(request_ids)))
        .order_by(CorrectionEvent.event_id)
    )
    for event in rows.scalars():
        found[event.request_id].append(event)
    return found


async def requests_of(
    *, session: AsyncSession, subject_type: str, subject_id: str
) -> list[CorrectionRequest]:
    """A subject's requests, newest first (a citizen's `myCorrections`)."""
    rows = await session.execute(
        select(CorrectionRequest)
        .where(
            CorrectionRequest.subject_type == subject_type,
            CorrectionRequest.subject_id == subject_id,
        )
        .order_by(CorrectionRequest.request_id.desc())
    )
    return list(rows.scalars())


async def list_requests(
    *,
    session: AsyncSession,
    status: str | None,
    domain: str | None,
    subject_id: str | None,
    field: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[CorrectionRequest], str | None]:
    """Newest first, keyset-paginated (CursorError for a cursor this API did not hand out)."""
    query = select(CorrectionRequest)
    if status is not None:
        query = query.where(CorrectionRequest.status == status)
    if domain is not None:
        query = query.where(CorrectionRequest.domain == domain)
    if subject_id is not None:
        query = query.where(CorrectionRequest.subject_id == subject_id)
    if field is not None:
        query = query.where(CorrectionRequest.field == field)
    if cursor is not None:
        query = query.where(CorrectionRequest.request_id < decode_id_cursor(cursor))
    rows = list(
        (
            await session.execute(
                query.order_by(CorrectionRequest.request_id.desc()).limit(limit + 1)
            )
        ).scalars()
    )
    following = encode_cursor(str(rows[limit - 1].request_id)) if len(rows) > limit else None
    return rows[:limit], following


async def get_request(*, session: AsyncSession, request_id: int) -> CorrectionRequest:
    request = await session.get(CorrectionRequest, request_id)
    if request is None:
        raise CorrectionNotFound(request_id)
    return request


async def _move(
    session: AsyncSession,
    request_id: int,
    *,
    allowed: tuple[str, ...],
    step: str,
    actor: str,
    values: dict[str, Any],
    detail: dict[str, Any],
) -> CorrectionRequest:
    request = (
        await session.execute(
            select(CorrectionRequest)
            .where(CorrectionRequest.request_id == request_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if request is None:
        raise CorrectionNotFound(request_id)
    if request.status not in allowed:
        raise CorrectionSettled(
            f"correction request {request_id} is {request.status}: it cannot be {step} now"
        )
    await session.execute(
        update(CorrectionRequest)
        .where(CorrectionRequest.request_id == request_id)
        .values(status=step, updated_at=text("now()"), **values)
    )
    session.add(CorrectionEvent(request_id=request_id, step=step, actor=actor, detail=detail))
    await session.flush()
    await session.refresh(request)
    return request


async def forward(
    *, session: AsyncSession, request_id: int, steward: str, source_agency: str, note: str
) -> CorrectionRequest:
    """A reported request sent on to the agency that keeps the source record."""
    if not _AGENCY.fullmatch(source_agency):
        raise CorrectionRefused(
            "source_agency",
            "CORRECTION_SOURCE_AGENCY",
            "source_agency: an agency's client id (lower case letters, digits and -)",
        )
    note = check_text("note", note, limit=MAX_NOTE, code="CORRECTION_NOTE")
    return await _move(
        session,
        request_id,
        allowed=("reported",),
        step="forwarded",
        actor=steward,
        values={"source_agency": source_agency, "forward_note": note, "forwarded_by": steward},
        detail={"source_agency": source_agency, "note": note},
    )


async def reject(
    *, session: AsyncSession, request_id: int, steward: str, reason: str
) -> CorrectionRequest:
    """The dispute closed without a change, with the reason the citizen is shown."""
    reason = check_text("reason", reason, limit=MAX_NOTE, code="CORRECTION_REASON")
    return await _move(
        session,
        request_id,
        allowed=OPEN_STATUSES,
        step="rejected",
        actor=steward,
        values={"rejection_reason": reason, "rejected_by": steward},
        detail={"reason": reason},
    )
