"""Source coordinate systems: WGS 84, and VN-2000 as cadastral maps use it.

The registry stores SRID 4326. Cadastral exports are in VN-2000: the national geographic system
(EPSG:4756), UTM zones 48/49 (EPSG:3405/3406), or — most often for land parcels — a provincial
Transverse Mercator with a 3° zone (k = 0.9999) whose central meridian each province has by
Thông tư 973/2001/TT-TCĐC. The datum shift to WGS 84 is the official 7-parameter one
(Quyết định 05/2007/QĐ-BTNMT). pyproj does the arithmetic.

`--crs` takes anything pyproj understands (`EPSG:3405`, a PROJ string, WKT), or
`VN2000:<province>` / `VN2000:TM3:<central meridian in degrees>` for the provincial systems.
"""

from __future__ import annotations

from functools import cache

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

WGS84 = CRS.from_epsg(4326)

# Quyết định 05/2007/QĐ-BTNMT: VN-2000 → WGS 84 (position vector convention, as PROJ's towgs84).
VN2000_TOWGS84 = (
    "-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,-0.00427372,0.252906278"
)

# Central meridians of the provincial 3° zones (Thông tư 973/2001/TT-TCĐC), for the provinces
# whose land offices the sample data and tests use. Others: `VN2000:TM3:<degrees>`.
PROVINCIAL_MERIDIANS = {
    "ha-noi": 105.0,
    "hai-phong": 105.75,
    "quang-ninh": 107.75,
    "thanh-hoa": 105.0,
    "nghe-an": 104.75,
    "hue": 107.0,
    "da-nang": 107.75,
    "quang-ngai": 108.0,
    "khanh-hoa": 108.25,
    "lam-dong": 107.75,
    "ho-chi-minh": 105.75,
    "dong-nai": 107.75,
    "can-tho": 105.0,
}


class CRSInputError(ValueError):
    """A coordinate system the ETL cannot use; the message says what it accepts."""


def vn2000_tm3(central_meridian: float) -> CRS:
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0=0 +lon_0={central_meridian} +k=0.9999 +x_0=500000 +y_0=0 "
        f"+ellps=WGS84 +towgs84={VN2000_TOWGS84} +units=m +no_defs +type=crs"
    )


@cache
def parse_crs(text: str) -> CRS:
    """The CRS named by `--crs` or by the source file."""
    name = text.strip()
    upper = name.upper()
    if upper.startswith("VN2000:TM3:"):
        try:
            return vn2000_tm3(float(name.split(":", 2)[2]))
        except ValueError as error:
            raise CRSInputError(f"{name!r}: the central meridian must be a number") from error
    if upper.startswith("VN2000:"):
        province = name.split(":", 1)[1].lower()
        if province not in PROVINCIAL_MERIDIANS:
            raise CRSInputError(
                f"unknown province {province!r} for VN-2000; known: "
                f"{', '.join(sorted(PROVINCIAL_MERIDIANS))}, or use VN2000:TM3:<meridian>"
            )
        return vn2000_tm3(PROVINCIAL_MERIDIANS[province])
    try:
        return CRS.from_user_input(name)
    except CRSError as error:
        raise CRSInputError(f"{name!r} is not a coordinate system pyproj knows") from error


@cache
def to_wgs84(source: CRS) -> Transformer:
    return Transformer.from_crs(source, WGS84, always_xy=True)


@cache
def from_wgs84(target: CRS) -> Transformer:
    return Transformer.from_crs(WGS84, target, always_xy=True)
