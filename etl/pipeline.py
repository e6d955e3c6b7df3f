"""One load: read in chunks → validate → normalise → COPY into staging → one set-based merge.

Every input row ends up counted exactly once: inserted, updated, unchanged or rejected (with a
reason code, in `<input>.rejects.csv` and in `etl_rejects`). The run and its counts are recorded
in `etl_runs`. The load is one transaction: it lands whole or not at all, with its change
events (registries.events, an outbox: source `etl:<run id>`, or `bulk:<run id>` on the bulk
path). A load that dwarfs its registry merges in bulk (registries.bulk): the registry's history
exclusion constraints and secondary indexes rebuilt, and every row re-validated, after the merge.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from etl import closures as full_exports
from etl.closures import Closures, ClosuresRefused
from etl.guard import (
    MIN_EXISTING,
    ChangesRefused,
    FieldFigure,
    GuardReport,
    Limits,
    damage,
    mixed_encoding,
)
from etl.readers import Source, SourceRecord, open_source
from etl.targets import TARGETS, LoadContext, LoadTarget
from etl.validation import RowError
from lienthong.settings import Settings
from registries import changes, corrections
from registries.bulk import rebuilt, should_bulk
from registries.events import Outbox
from registries.merge import MergeCounts

Progress = Callable[[int], None]


class LoadError(RuntimeError):
    """The load could not run (bad source, database down); nothing was merged."""


@dataclass
class LoadReport:
    run_id: int
    target: str
    source: Path
    sha256: str
    encoding: str | None
    crs: str | None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    # Rows loaded with something flagged, by warning code (VSIC_UNCHECKED: a business line the
    # partial VSIC table lacks, kept in the record's provenance)
    warned_by_reason: Counter[str] = field(default_factory=Counter)
    duration_seconds: float = 0.0
    rejects_path: Path | None = None
    bulk: bool = False  # merged with the registry's structures rebuilt after (registries.bulk)
    guard: GuardReport | None = None  # the change-rate guard's figures (etl.guard)
    merged_at: datetime | None = None  # the merge's instant: its versions start or end then
    dry_run: bool = False  # computed and rolled back: the registries are as they were
    # links of earlier records to residents this load brought: unresolved until it
    resolved_links: int = 0
    # a full export's closures: the records of its scope it no longer holds (etl.closures)
    closures: Closures | None = None
    closures_path: Path | None = None  # every closed record, one per line

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.inserted + self.updated + self.unchanged + self.rejected

    @property
    def changed_nothing(self) -> bool:
        closed = self.closures.count if self.closures is not None else 0
        return self.inserted == 0 and self.updated == 0 and closed == 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_records(source: Source) -> int | None:
    """How many records a progress bar should expect (None when not cheap to know)."""
    if source.kind == "spatial":
        return None
    with source.path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - (1 if source.kind == "csv" else 0), 0)


@dataclass
class _Rejects:
    """Rejected rows: the reject file is written as rows come, the table filled at the end."""

    path: Path
    rows: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)
    by_reason: Counter[str] = field(default_factory=Counter)
    _writer: Any = None
    _handle: Any = None

    def add(self, record: SourceRecord, code: str, message: str) -> None:
        original = dict(record.fields)
        if record.geometry is not None:
            original["geometry_wkt_wgs84"] = record.geometry.wkt
        if self._writer is None:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line_number", "reason_code", "message", "source_row"])
        source_row = json.dumps(original, ensure_ascii=False, default=str)
        self._writer.writerow([record.line_number, code, message, source_row])
        self.rows.append((record.line_number, code, message, original))
        self.by_reason[code] += 1

    def add_staged(self, line_number: int, code: str, message: str, row: dict[str, Any]) -> None:
        """A row rejected after it was staged (checked against the registry's current values)."""
        self.add(SourceRecord(line_number, row), code, message)

    def close(self) -> Path | None:
        if self._handle is None:
            self.path.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
            return None
        self._handle.close()
        return self.path


@dataclass(frozen=True)
class _Export:
    """One export being read for a registry: its spec, its source, the report (not yet a run)
    and its rejects file (written only when a row is rejected)."""

    spec: LoadTarget
    source: Source
    report: LoadReport
    rejects: _Rejects
    lines: dict[str, int] = field(default_factory=dict)  # staged key -> its line in the source
    # The keys rejected rows name (a full export does not close their records), and how many
    # rejected rows name none the registry could hold
    named: set[str] = field(default_factory=set)
    unidentified: list[int] = field(default_factory=lambda: [0])

    @classmethod
    def open(cls, target: str, path: Path, *, encoding: str | None, crs: str | None) -> _Export:
        spec = TARGETS.get(target)
        if spec is None:
            raise LoadError(f"unknown registry {target!r}; known: {', '.join(sorted(TARGETS))}")
        source = open_source(path, encoding=encoding, crs=crs)
        report = LoadReport(run_id=0, target=target, source=path, sha256="",
                            encoding=source.encoding, crs=source.crs)  # fmt: skip
        return cls(spec, source, report, _Rejects(Path(f"{path}.rejects.csv")))

    def reject(self, record: SourceRecord, code: str, message: str) -> None:
        """A row read from the source rejected, and the record it names kept in mind."""
        self.rejects.add(record, code, message)
        key = self.spec.raw_key(record.fields)
        if key is None:
            self.unidentified[0] += 1
        else:
            self.named.add(key)

    def reject_staged(self, key: str, code: str, message: str, row: dict[str, Any]) -> None:
        """A staged row taken out of the load (checked against the registry)."""
        self.rejects.add_staged(self.lines.get(key, 0), code, message, row)
        self.named.add(key)

    def rows(self, context: LoadContext, *, progress: Progress | None) -> Iterator[tuple[Any, ...]]:
        """Validated rows in staging column order; rejects set aside, repeated keys rejected."""
        spec, report = self.spec, self.report
        seen: dict[str, int] = {}
        lines = self.lines
        text_columns = spec.text_columns
        pending = 0
        in_staging_order = itemgetter(*spec.columns)  # a tuple per row, at C speed
        for record in self.source.records():
            report.read += 1
            pending += 1
            if progress is not None and pending == 1000:
                progress(pending)
                pending = 0
            if record.unreadable is not None:
                self.reject(record, *record.unreadable)
                continue
            try:
                row = spec.validate(record, context)
            except RowError as error:
                self.reject(record, error.code, str(error))
                continue
            # read as the file gave it: normalising whitespace would hide a decoded NBSP
            raw = record.fields
            mixed = next((c for c in text_columns if mixed_encoding(_text_or_none(raw.get(c)))),
                         None)  # fmt: skip
            if mixed is not None:
                self.reject(record, "ENCODING_MIXED",
                            f"{mixed}: {raw[mixed]!r} is not in the file's encoding")  # fmt: skip
                continue
            key = spec.key(row)
            values = in_staging_order(row)
            fingerprint = hash(values)
            earlier = seen.get(key)
            if earlier is not None:
                if earlier == fingerprint:
                    self.reject(record, "DUPLICATE_ROW", f"{key} repeats an earlier row exactly")
                else:
                    self.reject(record, "DUPLICATE_KEY", f"{key} appears earlier with other values")
                continue
            seen[key] = fingerprint
            lines[key] = record.line_number
            for warning in row.get("warnings", ()):
                report.warned_by_reason[warning] += 1
            yield values
        if progress is not None and pending:
            progress(pending)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def load(
    *,
    settings: Settings,
    target: str,
    path: Path,
    encoding: str | None = None,
    crs: str | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int | None], None] | None = None,
    bulk: bool | None = None,
    dry_run: bool = False,
    accept_changes: bool = False,
    limits: Limits | None = None,
    guard: bool = True,
    full_export: FullExport | None = None,
    events: bool = True,
) -> LoadReport:
    """Load one export. `bulk`: None lets `registries.bulk.should_bulk` decide; True or False
    forces the bulk path on or off (registries without bulk tables always merge normally).
    `dry_run`: read, validate, measure and merge, then roll back (the report says what the load
    would do). The change-rate guard (etl.guard) stops a load beyond `limits` (the registry's
    defaults) with ChangesRefused unless `accept_changes`, and values damaged against the current
    ones are rejected whatever the rate. `guard=False` skips both: only for `python -m bench etl`,
    which times the load with and without them. `full_export`: the export holds every record of
    its scope, and the load closes those it lacks (etl.closures), stopping with ClosuresRefused
    beyond `settings.full_export_max_close_share` unless forced. `events=False` records no
    change events: only for `python -m bench events`, which times the outbox's cost."""
    export = _Export.open(target, path, encoding=encoding, crs=crs)
    if full_export is not None and not export.spec.closables:
        raise LoadError(f"a full export of {target} closes nothing: not supported")
    report, rejects = export.report, export.rejects
    if on_total is not None:
        on_total(count_records(export.source))
    started = time.perf_counter()
    report.sha256 = file_sha256(path)
    try:
        connection = psycopg.connect(settings.libpq_url)
    except psycopg.OperationalError as error:
        raise LoadError(f"cannot reach the database: {error}") from error
    report.dry_run = dry_run
    checks = _Checks(
        limits or Limits.of(target),
        accept_changes,
        guard,
        full_export,
        settings.full_export_max_close_share,
        events,
    )
    with connection:
        report.run_id = _start_run(connection, report)  # LoadError when not migrated
        try:
            with connection.transaction():
                counts = _stage_and_merge(
                    connection, export, progress=progress, bulk=bulk, checks=checks
                )
                _store_rejects(connection, report.run_id, rejects)
                if dry_run:
                    raise _RolledBack
        except _RolledBack:
            pass
        except ChangesRefused as refused:
            _fail_run(connection, report.run_id, refused, status="refused", report=refused.report)
            raise
        except ClosuresRefused as refused:
            report.closures = refused.closures
            _fail_run(connection, report.run_id, refused, status="refused",
                      full_export=refused.closures.as_json())  # fmt: skip
            raise
        except Exception as error:
            _fail_run(connection, report.run_id, error)
            raise
        finally:
            report.rejects_path = rejects.close()
            report.closures_path = _write_closures(path, report.closures)
        report.inserted, report.updated, report.unchanged = (
            counts.inserted,
            counts.updated,
            counts.unchanged,
        )
        report.rejected_by_reason = rejects.by_reason
        report.duration_seconds = time.perf_counter() - started
        _finish_run(connection, report)
    return report


