"""Land registry queries and registration (async). Every batch read is one SQL statement."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import shapely
from geoalchemy2.shape import from_shape, to_shape
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from registries.history import fetch_by_keys, fetch_children, versions_at
from registries.identifiers import PARCEL_ID_LENGTH
from registries.parcels.models import AREA_TOLERANCE, Parcel, ParcelRestriction, ParcelRight

AsOf = date | datetime | None
SRID = 4326
GEOD = Geod(ellps="WGS84")


class GeometryError(ValueError):
    """Input geometry the registry cannot use: `code` is stable, str() is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_lon_lat(lon: float, lat: float) -> Point:
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise GeometryError(
            "COORDINATES_OUT_OF_RANGE",
            f"longitude must be in [-180, 180] and latitude in [-90, 90], got ({lon}, {lat})",
        )
    return Point(lon, lat)


def parse_polygon(geojson: str | dict[str, Any]) -> MultiPolygon:
    """A valid (Multi)Polygon in WGS 84 from GeoJSON text or object, as a MultiPolygon."""
    try:
        document = json.loads(geojson) if isinstance(geojson, str) else geojson
        geometry = shape(document)
    except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.GEOSException) as error:
        raise GeometryError("GEOMETRY_MALFORMED", f"not a GeoJSON geometry: {error}") from error
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry])
    if not isinstance(geometry, MultiPolygon) or geometry.is_empty:
        raise GeometryError("GEOMETRY_TYPE", "expected a non-empty Polygon or MultiPolygon")
    if not geometry.is_valid:
        raise GeometryError(
            "GEOMETRY_INVALID", f"invalid polygon: {shapely.is_valid_reason(geometry)}"
        )
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    check_lon_lat(min_lon, min_lat)
    check_lon_lat(max_lon, max_lat)
    return geometry


def geodesic_area(polygon: BaseGeometry) -> float:
    """Area in m² on the WGS 84 ellipsoid (what PostGIS's ST_Area(geography) computes)."""
    area, _ = GEOD.geometry_area_perimeter(polygon)
    return abs(float(area))


def check_declared_area(polygon: BaseGeometry, declared_area: Decimal) -> None:
    """The registry's rule (mirrored by a database constraint): the declared area may differ
    from the surveyed polygon's by AREA_TOLERANCE, or 1 m² for tiny parcels."""
    measured = geodesic_area(polygon)
    if abs(float(declared_area) - measured) > max(1.0, AREA_TOLERANCE * measured):
        raise GeometryError(
            "AREA_MISMATCH",
            f"declared area {declared_area} m² differs from the surveyed {measured:.1f} m² "
            f"by more than {AREA_TOLERANCE:.0%}",
        )


def parcel_geometry(parcel: Parcel) -> BaseGeometry:
    return to_shape(parcel.geom)


def parcel_geojson(parcel: Parcel) -> dict[str, Any]:
    return dict(mapping(parcel_geometry(parcel)))


async def get_parcels(
    *, session: AsyncSession, parcel_ids: Sequence[str], as_of: AsOf = None
) -> list[Parcel | None]:
    return await fetch_by_keys(
        session=session, model=Parcel, key=Parcel.parcel_id, keys=parcel_ids, as_of=as_of
    )


