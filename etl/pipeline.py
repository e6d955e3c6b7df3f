"""One load: read in chunks → validate → normalise → COPY into staging → one set-based merge.

Every input row ends up counted exactly once: inserted, updated, unchanged or rejected (with a
reason code, in `<input>.rejects.csv` and in `etl_rejects`). The run and its counts are recorded
in `etl_runs`. The load is one transaction: it lands whole or not at all. A load that dwarfs
its registry merges in bulk (registries.bulk): the registry's history exclusion constraints and
secondary indexes rebuilt, and every row re-validated, after the merge.
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
from registries import changes
from registries.bulk import rebuilt, should_bulk
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

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.inserted + self.updated + self.unchanged + self.rejected

    @property
    def changed_nothing(self) -> bool:
        return self.inserted == 0 and self.updated == 0


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

    @classmethod
    def open(cls, target: str, path: Path, *, encoding: str | None, crs: str | None) -> _Export:
        spec = TARGETS.get(target)
        if spec is None:
            raise LoadError(f"unknown registry {target!r}; known: {', '.join(sorted(TARGETS))}")
        source = open_source(path, encoding=encoding, crs=crs)
        report = LoadReport(run_id=0, target=target, source=path, sha256="",
                            encoding=source.encoding, crs=source.crs)  # fmt: skip
        return cls(spec, source, report, _Rejects(Path(f"{path}.rejects.csv")))

    def rows(self, context: LoadContext, *, progress: Progress | None) -> Iterator[tuple[Any, ...]]:
        """Validated rows in staging column order; rejects set aside, repeated keys rejected."""
        spec, report, rejects = self.spec, self.report, self.rejects
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
                rejects.add(record, *record.unreadable)
                continue
            try:
                row = spec.validate(record, context)
            except RowError as error:
                rejects.add(record, error.code, str(error))
                continue
            # read as the file gave it: normalising whitespace would hide a decoded NBSP
            raw = record.fields
            mixed = next((c for c in text_columns if mixed_encoding(_text_or_none(raw.get(c)))),
                         None)  # fmt: skip
            if mixed is not None:
                rejects.add(record, "ENCODING_MIXED",
                            f"{mixed}: {raw[mixed]!r} is not in the file's encoding")  # fmt: skip
                continue
            key = spec.key(row)
            values = in_staging_order(row)
            fingerprint = hash(values)
            earlier = seen.get(key)
            if earlier is not None:
                if earlier == fingerprint:
                    rejects.add(record, "DUPLICATE_ROW", f"{key} repeats an earlier row exactly")
                else:
                    rejects.add(record, "DUPLICATE_KEY", f"{key} appears earlier with other values")
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
) -> LoadReport:
    """Load one export. `bulk`: None lets `registries.bulk.should_bulk` decide; True or False
    forces the bulk path on or off (registries without bulk tables always merge normally).
    `dry_run`: read, validate, measure and merge, then roll back (the report says what the load
    would do). The change-rate guard (etl.guard) stops a load beyond `limits` (the registry's
    defaults) with ChangesRefused unless `accept_changes`, and values damaged against the current
    ones are rejected whatever the rate. `guard=False` skips both: only for `python -m bench etl`,
    which times the load with and without them."""
    export = _Export.open(target, path, encoding=encoding, crs=crs)
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
    checks = _Checks(limits or Limits.of(target), accept_changes, guard)
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
        except Exception as error:
            _fail_run(connection, report.run_id, error)
            raise
        finally:
            report.rejects_path = rejects.close()
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
class _Checks:
    limits: Limits
    accept_changes: bool
    measure: bool


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
    if export.report.guard is not None and export.report.guard.stops:
        raise ChangesRefused(export.report.guard)
    merged_at = connection.execute("SELECT now()").fetchone()
    export.report.merged_at = merged_at[0] if merged_at else None
    export.report.bulk = bool(spec.bulk_tables) and (
        bulk
        if bulk is not None
        else should_bulk(connection, table=spec.bulk_tables[0], staged=staged)
    )
    if not export.report.bulk:
        return spec.merge(connection)
    with rebuilt(connection, spec.bulk_tables):
        return spec.merge(connection)


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
        export.rejects.add_staged(export.lines.get(key, 0), code, message, {"key": key, **values})
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
) -> None:
    with connection.transaction():
        connection.execute(
            "UPDATE etl_runs SET finished_at = now(), status = %s, "
            "rejected_by_reason = %s, guard = %s WHERE run_id = %s",
            (
                status,
                json.dumps({"error": f"{type(error).__name__}"}),
                json.dumps(report.as_json()) if report else None,
                run_id,
            ),
        )


def _finish_run(connection: psycopg.Connection[tuple[Any, ...]], report: LoadReport) -> None:
    with connection.transaction():
        connection.execute(
            "UPDATE etl_runs SET finished_at = now(), status = %s, read = %s, inserted = %s, "
            "updated = %s, unchanged = %s, rejected = %s, rejected_by_reason = %s, "
            "duration_seconds = %s, guard = %s, merged_at = %s WHERE run_id = %s",
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
                report.run_id,
            ),
        )
