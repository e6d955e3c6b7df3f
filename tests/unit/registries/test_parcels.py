"""Parcels on PostGIS: national IDs, validity, areas, point and polygon look-ups, rights."""

from __future__ import annotations

from decimal import Decimal

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon, box
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registries.parcels.models import Parcel
from registries.parcels.service import (
    GeometryError,
    check_lon_lat,
    get_parcels,
    parcel_geojson,
    parcels_at,
    parcels_held_by,
    parcels_intersecting,
    parse_polygon,
    rights_of,
)
from tests.factories import (
    DA_NANG_LAT,
    DA_NANG_LON,
    SQUARE_DEG_LAT,
    SQUARE_DEG_LON,
    make_enterprise,
    make_parcel,
    make_resident,
    make_right,
    square,
)

WEST = square(DA_NANG_LON, DA_NANG_LAT)
EAST = square(DA_NANG_LON + SQUARE_DEG_LON, DA_NANG_LAT)  # shares WEST's east edge
FAR = square(DA_NANG_LON + 0.01, DA_NANG_LAT + 0.01)


async def test_national_parcel_id_is_the_geohash_of_a_point_inside(session: AsyncSession) -> None:
    parcel = await make_parcel(session, polygon=WEST)
    assert len(parcel.parcel_id) == 12
    assert parcel.parcel_id.startswith("w6ugq")  # GeoHash cell of central Đà Nẵng
    geojson = parcel_geojson(parcel)
    assert geojson["type"] == "MultiPolygon"


async def test_point_lookup_inside_outside_and_on_a_shared_edge(session: AsyncSession) -> None:
    west = await make_parcel(session, polygon=WEST)
    east = await make_parcel(session, polygon=EAST)
    await make_parcel(session, polygon=FAR)
    mid_lat = DA_NANG_LAT + SQUARE_DEG_LAT / 2
    inside_west = await parcels_at(
        session=session, lon=DA_NANG_LON + SQUARE_DEG_LON / 4, lat=mid_lat
    )
    assert [p.parcel_id for p in inside_west] == [west.parcel_id]
    on_edge = await parcels_at(session=session, lon=DA_NANG_LON + SQUARE_DEG_LON, lat=mid_lat)
    assert {p.parcel_id for p in on_edge} == {west.parcel_id, east.parcel_id}
    assert await parcels_at(session=session, lon=DA_NANG_LON - 0.001, lat=mid_lat) == []


async def test_polygon_lookup_counts_overlap_not_touching(session: AsyncSession) -> None:
    west = await make_parcel(session, polygon=WEST)
    east = await make_parcel(session, polygon=EAST)
    await make_parcel(session, polygon=FAR)
    over_west = MultiPolygon(
        [
            box(
                DA_NANG_LON - 0.0001,
                DA_NANG_LAT,
                DA_NANG_LON + SQUARE_DEG_LON / 2,
                DA_NANG_LAT + SQUARE_DEG_LAT,
            )
        ]
    )
    assert [
        p.parcel_id for p in await parcels_intersecting(session=session, polygon=over_west)
    ] == [west.parcel_id]
    across = MultiPolygon(
        [box(DA_NANG_LON, DA_NANG_LAT, DA_NANG_LON + 0.0003, DA_NANG_LAT + 0.0001)]
    )
    found = await parcels_intersecting(session=session, polygon=across)
    assert {p.parcel_id for p in found} == {west.parcel_id, east.parcel_id}
    assert await parcels_intersecting(session=session, polygon=EAST) == [east]


async def test_batch_fetch_keeps_order_with_absent_ids(session: AsyncSession) -> None:
    west = await make_parcel(session, polygon=WEST)
    far = await make_parcel(session, polygon=FAR)
    found = await get_parcels(
        session=session, parcel_ids=[far.parcel_id, "s000000000000"[:12], west.parcel_id]
    )
    assert [p.parcel_id if p else None for p in found] == [far.parcel_id, None, west.parcel_id]