async def parcel_ids_by_key(*, session: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    """The national parcel ID of each cadastral key `commune/map sheet/parcel number` (how a
    load names a parcel: etl/targets.py), from its latest version, current or not; a key no
    version has is left out."""
    wanted = {
        tuple(int(part) for part in parts)
        for parts in (key.split("/") for key in keys)
        if len(parts) == 3 and all(part.isdigit() and len(part) <= 9 for part in parts)
    }
    if not wanted:
        return {}
    rows = await session.execute(
        select(Parcel.commune_code, Parcel.map_sheet, Parcel.parcel_number, Parcel.parcel_id)
        .where(tuple_(Parcel.commune_code, Parcel.map_sheet, Parcel.parcel_number).in_(wanted))
        .order_by(Parcel.valid_from, Parcel.version_id)  # the latest version last: it wins
    )
    return {f"{commune}/{sheet}/{number}": parcel_id for commune, sheet, number, parcel_id in rows}


async def parcels_at(
    *, session: AsyncSession, lon: float, lat: float, as_of: AsOf = None
) -> list[Parcel]:
    """Parcels containing or touching the point (a boundary point belongs to both sides)."""
    point = from_shape(check_lon_lat(lon, lat), srid=SRID)
    rows = await session.execute(
        select(Parcel)
        .where(func.ST_Intersects(Parcel.geom, point), versions_at(Parcel, as_of))
        .order_by(Parcel.parcel_id)
    )
    return list(rows.scalars())


async def parcels_intersecting(
    *, session: AsyncSession, polygon: MultiPolygon, as_of: AsOf = None
) -> list[Parcel]:
    """Parcels whose interior overlaps the polygon (touching along an edge does not count)."""
    area = from_shape(polygon, srid=SRID)
    rows = await session.execute(
        select(Parcel)
        .where(
            func.ST_Intersects(Parcel.geom, area),
            ~func.ST_Touches(Parcel.geom, area),
            versions_at(Parcel, as_of),
        )
        .order_by(Parcel.parcel_id)
    )
    return list(rows.scalars())


async def rights_of(
    *, session: AsyncSession, parcel_ids: Sequence[str], as_of: AsOf = None
) -> dict[str, list[ParcelRight]]:
    return await fetch_children(
        session=session,
        model=ParcelRight,
        parent_key=ParcelRight.parcel_id,
        parent_keys=parcel_ids,
        order_by=(ParcelRight.share_percent.desc(), ParcelRight.holder_id),
        as_of=as_of,
    )


async def restrictions_of(
    *, session: AsyncSession, parcel_ids: Sequence[str], as_of: AsOf = None
) -> dict[str, list[ParcelRestriction]]:
    return await fetch_children(
        session=session,
        model=ParcelRestriction,
        parent_key=ParcelRestriction.parcel_id,
        parent_keys=parcel_ids,
        order_by=(ParcelRestriction.registered_on,),
        as_of=as_of,
    )


async def parcels_held_by(
    *,
    session: AsyncSession,
    holder_kind: str,
    holder_ids: Sequence[str],
    as_of: AsOf = None,
) -> dict[str, list[tuple[Parcel, ParcelRight]]]:
    """For each resident (or enterprise), the parcels they hold a right on, with the right."""
    found: dict[str, list[tuple[Parcel, ParcelRight]]] = defaultdict(list)
    if not holder_ids:
        return found
    rows = await session.execute(
        select(Parcel, ParcelRight)
        .join(ParcelRight, ParcelRight.parcel_id == Parcel.parcel_id)
        .where(
            ParcelRight.holder_kind == holder_kind,
            ParcelRight.holder_id.in_(set(holder_ids)),
            versions_at(ParcelRight, as_of),
            versions_at(Parcel, as_of),
        )
        .order_by(ParcelRight.holder_id, Parcel.parcel_id)
    )
    for parcel, right in rows:
        found[right.holder_id].append((parcel, right))
    return found


async def national_parcel_id(*, session: AsyncSession, polygon: MultiPolygon) -> str:
    """The national parcel ID: GeoHash (12) of a point inside the parcel, computed by PostGIS."""
    geometry = from_shape(polygon, srid=SRID)
    return str(
        (
            await session.execute(
                select(func.ST_GeoHash(func.ST_PointOnSurface(geometry), PARCEL_ID_LENGTH))
            )
        ).scalar_one()
    )


async def register_parcel(
    *,
    session: AsyncSession,
    polygon: MultiPolygon,
    commune_code: int,
    map_sheet: int,
    parcel_number: int,
    declared_area: Decimal,
    land_use_code: str,
    address_line: str | None = None,
) -> Parcel:
    """Register a new parcel; its national ID is derived from the geometry, once."""
    parcel = Parcel(
        parcel_id=await national_parcel_id(session=session, polygon=polygon),
        commune_code=commune_code,
        map_sheet=map_sheet,
        parcel_number=parcel_number,
        geom=from_shape(polygon, srid=SRID),
        declared_area=declared_area,
        land_use_code=land_use_code,
        address_line=address_line,
    )
    session.add(parcel)
    await session.flush()
    return parcel