def count_valid(
    *,
    connection: psycopg.Connection[tuple[Any, ...]],
    target: str,
    path: Path,
    encoding: str | None = None,
    crs: str | None = None,
) -> tuple[int, int]:
    """Read and validate an export exactly as a load does, staging and merging nothing: (rows
    read, rows valid). Rejects go to `<input>.rejects.csv` as in a load. This is the Python part
    of a load alone, which `python -m bench etl` times beside the database's part."""
    export = _Export.open(target, path, encoding=encoding, crs=crs)
    try:
        valid = sum(1 for _ in export.rows(export.spec.reference(connection), progress=None))
    finally:
        export.rejects.close()
    return export.report.read, valid


class _RolledBack(Exception):  # noqa: N818 - control flow: a dry run's transaction is undone
    """Raised inside a dry run's transaction to roll it back once its report is made."""


@dataclass(frozen=True)
class FullExport:
    """A full export's scope: a province (2025 code) or, None, the whole registry; `force`
    closes beyond the limit (and despite rejected rows that name no record)."""

    province: int | None
    force: bool = False


@dataclass(frozen=True)
class _Checks:
    limits: Limits
    accept_changes: bool
    measure: bool
    full_export: FullExport | None = None
    max_close_share: float = 0.0
    events: bool = True  # record change events (registries.events)


