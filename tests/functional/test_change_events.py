"""Change events written by registry changes in their own transaction (registries.events): what
a changed export records, exactly; nothing for a first fill, an unchanged reload, a new subject
or a load rolled back; household moves, bulk merges, full-export closures, enterprises and
parcels; and the application role may only append."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from etl import pipeline
from etl.pipeline import FullExport, load
from etl.rollback import rollback
from lienthong.settings import Settings
from registries.events import EVENT_TYPES, SUBJECTS, Outbox
from registries.merge import MergeCounts
from tests.functional.loads import REGISTRY_TABLES, person, query, resident, write

EVENT = (
    "SELECT type, subject_type, subject_id, fields, old_version_id, new_version_id, "
    "subject_sequence, effective_at, source FROM change_events "
)
Event = tuple[str, str, str, list[str], int | None, int | None, int, datetime, str]
BORN = date(1980, 1, 1)


@pytest.fixture
def clean(settings: Settings) -> Iterator[Settings]:
    """The ETL commits on its own connections: every test starts and ends with empty
    registries and no events (other modules' loads record theirs in the same database)."""
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY_TABLES}, change_events")
    yield settings
    with psycopg.connect(settings.libpq_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {REGISTRY_TABLES}, change_events")


def _events(settings: Settings, where: str = "", *params: object) -> list[Event]:
    rows = query(settings, EVENT + where + " ORDER BY type, subject_id", *params)
    return [cast(Event, tuple(row)) for row in rows]


def _version(settings: Settings, table: str, key: str, value: str, *, current: bool) -> int:
    state = "valid_to IS NULL" if current else "valid_to IS NOT NULL"
    rows = query(
        settings,
        f"SELECT version_id FROM {table} WHERE {key} = %s AND {state} "  # noqa: S608
        "ORDER BY valid_from DESC LIMIT 1",
        value,
    )
    assert rows, (table, value)
    return int(rows[0][0])


def _merged_at(settings: Settings, run_id: int) -> datetime:
    (at,) = query(settings, "SELECT merged_at FROM etl_runs WHERE run_id = %s", run_id)[0]
    assert isinstance(at, datetime)
    return at


def _household(head: str) -> str:
    return f"48{head[2:]}"


def _family(count: int) -> list[dict[str, str]]:
    """`count` heads, each of their own household in Hải Châu."""
    rows = []
    for n in range(count):
        pid = person(BORN)
        rows.append(resident(pid, BORN, household_id=_household(pid), relationship_to_head="head",
                             full_name=f"Nguyễn Văn {n}"))  # fmt: skip
    return rows


def test_a_changed_resident_export_records_exactly_its_events(
    clean: Settings, tmp_path: Path
) -> None:
    heads = _family(6)
    moves, renamed, dies, corrected = (heads[n]["personal_id"] for n in range(4))
    first = load(settings=clean, target="residents", path=write(tmp_path / "a.csv", heads))
    assert first.inserted == 6
    assert _events(clean) == []  # the registry's first fill
    again = load(settings=clean, target="residents", path=write(tmp_path / "b.csv", heads))
    assert again.changed_nothing
    assert _events(clean) == []  # nothing changed
    changed = [dict(row) for row in heads]
    changed[0]["permanent_address_line"] = "Số 1 đường Bạch Đằng"  # a move
    changed[1]["full_name"] = "Nguyễn Văn Bình"
    changed[2].update(deceased="true", deceased_on="2026-11-30")
    changed[3]["birth_date"] = "1980-01-02"  # a correction no event type announces
    newborn = person(date(2026, 11, 1))
    changed.append(resident(newborn, date(2026, 11, 1)))  # a new subject
    report = load(settings=clean, target="residents", path=write(tmp_path / "c.csv", changed),
                  accept_changes=True)  # fmt: skip
    assert (report.inserted, report.updated, report.unchanged) == (1, 4, 2)
    at, source = _merged_at(clean, report.run_id), f"etl:{report.run_id}"

    def versions(pid: str) -> tuple[int, int]:
        return (
            _version(clean, "residents", "personal_id", pid, current=False),
            _version(clean, "residents", "personal_id", pid, current=True),
        )

    died = datetime(2026, 11, 29, 17, tzinfo=UTC)  # 30 November, midnight in Vietnam
    assert _events(clean) == [
        ("resident.address_changed", "Resident", moves, ["permanentAddress"], *versions(moves),
         2, at, source),
        ("resident.deceased", "Resident", dies, ["deceased", "deceasedOn"], *versions(dies), 2,
         died, source),
        ("resident.name_changed", "Resident", renamed, ["fullName"], *versions(renamed), 2, at,
         source),
    ]  # fmt: skip
    assert corrected not in {event[2] for event in _events(clean)}
    # a second change of the same resident carries the next sequence
    changed[0]["permanent_address_line"] = "Số 2 đường Bạch Đằng"
    later = load(settings=clean, target="residents", path=write(tmp_path / "d.csv", changed))
    assert _events(clean, "WHERE source = %s", f"etl:{later.run_id}") == [
        ("resident.address_changed", "Resident", moves, ["permanentAddress"], *versions(moves),
         3, _merged_at(clean, later.run_id), f"etl:{later.run_id}"),
    ]  # fmt: skip


def test_household_moves_record_a_member_leaving_one_and_joining_the_other(
    clean: Settings, tmp_path: Path
) -> None:
    heads = _family(3)
    left, joined, still = (_household(row["personal_id"]) for row in heads)
    mover, baby, stays = person(BORN), person(date(2026, 10, 1)), person(BORN)
    rows = [*heads, resident(mover, BORN, household_id=left, relationship_to_head="child"),
            resident(stays, BORN, household_id=still, relationship_to_head="child")]  # fmt: skip
    load(settings=clean, target="residents", path=write(tmp_path / "a.csv", rows))
    rows[3]["household_id"] = joined  # moves from `left` to `joined`
    rows.append(  # born into `joined` in the same load: one event for the household
        resident(baby, date(2026, 10, 1), household_id=joined, relationship_to_head="child")
    )
    report = load(settings=clean, target="residents", path=write(tmp_path / "b.csv", rows))
    at, source = _merged_at(clean, report.run_id), f"etl:{report.run_id}"
    current = {h: _version(clean, "households", "household_id", h, current=True)
               for h in (left, joined)}  # fmt: skip
    assert _events(clean) == [
        ("household.member_added", "Household", joined, ["members"], current[joined],
         current[joined], 2, at, source),
        ("household.member_removed", "Household", left, ["members"], current[left],
         current[left], 2, at, source),
    ]  # fmt: skip


def test_a_load_rolled_back_or_dry_leaves_no_events(
    clean: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads = _family(4)
    load(settings=clean, target="residents", path=write(tmp_path / "a.csv", heads))
    heads[0]["full_name"] = "Trần Thị Hoa"
    path = write(tmp_path / "b.csv", heads)
    dry = load(settings=clean, target="residents", path=path, dry_run=True)
    assert dry.updated == 1
    spec = pipeline.TARGETS["residents"]
    recorded: list[int] = []

    def merge_then_fail(
        connection: psycopg.Connection[tuple[object, ...]], outbox: Outbox
    ) -> MergeCounts:
        counts = spec.merge(connection, outbox)
        recorded.append(outbox.recorded)
        connection.execute("SELECT 1 / 0")
        return counts

    monkeypatch.setitem(pipeline.TARGETS, "residents", replace(spec, merge=merge_then_fail))
    with pytest.raises(psycopg.errors.DivisionByZero):
        load(settings=clean, target="residents", path=path)
    assert recorded == [1]  # written in the load's transaction, and rolled back with it
    assert _events(clean) == []


def test_a_bulk_merge_records_its_events_under_its_own_source(
    clean: Settings, tmp_path: Path
) -> None:
    heads = _family(3)
    load(settings=clean, target="residents", path=write(tmp_path / "a.csv", heads), bulk=False)
    heads[1]["full_name"] = "Lê Văn Cường"
    more = [*heads, *_family(30)]  # far more than the registry holds
    report = load(settings=clean, target="residents", path=write(tmp_path / "b.csv", more),
                  bulk=True)  # fmt: skip
    assert report.bulk and (report.inserted, report.updated) == (30, 1)
    pid = heads[1]["personal_id"]
    assert _events(clean) == [
        ("resident.name_changed", "Resident", pid, ["fullName"],
         _version(clean, "residents", "personal_id", pid, current=False),
         _version(clean, "residents", "personal_id", pid, current=True), 2,
         _merged_at(clean, report.run_id), f"bulk:{report.run_id}"),
    ]  # fmt: skip


def test_a_full_export_records_what_it_closes_and_a_later_load_what_returns(
    clean: Settings, tmp_path: Path
) -> None:
    heads = _family(25)
    gone = heads[4]["personal_id"]
    household = _household(gone)
    load(settings=clean, target="residents", path=write(tmp_path / "a.csv", heads))
    path = write(tmp_path / "b.csv", [row for row in heads if row["personal_id"] != gone])
    report = load(settings=clean, target="residents", path=path,
                  full_export=FullExport(province=48))  # fmt: skip
    at, source = _merged_at(clean, report.run_id), f"etl:{report.run_id}"
    resident_version = _version(clean, "residents", "personal_id", gone, current=False)
    household_version = _version(clean, "households", "household_id", household, current=False)
    assert _events(clean) == [
        ("household.member_removed", "Household", household, ["members"], household_version,
         None, 2, at, source),
        ("household.removed", "Household", household, ["id"], household_version, None, 2, at,
         source),
        ("resident.removed", "Resident", gone, ["id"], resident_version, None, 2, at, source),
    ]  # fmt: skip
    # loaded again (say, by another province's export): it is back, with the next sequence
    back = load(settings=clean, target="residents", path=write(tmp_path / "c.csv", heads))
    at, source = _merged_at(clean, back.run_id), f"etl:{back.run_id}"
    assert _events(clean, "WHERE source = %s", source) == [
        ("household.restored", "Household", household, ["id"], None,
         _version(clean, "households", "household_id", household, current=True), 3, at, source),
        ("resident.restored", "Resident", gone, ["id"], None,
         _version(clean, "residents", "personal_id", gone, current=True), 3, at, source),
    ]  # fmt: skip


def test_a_rollback_records_the_change_back_and_undoing_a_first_fill_records_none(
    clean: Settings, tmp_path: Path
) -> None:
    first = load(settings=clean, target="residents", path=write(tmp_path / "a.csv", _family(3)))
    rollback(settings=clean, run_id=first.run_id)  # the registry is empty again
    assert _events(clean) == []
    heads = _family(3)
    load(settings=clean, target="residents", path=write(tmp_path / "b.csv", heads))
    assert _events(clean) == []  # a first fill again: the table had no current row
    pid, name = heads[2]["personal_id"], heads[2]["full_name"]
    heads[2]["full_name"] = "Võ Thị Sáu"
    renamed = load(settings=clean, target="residents", path=write(tmp_path / "c.csv", heads))
    assert len(_events(clean)) == 1
    undone = rollback(settings=clean, run_id=renamed.run_id)
    source = f"etl:{undone.run_id}"
    old, new = (_version(clean, "residents", "personal_id", pid, current=c) for c in (False, True))
    assert _events(clean, "WHERE source = %s", source) == [
        ("resident.name_changed", "Resident", pid, ["fullName"], old, new, 3,
         _merged_at(clean, undone.run_id), source),
    ]  # fmt: skip
    assert query(clean, "SELECT full_name FROM residents WHERE version_id = %s", new) == [(name,)]


def test_a_rollback_of_a_full_export_restores_what_it_closed(
    clean: Settings, tmp_path: Path
) -> None:
    heads = _family(25)
    load(settings=clean, target="residents", path=write(tmp_path / "a.csv", heads))
    path = write(tmp_path / "b.csv", heads[1:])
    closing = load(settings=clean, target="residents", path=path,
                   full_export=FullExport(province=48))  # fmt: skip
    assert len(_events(clean)) == 3  # removed, removed, member_removed
    undone = rollback(settings=clean, run_id=closing.run_id)
    source, pid = f"etl:{undone.run_id}", heads[0]["personal_id"]
    assert [event[:3] for event in _events(clean, "WHERE source = %s", source)] == [
        ("household.restored", "Household", _household(pid)),
        ("resident.restored", "Resident", pid),
    ]


ENTERPRISE_HEADER = (
    "enterprise_code,name,enterprise_type,status,registered_on,charter_capital,"
    "head_office_commune_code,head_office_address_line,representatives,business_lines\n"
)


def _enterprise(status: str, representative: str) -> str:
    return (
        f"0401234566,Công ty TNHH Sông Hàn,tnhh_1tv,{status},2015-06-01,5000000000,20242,"
        f"45 Bạch Đằng,{representative}:Giám đốc,62010*\n"
    )


def test_an_enterprise_s_status_and_representatives_each_record_their_event(
    clean: Settings, tmp_path: Path
) -> None:
    heads = _family(2)
    load(settings=clean, target="residents", path=write(tmp_path / "r.csv", heads))
    first, second = (row["personal_id"] for row in heads)
    path = tmp_path / "enterprises.csv"
    path.write_text(ENTERPRISE_HEADER + _enterprise("active", first), encoding="utf-8")
    load(settings=clean, target="enterprises", path=path)
    assert _events(clean, "WHERE subject_type = 'Enterprise'") == []  # first fill
    path.write_text(ENTERPRISE_HEADER + _enterprise("active", second), encoding="utf-8")
    changed = load(settings=clean, target="enterprises", path=path)
    at, source = _merged_at(clean, changed.run_id), f"etl:{changed.run_id}"
    version = _version(clean, "enterprises", "enterprise_code", "0401234566", current=True)
    assert _events(clean) == [  # the enterprise's own row did not change: one version
        ("enterprise.representative_changed", "Enterprise", "0401234566",
         ["legalRepresentatives"], version, version, 2, at, source),
    ]  # fmt: skip
    path.write_text(ENTERPRISE_HEADER + _enterprise("dissolving", first), encoding="utf-8")
    both = load(settings=clean, target="enterprises", path=path)
    at, source = _merged_at(clean, both.run_id), f"etl:{both.run_id}"
    old, new = (
        _version(clean, "enterprises", "enterprise_code", "0401234566", current=current)
        for current in (False, True)
    )
    assert _events(clean, "WHERE source = %s", source) == [
        ("enterprise.representative_changed", "Enterprise", "0401234566",
         ["legalRepresentatives"], old, new, 3, at, source),
        ("enterprise.status_changed", "Enterprise", "0401234566", ["status"], old, new, 3, at,
         source),
    ]  # fmt: skip


def _parcels(rights: str) -> dict[str, Any]:
    ring = [[108.208, 16.054], [108.2082, 16.054], [108.2082, 16.0542], [108.208, 16.0542],
            [108.208, 16.054]]  # fmt: skip
    properties = {"commune_code": 20242, "map_sheet": 1, "parcel_number": 1,
                  "declared_area": 473.2, "land_use_code": "ODT", "rights": rights}  # fmt: skip
    feature = {"type": "Feature", "properties": properties,
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
    return {"type": "FeatureCollection", "features": [feature]}


def test_a_parcel_s_changed_rights_record_one_event(clean: Settings, tmp_path: Path) -> None:
    path = tmp_path / "parcels.geojson"
    path.write_text(json.dumps(_parcels("resident:048085000123:use_right:CS1")), "utf-8")
    load(settings=clean, target="parcels", path=path)
    assert _events(clean) == []
    path.write_text(
        json.dumps(_parcels("resident:048085000123:use_right:CS2|enterprise:0401234566:"
                            "ownership:CS3")), "utf-8",
    )  # fmt: skip
    report = load(settings=clean, target="parcels", path=path)
    ((parcel, version),) = query(clean, "SELECT parcel_id, version_id FROM parcels")
    assert _events(clean) == [
        ("parcel.rights_changed", "Parcel", parcel, ["rights"], version, version, 2,
         _merged_at(clean, report.run_id), f"etl:{report.run_id}"),
    ]  # fmt: skip


def test_every_event_type_is_about_a_subject_the_outbox_can_number() -> None:
    assert {kind.subject_type for kind in EVENT_TYPES.values()} == set(SUBJECTS)
    assert EVENT_TYPES["resident.removed"].reveals == ("id",)


def test_the_application_role_may_append_events_but_never_change_them(
    clean: Settings,
) -> None:
    with psycopg.connect(clean.libpq_url, autocommit=True) as connection:
        connection.execute("SET ROLE lienthong_app")
        connection.execute(
            "INSERT INTO change_events (type, subject_type, subject_id, fields, "
            "subject_sequence, effective_at, source) VALUES ('resident.name_changed', "
            "'Resident', '048085000123', '{fullName}', 2, now(), 'steward:test')"
        )
        for statement in (
            "UPDATE change_events SET source = 'x'",
            "DELETE FROM change_events",
            "TRUNCATE change_events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)
    assert [event[-1] for event in _events(clean)] == ["steward:test"]
