"""Readers for agency exports, streaming records in chunks whatever the file size.

CSV (UTF-8 or a detected legacy encoding) and JSON lines for residents and enterprises;
GeoJSON, ESRI Shapefile and GeoPackage (through pyogrio/GDAL) for parcels, reprojected from the
file's CRS or `--crs` to WGS 84.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from numpy.typing import NDArray
from pyogrio import raw as ogr
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from etl.crs import WGS84, parse_crs, to_wgs84
from etl.encodings import DETECTION_SAMPLE_BYTES, UTF8, TextDecoder, detect, nfc

CSV_SUFFIXES = frozenset({".csv", ".txt"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
SPATIAL_SUFFIXES = frozenset({".geojson", ".json", ".shp", ".gpkg", ".zip"})
SPATIAL_BATCH = 5_000
UTF8_TEXT = TextDecoder(UTF8)


class SourceError(ValueError):
    """A source file the ETL cannot read at all (as opposed to a bad row in it)."""


@dataclass(frozen=True)
class SourceRecord:
    line_number: int  # data row (CSV/JSONL: line in the file; spatial: feature number)
    fields: dict[str, Any]
    geometry: BaseGeometry | None = None
    # (reason code, message) when the reader could not make a row of it: rejected as it stands
    unreadable: tuple[str, str] | None = None


@dataclass
class Source:
    path: Path
    kind: str  # csv, jsonl or spatial
    encoding: str | None = None
    crs: str | None = None
    _decoder: TextDecoder = UTF8_TEXT
    _crs: CRS | None = None

    def records(self) -> Iterator[SourceRecord]:
        if self.kind == "csv":
            return self._csv_records()
        if self.kind == "jsonl":
            return self._jsonl_records()
        return self._spatial_records()

    def _decoded_lines(self) -> Iterator[str]:
        with self.path.open("rb") as handle:
            yield from self._decoder.lines(handle)

    def _csv_records(self) -> Iterator[SourceRecord]:
        # csv.reader and zip rather than DictReader (Python code per row); blank lines skipped.
        reader = csv.reader(self._decoded_lines())
        header = [nfc(name) for name in next(reader, [])]
        if not header:
            raise SourceError(f"{self.path.name}: no header row")
        width = len(header)
        for row in reader:
            if not row:
                continue
            fields: dict[str, Any] = dict(zip(header, row, strict=False))
            if len(row) == width:
                yield SourceRecord(reader.line_num, fields)
                continue
            # a cut or shifted row: rejected whole, surplus fields kept for the reject file
            fields.update(dict.fromkeys(header[len(row) :]))
            fields["_extra_columns"] = row[width:]
            problem = ("FIELD_COUNT", f"{len(row)} fields, the header has {width}")
            yield SourceRecord(reader.line_num, fields, unreadable=problem)

    def _jsonl_records(self) -> Iterator[SourceRecord]:
        for number, line in enumerate(self._decoded_lines(), start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError as error:
                problem = ("JSON_INVALID", f"not JSON: {error}")
            else:
                if isinstance(document, dict):
                    yield SourceRecord(number, document)
                    continue
                problem = ("JSON_INVALID", f"a JSON {type(document).__name__}, not an object")
            yield SourceRecord(number, {"_unparsed": line.strip()}, unreadable=problem)

    def _spatial_records(self) -> Iterator[SourceRecord]:
        transformer = to_wgs84(self._crs) if self._crs is not None else None
        skip = 0
        while True:
            meta, _, geometries, field_data = ogr.read(
                str(self.path), skip_features=skip, max_features=SPATIAL_BATCH
            )
            names = list(meta["fields"])
            count = len(geometries)
            for index in range(count):
                fields = {
                    name: _plain(field_data[column][index]) for column, name in enumerate(names)
                }
                wkb = geometries[index]
                geometry = shapely.from_wkb(wkb) if wkb is not None else None
                if geometry is not None and transformer is not None:
                    geometry = shapely.transform(geometry, _reprojector(transformer))
                yield SourceRecord(skip + index + 1, fields, geometry)
            if count < SPATIAL_BATCH:
                return
            skip += count


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str):
        return nfc(value)
    return value


def _reprojector(transformer: Any) -> Any:
    def reproject(coordinates: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = transformer.transform(coordinates[:, 0], coordinates[:, 1])
        return np.column_stack([lon, lat])

    return reproject


def open_source(path: Path, *, encoding: str | None = None, crs: str | None = None) -> Source:
    """Open an export: detect its format, text encoding and coordinate system."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES | JSONL_SUFFIXES:
        with path.open("rb") as handle:
            decoder = detect(handle.read(DETECTION_SAMPLE_BYTES), encoding)
        kind = "csv" if suffix in CSV_SUFFIXES else "jsonl"
        return Source(path, kind, encoding=decoder.encoding, _decoder=decoder)
    if suffix in SPATIAL_SUFFIXES:
        try:
            info = pyogrio.read_info(str(path))
        except Exception as error:  # GDAL raises its own hierarchy
            raise SourceError(f"{path.name}: not a readable spatial file: {error}") from error
        declared = info["crs"]
        source_crs = (
            parse_crs(crs) if crs else (CRS.from_user_input(declared) if declared else None)
        )
        if source_crs is None:
            raise SourceError(f"{path.name} declares no coordinate system: pass --crs")
        needs_transform = not source_crs.equals(WGS84, ignore_axis_order=True)
        return Source(
            path,
            "spatial",
            encoding=info.get("encoding"),
            crs=source_crs.to_string(),
            _crs=source_crs if needs_transform else None,
        )
    raise SourceError(
        f"{path.name}: unknown format {suffix!r}; expected CSV, JSON lines, GeoJSON, "
        "ESRI Shapefile or GeoPackage"
    )