def _stage_and_merge(
    connection: psycopg.Connection[tuple[Any, ...]],
    export: _Export,
    *,
    progress: Progress | None,
    bulk: bool | None,
    checks: _Checks,
) -> MergeCounts:
    """Stream validated rows into staging (the server ingests while rows are validated), check
    them against the registry's current values (the change-rate guard and the suspicious-text
    checks), then one set-based merge of the whole file, on the bulk path when the rule or
    `bulk` says so."""
    spec = export.spec
    context = spec.reference(connection)
    spec.create_staging(connection)
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(spec.staging), columns)
    staged = 0
    with connection.cursor().copy(copy_sql) as copy:
        for row in export.rows(context, progress=progress):
            copy.write_row(row)
            staged += 1
    if checks.measure:
        export.report.guard = _measure(connection, export, checks)
        staged -= _reject_damaged(connection, export)
    if spec.family is not None:
        staged -= _check_family(connection, export, spec.family)
    if export.report.guard is not None and export.report.guard.stops:
        raise ChangesRefused(export.report.guard)
    closures = None
    if checks.full_export is not None:
        closures = export.report.closures = _closures(connection, export, checks)
        if closures.stops:
            raise ClosuresRefused(closures)
    merged_at = connection.execute("SELECT now()").fetchone()
    export.report.merged_at = merged_at[0] if merged_at else None
    export.report.bulk = bool(spec.bulk_tables) and (
        bulk
        if bulk is not None
        else should_bulk(connection, table=spec.bulk_tables[0], staged=staged)
    )
    run_id = export.report.run_id
    outbox = Outbox(f"{'bulk' if export.report.bulk else 'etl'}:{run_id}", enabled=checks.events)
    if not export.report.bulk:
        counts = spec.merge(connection, outbox)
    else:
        with rebuilt(connection, spec.bulk_tables):
            counts = spec.merge(connection, outbox)
    if closures is not None:
        full_exports.close(connection, spec.closables, closures, run_id, outbox)
    for table in spec.bulk_tables:  # disputes the new versions answer (docs/corrections.md)
        corrections.settle(connection, table=table, actor=outbox.source)
    return counts


