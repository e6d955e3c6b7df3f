"""Registry loads in the console: every run (`etl_runs`) with the change-rate guard's report,
the loads it stopped that wait for someone to accept their changes, and rollbacks.

The console does what the `lienthong etl` commands do, through the same functions (etl/cli.py):
- a rollback is `etl.rollback.rollback`, refused (nothing changed) in its own words;
- accepting a stopped load is loading its export again with `accept_changes`, as `etl load …
  --accept-changes` does (etl.pipeline.load), from the file the stopped run read, with its
  encoding and CRS, and only while that file is still byte for byte the one the guard measured
  (its SHA-256): a steward accepts the changes they were shown, not another file's.
The guard stops nothing but a change-rate breach; a full export stopped for what it would close
is the operator's (`--force`), not accepted here.

Who may: the command line trusts whoever runs it on the server; the console asks for a steward
of the registry the load writes (role `steward:<registry>` held nationwide, as
gateway/admin/approvals.py decides scopes). A rollback records the steward as its `actor`;
an accepted load records the server's operating-system user, as every load does
(etl.pipeline takes no actor).

A run's page shows personal data: the guard's before → after samples are registry values of
the records they name (a resident's name, birth date, address). Each view that shows samples
is the steward's oversight read (read `etl.run`, the run in its filter): one access-log entry
under each subject shown, so their citizen sees it at /me, written in one batch before the page
leaves; if the log cannot be written the page is a 503 and shows nothing (as the form preview,
gateway/console/forms.py).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from etl import runs
from etl.closures import ClosuresRefused
from etl.crs import CRSInputError
from etl.encodings import EncodingError
from etl.guard import ChangesRefused
from etl.models import EtlRun
from etl.pipeline import LoadError, file_sha256, load
from etl.readers import SourceError
from etl.rollback import MERGED, rollback
from gateway.admin import approvals
from gateway.admin.problems import Problem, conflict, forbidden, not_found, unavailable
from gateway.audit.writer import AuditUnavailable, Disclosure
from gateway.console.context import Console
from gateway.console.web import ConsoleDep, FormDep, StewardDep, StewardSession, redirect, render
from gateway.identity.principal import Principal
from gateway.subjects import SUBJECT_KINDS
from registries.parcels.service import parcel_ids_by_key
from registries.rollback import RollbackRefused

router = APIRouter(prefix="/etl")
PAGE_SIZE = 50
STATUSES = ("running", "done", "unbalanced", "failed", "refused", "dry-run", "rollback")
RunId = Annotated[int, Query(ge=1, le=2**63 - 1)]
READ = "etl.run"  # the steward's oversight read of a run's samples, in the access log
PARCEL = SUBJECT_KINDS["Parcel"].audit_name


@router.get("")
async def list_runs(
    *,
    request: Request,
    console: ConsoleDep,
    _session: StewardSession,
    target: Annotated[str | None, Query(pattern=r"^[a-z_]{0,40}$")] = None,
    status: Annotated[str | None, Query(pattern=rf"^({'|'.join(STATUSES)})?$")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Newest first; the loads waiting for acceptance above them."""
    async with console.admin.transaction() as session:
        rows = await runs.runs(session=session, target=target, status=status, before=before,
                               limit=PAGE_SIZE + 1)  # fmt: skip
        waiting = await runs.waiting_runs(session=session)
        targets = await runs.run_targets(session=session)
    shown = rows[:PAGE_SIZE]
    after = shown[-1].run_id if len(rows) > PAGE_SIZE else None
    return render(request, "etl.html", nav="etl", runs=shown, waiting=waiting, after=after,
                  targets=targets, statuses=STATUSES,
                  chosen={"target": target or "", "status": status or ""})  # fmt: skip


async def _run(session: AsyncSession, run_id: int) -> EtlRun:
    found = await runs.get_run(session=session, run_id=run_id)
    if found is None:
        raise not_found("load run", str(run_id))
    return found


async def _run_page(
    request: Request, console: Console, steward: Principal, run_id: int, *, status: int = 200,
    refusal: Problem | None = None,
) -> Response:  # fmt: skip
    async with console.admin.transaction() as session:
        run = await _run(session, run_id)
        is_waiting = await runs.is_waiting(session=session, run_id=run_id)
        rejects = await runs.reject_count(session=session, run_id=run_id)
    guard = guard_rows(run.guard)
    await _record_view(console, steward, run, guard)
    done = request.query_params.get("done")
    return render(request, "etl_run.html", status=status, nav="etl", run=run,
                  guard=guard, waiting=is_waiting, rejects=rejects,
                  refusal=refusal, done=done if done in {"accepted", "rolled_back"} else None,
                  can_roll_back=run.status in MERGED and run.merged_at is not None
                  and run.rolled_back_by is None,
                  language_path=f"/console/etl/{run_id}")  # fmt: skip


