"""Registries: reference data, residents, households, enterprises, parcels (versioned).

Revision ID: 0002_registries
Revises: 0001_foundation
Create Date: 2026-11-22 16:13:03.519389
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from registries.reference.seed import seed_reference_data

revision: str = "0002_registries"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "business_lines",
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("section", sa.String(length=1), nullable=False),
        sa.Column("edition", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_business_lines")),
    )
    op.create_table(
        "enterprise_owners",
        sa.Column("enterprise_code", sa.String(length=13), nullable=False),
        sa.Column("owner_kind", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.String(length=13), nullable=False),
        sa.Column("share_percent", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("capital_contribution", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.cast(sa.column("enterprise_code"), sa.BigInteger()), "="),
            (sa.cast(sa.column("owner_id"), sa.BigInteger()), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_enterprise_owners_no_overlap",
        ),
        sa.CheckConstraint(
            "owner_kind IN ('resident', 'enterprise')", name=op.f("ck_enterprise_owners_owner_kind")
        ),
        sa.CheckConstraint(
            "share_percent > 0 AND share_percent <= 100",
            name=op.f("ck_enterprise_owners_share_percent"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_enterprise_owners_valid_period"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_enterprise_owners")),
    )
    op.create_index(
        "ix_enterprise_owners_owner_id", "enterprise_owners", ["owner_id"], unique=False
    )
    op.create_index(
        "uq_enterprise_owners_open_version",
        "enterprise_owners",
        ["enterprise_code", "owner_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "enterprise_representatives",
        sa.Column("enterprise_code", sa.String(length=13), nullable=False),
        sa.Column("personal_id", sa.String(length=12), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.cast(sa.column("enterprise_code"), sa.BigInteger()), "="),
            (sa.cast(sa.column("personal_id"), sa.BigInteger()), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_enterprise_representatives_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_enterprise_representatives_valid_period"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_enterprise_representatives")),
    )
    op.create_index(
        "uq_enterprise_representatives_open_version",
        "enterprise_representatives",
        ["enterprise_code", "personal_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "ethnic_groups",
        sa.Column("code", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ethnic_groups")),
    )
    op.create_table(
        "land_use_categories",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("land_group", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_land_use_categories")),
    )
    op.create_table(
        "parcel_restrictions",
        sa.Column("parcel_id", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("parcel_id"), "="),
            (sa.column("kind"), "="),
            (sa.column("holder"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_parcel_restrictions_no_overlap",
        ),
        sa.CheckConstraint(
            "kind IN ('mortgage', 'seizure')", name=op.f("ck_parcel_restrictions_kind")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_parcel_restrictions_valid_period"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_parcel_restrictions")),
    )
    op.create_index(
        "uq_parcel_restrictions_open_version",
        "parcel_restrictions",
        ["parcel_id", "kind", "holder"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "parcel_rights",
        sa.Column("parcel_id", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("holder_kind", sa.Text(), nullable=False),
        sa.Column("holder_id", sa.String(length=13), nullable=False),
        sa.Column("certificate_number", sa.Text(), nullable=True),
        sa.Column("share_percent", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("parcel_id"), "="),
            (sa.column("holder_kind"), "="),
            (sa.column("holder_id"), "="),
            (sa.column("kind"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_parcel_rights_no_overlap",
        ),
        sa.CheckConstraint(
            "holder_kind IN ('resident', 'enterprise')", name=op.f("ck_parcel_rights_holder_kind")
        ),
        sa.CheckConstraint(
            "kind IN ('ownership', 'use_right')", name=op.f("ck_parcel_rights_kind")
        ),
        sa.CheckConstraint(
            "share_percent > 0 AND share_percent <= 100",
            name=op.f("ck_parcel_rights_share_percent"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_parcel_rights_valid_period")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_parcel_rights")),
    )
    op.create_index(
        "ix_parcel_rights_holder", "parcel_rights", ["holder_kind", "holder_id"], unique=False
    )
    op.create_index(
        "uq_parcel_rights_open_version",
        "parcel_rights",
        ["parcel_id", "holder_kind", "holder_id", "kind"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "provinces",
        sa.Column("code", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("division_type", sa.Text(), nullable=False),
        sa.Column("codename", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_provinces")),
    )
    op.create_table(
        "communes",
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("division_type", sa.Text(), nullable=False),
        sa.Column("codename", sa.Text(), nullable=False),
        sa.Column("province_code", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["province_code"], ["provinces.code"], name=op.f("fk_communes_province_code_provinces")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_communes")),
    )
    op.create_table(
        "enterprise_business_lines",
        sa.Column("enterprise_code", sa.String(length=13), nullable=False),
        sa.Column("vsic_code", sa.String(length=5), nullable=False),
        sa.Column("is_main", sa.Boolean(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.cast(sa.column("enterprise_code"), sa.BigInteger()), "="),
            (sa.column("vsic_code"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_enterprise_business_lines_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_enterprise_business_lines_valid_period"),
        ),
        sa.ForeignKeyConstraint(
            ["vsic_code"],
            ["business_lines.code"],
            name=op.f("fk_enterprise_business_lines_vsic_code_business_lines"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_enterprise_business_lines")),
    )
    op.create_index(
        "uq_enterprise_business_lines_one_main",
        "enterprise_business_lines",
        ["enterprise_code"],
        unique=True,
        postgresql_where=sa.text("is_main AND valid_to IS NULL"),
    )
    op.create_index(
        "uq_enterprise_business_lines_open_version",
        "enterprise_business_lines",
        ["enterprise_code", "vsic_code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "enterprises",
        sa.Column("enterprise_code", sa.String(length=13), nullable=False),
        sa.Column("name", sa.Text(collation="vietnamese"), nullable=False),
        sa.Column("foreign_name", sa.Text(), nullable=True),
        sa.Column("short_name", sa.Text(), nullable=True),
        sa.Column("enterprise_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("charter_capital", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("head_office_commune_code", sa.Integer(), nullable=False),
        sa.Column("head_office_address_line", sa.Text(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.cast(sa.column("enterprise_code"), sa.BigInteger()), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_enterprises_no_overlap",
        ),
        sa.CheckConstraint(
            "enterprise_code ~ '^[0-9]{10}([0-9]{3})?$'", name=op.f("ck_enterprises_code_format")
        ),
        sa.CheckConstraint(
            "enterprise_type IN ('tnhh_1tv', 'tnhh_2tv', 'co_phan', 'tu_nhan', 'hop_danh')",
            name=op.f("ck_enterprises_enterprise_type"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'dissolving', 'dissolved', 'bankrupt')",
            name=op.f("ck_enterprises_status"),
        ),
        sa.CheckConstraint(
            "charter_capital >= 0", name=op.f("ck_enterprises_charter_capital_not_negative")
        ),
        sa.CheckConstraint("name = normalize(name, NFC)", name=op.f("ck_enterprises_name_nfc")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_enterprises_valid_period")
        ),
        sa.ForeignKeyConstraint(
            ["head_office_commune_code"],
            ["communes.code"],
            name=op.f("fk_enterprises_head_office_commune_code_communes"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_enterprises")),
    )
    op.create_index(
        "uq_enterprises_open_version",
        "enterprises",
        ["enterprise_code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "households",
        sa.Column("household_id", sa.String(length=20), nullable=False),
        sa.Column("head_id", sa.String(length=12), nullable=False),
        sa.Column("commune_code", sa.Integer(), nullable=False),
        sa.Column("address_line", sa.Text(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.cast(sa.column("household_id"), sa.BigInteger()), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_households_no_overlap",
        ),
        sa.CheckConstraint(
            "household_id ~ '^[0-9]{12}$'", name=op.f("ck_households_household_id_format")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_households_valid_period")
        ),
        sa.ForeignKeyConstraint(
            ["commune_code"], ["communes.code"], name=op.f("fk_households_commune_code_communes")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_households")),
    )
    op.create_index(
        "uq_households_open_version",
        "households",
        ["household_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "parcels",
        sa.Column("parcel_id", sa.String(length=12), nullable=False),
        sa.Column("commune_code", sa.Integer(), nullable=False),
        sa.Column("map_sheet", sa.Integer(), nullable=False),
        sa.Column("parcel_number", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("declared_area", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("land_use_code", sa.String(length=3), nullable=False),
        sa.Column("address_line", sa.Text(), nullable=True),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("parcel_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_parcels_no_overlap",
        ),
        sa.CheckConstraint(
            "parcel_id ~ '^[0-9b-hjkmnp-z]{12}$'", name=op.f("ck_parcels_parcel_id_geohash")
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_parcels_geom_valid")),
        sa.CheckConstraint(
            "NOT ST_IsValid(geom) OR abs(declared_area - ST_Area(geom::geography)) <= greatest(1, 0.05 * ST_Area(geom::geography))",
            name=op.f("ck_parcels_declared_area_matches_geometry"),
        ),
        sa.CheckConstraint("declared_area > 0", name=op.f("ck_parcels_declared_area_positive")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_parcels_valid_period")
        ),
        sa.ForeignKeyConstraint(
            ["commune_code"], ["communes.code"], name=op.f("fk_parcels_commune_code_communes")
        ),
        sa.ForeignKeyConstraint(
            ["land_use_code"],
            ["land_use_categories.code"],
            name=op.f("fk_parcels_land_use_code_land_use_categories"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_parcels")),
    )
    op.create_index("ix_parcels_geom", "parcels", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "uq_parcels_open_sheet_number",
        "parcels",
        ["commune_code", "map_sheet", "parcel_number"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index(
        "uq_parcels_open_version",
        "parcels",
        ["parcel_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "residents",
        sa.Column("personal_id", sa.String(length=12), nullable=False),
        sa.Column("full_name", sa.Text(collation="vietnamese"), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.Text(), nullable=False),
        sa.Column("ethnicity_code", sa.SmallInteger(), nullable=False),
        sa.Column("religion", sa.Text(), nullable=True),
        sa.Column("nationality", sa.String(length=2), nullable=False),
        sa.Column("place_of_birth", sa.Text(), nullable=True),
        sa.Column("hometown", sa.Text(), nullable=True),
        sa.Column("permanent_commune_code", sa.Integer(), nullable=True),
        sa.Column("permanent_address_line", sa.Text(), nullable=True),
        sa.Column("temporary_commune_code", sa.Integer(), nullable=True),
        sa.Column("temporary_address_line", sa.Text(), nullable=True),
        sa.Column("household_id", sa.String(length=20), nullable=True),
        sa.Column("relationship_to_head", sa.Text(), nullable=True),
        sa.Column("father_id", sa.String(length=12), nullable=True),
        sa.Column("mother_id", sa.String(length=12), nullable=True),
        sa.Column("spouse_id", sa.String(length=12), nullable=True),
        sa.Column("marital_status", sa.Text(), nullable=True),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("deceased_on", sa.Date(), nullable=True),
        sa.Column("id_card_number", sa.String(length=12), nullable=True),
        sa.Column("id_card_issued_on", sa.Date(), nullable=True),
        sa.Column("id_card_expires_on", sa.Date(), nullable=True),
        sa.Column("version_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.cast(sa.column("personal_id"), sa.BigInteger()), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_residents_no_overlap",
        ),
        sa.CheckConstraint(
            "marital_status IS NULL OR marital_status IN ('single', 'married', 'divorced', 'widowed')",
            name=op.f("ck_residents_marital_status"),
        ),
        sa.CheckConstraint(
            "personal_id ~ '^[0-9]{12}$'", name=op.f("ck_residents_personal_id_format")
        ),
        sa.CheckConstraint("sex IN ('male', 'female')", name=op.f("ck_residents_sex")),
        sa.CheckConstraint(
            "deceased OR deceased_on IS NULL",
            name=op.f("ck_residents_deceased_on_only_if_deceased"),
        ),
        sa.CheckConstraint(
            "full_name = normalize(full_name, NFC)", name=op.f("ck_residents_full_name_nfc")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_residents_valid_period")
        ),
        sa.ForeignKeyConstraint(
            ["ethnicity_code"],
            ["ethnic_groups.code"],
            name=op.f("fk_residents_ethnicity_code_ethnic_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["permanent_commune_code"],
            ["communes.code"],
            name=op.f("fk_residents_permanent_commune_code_communes"),
        ),
        sa.ForeignKeyConstraint(
            ["temporary_commune_code"],
            ["communes.code"],
            name=op.f("fk_residents_temporary_commune_code_communes"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_residents")),
    )
    op.create_index("ix_residents_household_id", "residents", ["household_id"], unique=False)
    op.create_index(
        "ix_enterprise_representatives_personal_id",
        "enterprise_representatives",
        ["personal_id"],
        unique=False,
    )
    op.create_index(
        "uq_residents_open_version",
        "residents",
        ["personal_id"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    seed_reference_data(op.get_bind())


def downgrade() -> None:
    op.drop_index(
        "uq_residents_open_version",
        table_name="residents",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_residents_household_id", table_name="residents")
    op.drop_index(
        "ix_enterprise_representatives_personal_id", table_name="enterprise_representatives"
    )
    op.drop_table("residents")
    op.drop_index(
        "uq_parcels_open_version",
        table_name="parcels",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index(
        "uq_parcels_open_sheet_number",
        table_name="parcels",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_parcels_geom", table_name="parcels", postgresql_using="gist")
    op.drop_table("parcels")
    op.drop_index(
        "uq_households_open_version",
        table_name="households",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("households")
    op.drop_index(
        "uq_enterprises_open_version",
        table_name="enterprises",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("enterprises")
    op.drop_index(
        "uq_enterprise_business_lines_open_version",
        table_name="enterprise_business_lines",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index(
        "uq_enterprise_business_lines_one_main",
        table_name="enterprise_business_lines",
        postgresql_where=sa.text("is_main AND valid_to IS NULL"),
    )
    op.drop_table("enterprise_business_lines")
    op.drop_table("communes")
    op.drop_table("provinces")
    op.drop_index(
        "uq_parcel_rights_open_version",
        table_name="parcel_rights",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_parcel_rights_holder", table_name="parcel_rights")
    op.drop_table("parcel_rights")
    op.drop_index(
        "uq_parcel_restrictions_open_version",
        table_name="parcel_restrictions",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("parcel_restrictions")
    op.drop_table("land_use_categories")
    op.drop_table("ethnic_groups")
    op.drop_index(
        "uq_enterprise_representatives_open_version",
        table_name="enterprise_representatives",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("enterprise_representatives")
    op.drop_index(
        "uq_enterprise_owners_open_version",
        table_name="enterprise_owners",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_index("ix_enterprise_owners_owner_id", table_name="enterprise_owners")
    op.drop_table("enterprise_owners")
    op.drop_table("business_lines")