def _check_family(
    connection: psycopg.Connection[tuple[Any, ...]],
    export: _Export,
    check: Callable[[psycopg.Connection[tuple[Any, ...]]], Any],
) -> int:
    """Staged rows whose family links contradict their relatives' records rejected (with their
    reason), links to persons the registry does not hold flagged; returns how many left."""
    found = check(connection)
    for contradiction in found.contradictions:
        export.reject_staged(
            contradiction.personal_id,
            contradiction.code,
            contradiction.message,
            {"personal_id": contradiction.personal_id, contradiction.link: contradiction.relative},
        )
    flagged = {link.personal_id for link in found.unresolved}
    if flagged:
        export.report.warned_by_reason["FAMILY_LINK_UNRESOLVED"] += len(flagged)
    export.report.resolved_links = found.resolved
    return len(found.contradictions)


def _closures(
    connection: psycopg.Connection[tuple[Any, ...]], export: _Export, checks: _Checks
) -> Closures:
    """What the staged full export would close, before anything is merged."""
    full_export = checks.full_export
    assert full_export is not None  # noqa: S101 - only called for a full export
    try:
        scope = full_exports.scope_of(connection, full_export.province)
    except ValueError as error:
        raise LoadError(str(error)) from error
    return full_exports.measure(
        connection,
        export.spec.closables,
        scope=scope,
        named=export.named,
        unidentified=export.unidentified[0],
        limit=checks.max_close_share,
        forced=full_export.force,
    )


def _write_closures(path: Path, closures: Closures | None) -> Path | None:
    """Every record the full export closed (or would close), one per line, beside the input."""
    target = Path(f"{path}.closed.csv")
    if closures is None or not closures.count:
        target.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
        return None
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["registry", "record_key"])
        for table, keys in closures.closing.items():
            writer.writerows((table, key) for key in keys)
    return target


def _measure(
    connection: psycopg.Connection[tuple[Any, ...]], export: _Export, checks: _Checks
) -> GuardReport:
    """The staged load's change figures against the registry's limits, with samples of every
    field over its limit (registries.changes)."""
    comparison, limits = export.spec.comparison, checks.limits
    measured = changes.measure(connection, comparison)
    applies = measured.existing >= MIN_EXISTING
    figures = []
    for column, changed in measured.by_column.items():
        share = changed / measured.existing if measured.existing else 0.0
        figure = FieldFigure(column, changed, share, limits.for_field(column))
        if figure.over or (changed and applies and share > limits.for_field(column) / 2):
            figure.samples = changes.samples(connection, comparison, column)
        figures.append(figure)
    return GuardReport(
        staged=measured.staged,
        existing=measured.existing,
        updated=measured.updated,
        updated_limit=limits.updated,
        fields=figures,
        applies=applies,
        accepted=checks.accept_changes,
    )