def guard_rows(guard: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The guard's figures per field (`etl_runs.guard`, etl/guard.py's `as_json`), those over
    their limits first."""
    if not guard:
        return []
    over = set(guard.get("over") or [])
    rows = [
        {"name": name, "over": name in over, **figures}
        for name, figures in (guard.get("fields") or {}).items()
    ]
    return sorted(rows, key=lambda row: (not row["over"], row["name"]))


def shown_subjects(target: str, guard: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """The subjects whose values the samples show, as the access log names them (the type's
    audit name and the sample's record key), each with the fields shown of it, in page order."""
    kinds = [kind.audit_name for kind in SUBJECT_KINDS.values() if kind.registry == target]
    subject_type = kinds[0] if kinds else target
    shown: dict[tuple[str, str], list[str]] = {}
    for row in guard:
        for key, *_values in row.get("samples") or ():
            fields = shown.setdefault((subject_type, str(key)), [])
            if row["name"] not in fields:
                fields.append(row["name"])
    return shown


async def _record_view(
    console: Console, steward: Principal, run: EtlRun, guard: list[dict[str, Any]]
) -> None:
    """The page's disclosure: one oversight entry per subject whose samples it shows (the shape
    gateway/admin/context.py `Admin.record_read` writes), durable before the page leaves;
    nothing when it shows no sample."""
    shown = shown_subjects(run.target, guard)
    if not shown:
        return
    if any(subject_type == PARCEL for subject_type, _ in shown):
        # a load names a parcel by its cadastral key; the access log by its national ID
        async with console.admin.transaction() as session:
            ids = await parcel_ids_by_key(session=session, keys=[key for _, key in shown])
        shown = {(kind, ids.get(key, key) if kind == PARCEL else key): fields
                 for (kind, key), fields in shown.items()}  # fmt: skip
    request_id = uuid.uuid4().hex
    filters = {"run_id": run.run_id, "target": run.target}
    entries = [
        Disclosure(
            request_id=request_id,
            agency=steward.agency,
            subject_type=subject_type,
            subject_id=subject_id,
            officer=steward.subject,
            purpose="oversight",
            operation=READ,
            decision={
                "outcome": "oversight",
                "read": READ,
                "filter": filters,
                "fields": fields,
                "returned": len(shown),
                "roles": sorted(steward.roles),
            },
        )
        for (subject_type, subject_id), fields in shown.items()
    ]
    try:
        await console.admin.services.audit.record(entries)
    except AuditUnavailable as error:
        raise unavailable("the access log") from error


@router.get("/{run_id}")
async def show_run(
    *, request: Request, run_id: int, console: ConsoleDep, steward: StewardDep
) -> Response:
    return await _run_page(request, console, steward, run_id)


def registry_steward(steward: Principal, target: str, action: str) -> None:
    """A load's registry is decided for by its stewards (nationwide): 403 `scope` otherwise."""
    domains = {kind.domain for kind in SUBJECT_KINDS.values() if kind.registry == target}
    needed = domains or {approvals.PLATFORM}
    if not any(approvals.holds(steward, scope, None) for scope in needed):
        names = ", ".join(sorted(needed))
        raise forbidden(
            f"to {action} a load of {target} needs a steward of: {names}; your roles hold none",
            "scope",
        )


@router.post("/{run_id}/rollback")
async def roll_back(
    *, request: Request, run_id: int, console: ConsoleDep, steward: StewardDep, _form: FormDep
) -> Response:
    """`lienthong etl rollback RUN_ID`, by this steward."""
    async with console.admin.transaction() as session:
        run = await _run(session, run_id)
    try:
        registry_steward(steward, run.target, "roll back")
        done = await asyncio.to_thread(
            rollback, settings=console.settings, run_id=run_id, actor=steward.subject
        )
    except Problem as refused:
        return await _run_page(
            request, console, steward, run_id, status=refused.status, refusal=refused
        )
    except (RollbackRefused, LoadError) as error:  # nothing changed; said as it says it
        return await _run_page(
            request, console, steward, run_id, status=409, refusal=conflict(str(error))
        )
    return redirect(f"/console/etl/{done.run_id}?done=rolled_back")


@router.post("/{run_id}/accept")
async def accept(
    *, request: Request, run_id: int, console: ConsoleDep, steward: StewardDep, _form: FormDep
) -> Response:
    """`etl load TARGET PATH --accept-changes` of the export the guard stopped."""
    async with console.admin.transaction() as session:
        run = await _run(session, run_id)
        is_waiting = await runs.is_waiting(session=session, run_id=run_id)
    try:
        registry_steward(steward, run.target, "accept")
        if not is_waiting:
            raise conflict(f"run {run_id} does not wait for acceptance (its status is "
                           f"{run.status!r})")  # fmt: skip
        path = Path(run.source_path)
        same = await asyncio.to_thread(lambda: path.is_file() and file_sha256(path))
        if same != run.source_sha256:
            raise conflict(f"{path} is no longer the export run {run_id} read (missing or "
                           "changed since): load it again from the command line")  # fmt: skip
        try:
            report = await asyncio.to_thread(
                load, settings=console.settings, target=run.target, path=path,
                encoding=run.source_encoding, crs=run.source_crs, accept_changes=True,
            )  # fmt: skip
        except (ChangesRefused, ClosuresRefused, LoadError, SourceError, EncodingError,
                CRSInputError) as error:  # fmt: skip
            raise conflict(f"the load was refused: {error}") from error
    except Problem as refused:
        return await _run_page(
            request, console, steward, run_id, status=refused.status, refusal=refused
        )
    return redirect(f"/console/etl/{report.run_id}?done=accepted")
