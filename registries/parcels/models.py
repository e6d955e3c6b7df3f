"""Land parcels (thửa đất), their rights and restrictions, each versioned (registries.history).

The national parcel ID is the 12-character GeoHash of a point inside the parcel
(`ST_GeoHash(ST_PointOnSurface(geom), 12)`), fixed when the parcel is first registered: a later
re-survey changes the geometry, not the ID.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base
from registries.history import Versioned, history_table_args

# Declared area may differ from the surveyed polygon's geodesic area by this much (relative),
# or by 1 m² for tiny parcels: beyond that the record is inconsistent and refused.
AREA_TOLERANCE = 0.05

RIGHT_KINDS = ("ownership", "use_right")
HOLDER_KINDS = ("resident", "enterprise")
RESTRICTION_KINDS = ("mortgage", "seizure")


class Parcel(Versioned, Base):
    __tablename__ = "parcels"
    __table_args__ = (
        *history_table_args("parcels", "parcel_id"),
        CheckConstraint("parcel_id ~ '^[0-9b-hjkmnp-z]{12}$'", name="parcel_id_geohash"),
        CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        CheckConstraint("declared_area > 0", name="declared_area_positive"),
        CheckConstraint(
            # an invalid geometry has no meaningful area: geom_valid reports it instead
            f"NOT ST_IsValid(geom) OR abs(declared_area - ST_Area(geom::geography)) <= "
            f"greatest(1, {AREA_TOLERANCE} * ST_Area(geom::geography))",
            name="declared_area_matches_geometry",
        ),
        Index("ix_parcels_geom", "geom", postgresql_using="gist"),
        Index(
            "uq_parcels_open_sheet_number",
            "commune_code",
            "map_sheet",
            "parcel_number",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    parcel_id: Mapped[str] = mapped_column(String(12))
    commune_code: Mapped[int] = mapped_column(Integer, ForeignKey("communes.code"))
    map_sheet: Mapped[int] = mapped_column(Integer)
    parcel_number: Mapped[int] = mapped_column(Integer)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    declared_area: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    land_use_code: Mapped[str] = mapped_column(String(3), ForeignKey("land_use_categories.code"))
    address_line: Mapped[str | None] = mapped_column(Text)


class ParcelRight(Versioned, Base):
    """Quyền sở hữu / quyền sử dụng đất held by a resident or an enterprise."""

    __tablename__ = "parcel_rights"
    __table_args__ = (
        *history_table_args("parcel_rights", "parcel_id", "holder_kind", "holder_id", "kind"),
        CheckConstraint(f"kind IN {RIGHT_KINDS}", name="kind"),
        CheckConstraint(f"holder_kind IN {HOLDER_KINDS}", name="holder_kind"),
        CheckConstraint("share_percent > 0 AND share_percent <= 100", name="share_percent"),
        Index("ix_parcel_rights_holder", "holder_kind", "holder_id"),
    )

    parcel_id: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(Text)
    holder_kind: Mapped[str] = mapped_column(Text)
    holder_id: Mapped[str] = mapped_column(String(13))
    certificate_number: Mapped[str | None] = mapped_column(Text)
    share_percent: Mapped[Decimal] = mapped_column(Numeric(7, 4), default=Decimal(100))
    since: Mapped[date | None] = mapped_column(Date)


class ParcelRestriction(Versioned, Base):
    """Thế chấp (mortgage, held by a lender) or kê biên (seizure, by an authority)."""

    __tablename__ = "parcel_restrictions"
    __table_args__ = (
        *history_table_args("parcel_restrictions", "parcel_id", "kind", "holder"),
        CheckConstraint(f"kind IN {RESTRICTION_KINDS}", name="kind"),
    )

    parcel_id: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(Text)
    holder: Mapped[str] = mapped_column(Text)
    registered_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(Text)