def _reject_damaged(connection: psycopg.Connection[tuple[Any, ...]], export: _Export) -> int:
    """Reject, whatever the rate, staged values a broken converter damaged (etl.guard.damage);
    returns how many records left the load."""
    comparison = export.spec.comparison
    damaged: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for key, column, before, after in changes.changed_text(
        connection, comparison, export.spec.text_columns
    ):
        found = damage(before, after)
        if found is not None and key not in damaged:
            code, why = found
            damaged[key] = (code, f"{column}: {before!r} → {after!r} {why}", {column: after})
    changes.drop_staged(connection, comparison, sorted(damaged))
    for key, (code, message, values) in sorted(damaged.items()):
        export.reject_staged(key, code, message, {"key": key, **values})
    return len(damaged)


NOT_MIGRATED = "the database is older than this code: run `lienthong db migrate` first"


def _start_run(connection: psycopg.Connection[tuple[Any, ...]], report: LoadReport) -> int:
    try:
        return _insert_run(connection, report)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as error:
        raise LoadError(NOT_MIGRATED) from error


def _insert_run(connection: psycopg.Connection[tuple[Any, ...]], report: LoadReport) -> int:
    with connection.transaction():
        row = connection.execute(
            "INSERT INTO etl_runs (target, source_path, source_sha256, source_encoding, "
            "source_crs, status, read, inserted, updated, unchanged, rejected, "
            "rejected_by_reason, actor) VALUES (%s, %s, %s, %s, %s, 'running', 0, 0, 0, 0, 0, "
            "'{}', %s) RETURNING run_id",
            (
                report.target,
                str(report.source.resolve()),
                report.sha256,
                report.encoding,
                report.crs,
                getpass.getuser(),
            ),
        ).fetchone()
    if row is None:
        raise LoadError("etl_runs returned no run id")
    return int(row[0])


def _store_rejects(
    connection: psycopg.Connection[tuple[Any, ...]], run_id: int, rejects: _Rejects
) -> None:
    with connection.cursor().copy(
        "COPY etl_rejects (run_id, line_number, reason_code, message, source_row) FROM STDIN"
    ) as copy:
        for line_number, code, message, original in rejects.rows:
            copy.write_row([run_id, line_number, code, message, json.dumps(original, default=str)])


def _fail_run(
    connection: psycopg.Connection[tuple[Any, ...]],
    run_id: int,
    error: Exception,
    *,
    status: str = "failed",
    report: GuardReport | None = None,
    full_export: dict[str, Any] | None = None,
) -> None:
    with connection.transaction():
        connection.execute(
            "UPDATE etl_runs SET finished_at = now(), status = %s, "
            "rejected_by_reason = %s, guard = %s, full_export = %s WHERE run_id = %s",
            (
                status,
                json.dumps({"error": f"{type(error).__name__}"}),
                json.dumps(report.as_json()) if report else None,
                json.dumps(full_export) if full_export else None,
                run_id,
            ),
        )


def _finish_run(connection: psycopg.Connection[tuple[Any, ...]], report: LoadReport) -> None:
    with connection.transaction():
        connection.execute(
            "UPDATE etl_runs SET finished_at = now(), status = %s, read = %s, inserted = %s, "
            "updated = %s, unchanged = %s, rejected = %s, rejected_by_reason = %s, "
            "duration_seconds = %s, guard = %s, merged_at = %s, warned_by_reason = %s, "
            "resolved_links = %s, closed = %s, full_export = %s WHERE run_id = %s",
            (
                "dry-run" if report.dry_run else "done" if report.balanced else "unbalanced",
                report.read,
                report.inserted,
                report.updated,
                report.unchanged,
                report.rejected,
                json.dumps(dict(report.rejected_by_reason)),
                report.duration_seconds,
                json.dumps(report.guard.as_json()) if report.guard else None,
                None if report.dry_run else report.merged_at,
                json.dumps(dict(report.warned_by_reason)),
                report.resolved_links,
                0 if report.dry_run or report.closures is None else report.closures.count,
                json.dumps(report.closures.as_json()) if report.closures else None,
                report.run_id,
            ),
        )