async def test_rights_and_holders(session: AsyncSession) -> None:
    owner = await make_resident(session)
    company = await make_enterprise(session)
    parcel = await make_parcel(session, polygon=WEST)
    other = await make_parcel(session, polygon=FAR)
    await make_right(session, parcel=parcel, holder_id=owner.personal_id)
    await make_right(
        session, parcel=other, holder_id=company.enterprise_code, holder_kind="enterprise"
    )
    rights = await rights_of(session=session, parcel_ids=[parcel.parcel_id, other.parcel_id])
    assert [r.holder_id for r in rights[parcel.parcel_id]] == [owner.personal_id]
    assert [r.holder_kind for r in rights[other.parcel_id]] == ["enterprise"]
    held = await parcels_held_by(
        session=session, holder_kind="resident", holder_ids=[owner.personal_id]
    )
    assert [(p.parcel_id, r.certificate_number) for p, r in held[owner.personal_id]] == [
        (parcel.parcel_id, "CS 01234")
    ]


async def test_a_self_intersecting_polygon_is_refused_by_the_database(
    session: AsyncSession,
) -> None:
    bowtie = Polygon(
        [
            (DA_NANG_LON, DA_NANG_LAT),
            (DA_NANG_LON + 0.0002, DA_NANG_LAT + 0.0002),
            (DA_NANG_LON + 0.0002, DA_NANG_LAT),
            (DA_NANG_LON, DA_NANG_LAT + 0.0002),
            (DA_NANG_LON, DA_NANG_LAT),
        ]
    )
    session.add(
        Parcel(
            parcel_id="w6ugq0000000",
            commune_code=20242,
            map_sheet=1,
            parcel_number=1,
            geom=from_shape(MultiPolygon([bowtie]), srid=4326),
            declared_area=Decimal(200),
            land_use_code="ODT",
        )
    )
    with pytest.raises(IntegrityError, match="geom_valid"):
        await session.flush()


async def test_declared_area_far_from_the_geodesic_area_is_refused(session: AsyncSession) -> None:
    with pytest.raises(IntegrityError, match="declared_area_matches_geometry"):
        await make_parcel(session, polygon=WEST, declared_area=Decimal("500.00"))


async def test_two_open_parcels_with_one_sheet_and_number_are_refused(
    session: AsyncSession,
) -> None:
    await make_parcel(session, polygon=WEST, map_sheet=3, parcel_number=77)
    with pytest.raises(IntegrityError, match="uq_parcels_open_sheet_number"):
        await make_parcel(session, polygon=FAR, map_sheet=3, parcel_number=77)


@pytest.mark.parametrize(
    ("geojson", "code"),
    [
        ("{not json", "GEOMETRY_MALFORMED"),
        ('{"type": "Point", "coordinates": [108.2, 16.0]}', "GEOMETRY_TYPE"),
        (
            '{"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}',
            "GEOMETRY_INVALID",
        ),
        (
            '{"type": "Polygon", "coordinates": [[[200,0],[201,0],[201,1],[200,0]]]}',
            "COORDINATES_OUT_OF_RANGE",
        ),
        ('{"type": "Polygon"}', "GEOMETRY_MALFORMED"),
    ],
)
def test_bad_polygons_are_refused_with_a_reason(geojson: str, code: str) -> None:
    with pytest.raises(GeometryError) as raised:
        parse_polygon(geojson)
    assert raised.value.code == code


def test_a_valid_polygon_becomes_a_multipolygon() -> None:
    parsed = parse_polygon(
        {
            "type": "Polygon",
            "coordinates": [[[108, 16], [108.001, 16], [108.001, 16.001], [108, 16]]],
        }
    )
    assert isinstance(parsed, MultiPolygon)


def test_coordinates_out_of_range() -> None:
    with pytest.raises(GeometryError, match="longitude must be in"):
        check_lon_lat(181, 0)
