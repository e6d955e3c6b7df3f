"""Family links on load: every contradiction rejected with its own reason, against the file and
against the registry, either way round; a link to a person not yet loaded flagged, then
resolved when that person's province loads; card numbers checked."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from etl.pipeline import load
from lienthong.settings import Settings
from registries.identifiers import Sex
from tests.functional.loads import empty, person, query, resident, write


@pytest.fixture
def clean(settings: Settings) -> Iterator[Settings]:
    yield settings
    empty(settings)


def _rejects(path: Path) -> dict[str, tuple[str, str]]:
    """personal ID → (reason, message) of each rejected row."""
    found = {}
    with open(f"{path}.rejects.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = json.loads(row["source_row"])["personal_id"]
            found[key] = (row["reason_code"], row["message"])
    return found


def test_each_contradiction_in_a_file_is_rejected_with_its_own_reason(
    clean: Settings, tmp_path: Path
) -> None:
    father, mother = person(date(1960, 4, 1)), person(date(1962, 8, 9), Sex.FEMALE)
    child = person(date(1990, 1, 1))
    self_linked = person(date(1980, 1, 1))
    female_father = person(date(1985, 1, 1))
    young_by_id = person(date(1990, 1, 1))
    young_by_date, same_year_mother = person(date(1990, 1, 1)), person(date(1990, 6, 1), Sex.FEMALE)
    bigamist, taken, taker = (
        person(date(1970, 1, 1)),
        person(date(1971, 1, 1), Sex.FEMALE),
        person(date(1972, 1, 1)),
    )
    rows = [
        # a family that agrees with itself
        resident(father, date(1960, 4, 1), spouse_id=mother, marital_status="married"),
        resident(mother, date(1962, 8, 9), Sex.FEMALE, spouse_id=father, marital_status="married"),
        resident(child, date(1990, 1, 1), father_id=father, mother_id=mother),
        # what a row says of itself
        resident(self_linked, date(1980, 1, 1), spouse_id=self_linked),
        resident(female_father, date(1985, 1, 1), father_id=mother),
        resident(young_by_id, date(1990, 1, 1), father_id=person(date(1995, 1, 1))),
        # what needs the relative's row
        resident(young_by_date, date(1990, 1, 1), mother_id=same_year_mother),
        resident(same_year_mother, date(1990, 6, 1), Sex.FEMALE),
        resident(bigamist, date(1970, 1, 1), spouse_id=taken),
        resident(taken, date(1971, 1, 1), Sex.FEMALE, spouse_id=taker),
        resident(taker, date(1972, 1, 1), spouse_id=taken),
    ]
    path = write(tmp_path / "residents.csv", rows)
    report = load(settings=clean, target="residents", path=path)
    assert report.balanced
    assert report.rejected_by_reason == Counter(
        {"FAMILY_SELF_LINK": 1, "FAMILY_PARENT_SEX": 1, "FAMILY_PARENT_YOUNGER": 2,
         "FAMILY_SPOUSE_MISMATCH": 1}
    )  # fmt: skip
    rejected = _rejects(path)
    assert {key: code for key, (code, _) in rejected.items()} == {
        self_linked: "FAMILY_SELF_LINK",
        female_father: "FAMILY_PARENT_SEX",
        young_by_id: "FAMILY_PARENT_YOUNGER",
        young_by_date: "FAMILY_PARENT_YOUNGER",
        bigamist: "FAMILY_SPOUSE_MISMATCH",
    }
    assert rejected[young_by_date][1] == (
        f"mother_id {same_year_mother}: the mother was born on 1990-06-01, not before the "
        "resident (1990-01-01)"
    )
    assert rejected[bigamist][1] == f"spouse_id {taken}: that resident's spouse is {taker}"
    assert "digit 4 says female; a father is male" in rejected[female_father][1]
    loaded = {key for (key,) in query(clean, "SELECT personal_id FROM residents")}
    assert loaded == {father, mother, child, same_year_mother, taken, taker}
    stored = query(clean, "SELECT rejected_by_reason FROM etl_runs")
    assert stored == [(dict(report.rejected_by_reason),)]


def test_contradictions_with_the_registry_are_rejected_either_way(
    clean: Settings, tmp_path: Path
) -> None:
    """A later load is checked against what the registry holds: a row naming a married
    resident as spouse, a married resident's row naming another, and a parent arriving after
    their child was loaded who is not older than the child. Rejecting one row can change what
    another row's check reads: the checks run again."""
    husband, wife = person(date(1980, 1, 1)), person(date(1981, 1, 1), Sex.FEMALE)
    child, late_father = person(date(1970, 3, 1)), person(date(1970, 9, 1))
    first = [
        resident(husband, date(1980, 1, 1), spouse_id=wife),
        resident(wife, date(1981, 1, 1), Sex.FEMALE, spouse_id=husband),
        resident(child, date(1970, 3, 1), father_id=late_father),  # unresolved for now
    ]
    load(settings=clean, target="residents", path=write(tmp_path / "first.csv", first))
    other = person(date(1983, 1, 1), Sex.FEMALE)
    second = [
        # the husband, again, now naming another woman: his wife still names him
        resident(husband, date(1980, 1, 1), spouse_id=other),
        # who names him back: consistent with his staged row, not with his record once that
        # row is rejected
        resident(other, date(1983, 1, 1), Sex.FEMALE, spouse_id=husband),
        # the child's father, born the same year, months after the child
        resident(late_father, date(1970, 9, 1)),
    ]
    path = write(tmp_path / "second.csv", second)
    report = load(settings=clean, target="residents", path=path)
    assert report.balanced
    rejected = _rejects(path)
    assert {key: code for key, (code, _) in rejected.items()} == {
        husband: "FAMILY_SPOUSE_MISMATCH",
        other: "FAMILY_SPOUSE_MISMATCH",
        late_father: "FAMILY_PARENT_YOUNGER",
    }
    assert rejected[husband][1] == (
        f"resident {wife} names this resident as spouse; spouse_id is {other}"
    )
    assert rejected[other][1] == f"spouse_id {husband}: that resident's spouse is {wife}"
    assert rejected[late_father][1] == (
        f"resident {child} (born 1970-03-01) names this resident as father, born on "
        "1970-09-01: not before them"
    )
    assert query(clean, "SELECT spouse_id FROM residents WHERE personal_id = %s", husband) == [
        (wife,)
    ]


def test_an_unresolved_link_is_flagged_then_resolved_when_its_person_loads(
    clean: Settings, tmp_path: Path
) -> None:
    """Provinces load in any order: a child whose parents another province registers loads
    with its links flagged; the parents' load resolves them, with nothing to rewrite."""
    father, mother = person(date(1955, 1, 1)), person(date(1957, 1, 1), Sex.FEMALE)
    child = person(date(1985, 5, 5))
    children = [resident(child, date(1985, 5, 5), father_id=father, mother_id=mother)]
    first = load(settings=clean, target="residents", path=write(tmp_path / "a.csv", children))
    assert (first.inserted, first.rejected) == (1, 0)
    assert first.warned_by_reason == Counter({"FAMILY_LINK_UNRESOLVED": 1})
    assert first.resolved_links == 0
    view = "SELECT personal_id, link, target_id FROM unresolved_family_links ORDER BY link"
    assert query(clean, view) == [(child, "father", father), (child, "mother", mother)]
    parents = [
        resident(father, date(1955, 1, 1), spouse_id=mother, permanent_commune_code=4),
        resident(mother, date(1957, 1, 1), Sex.FEMALE, spouse_id=father,
                 permanent_commune_code=4),
    ]  # fmt: skip
    second = load(settings=clean, target="residents", path=write(tmp_path / "b.csv", parents))
    assert (second.inserted, second.rejected) == (2, 0)
    assert second.warned_by_reason == Counter()
    assert second.resolved_links == 2
    assert query(clean, view) == []
    runs = query(clean, "SELECT warned_by_reason, resolved_links FROM etl_runs ORDER BY run_id")
    assert runs == [({"FAMILY_LINK_UNRESOLVED": 1}, 0), ({}, 2)]
    # the child's record was not touched: resolving a link opens no version
    assert query(clean, "SELECT count(*) FROM residents WHERE personal_id = %s", child) == [(1,)]


def test_card_numbers_load_compact_or_are_rejected(clean: Settings, tmp_path: Path) -> None:
    ids = [person(date(1980, 1, 1)) for _ in range(4)]
    rows = [
        resident(ids[0], date(1980, 1, 1), id_card_number="201 234 567"),
        resident(ids[1], date(1980, 1, 1), id_card_number=ids[1]),
        resident(ids[2], date(1980, 1, 1), id_card_number="12345"),
        resident(ids[3], date(1980, 1, 1), id_card_number="999123456789"),
    ]
    path = write(tmp_path / "cards.csv", rows)
    report = load(settings=clean, target="residents", path=path)
    assert report.rejected_by_reason == Counter({"ID_CARD_NUMBER_INVALID": 2})
    rejected = _rejects(path)
    assert "a 9-digit CMND or a 12-digit card number" in rejected[ids[2]][1]
    assert "digits 1–3 (999)" in rejected[ids[3]][1]
    stored = query(clean, "SELECT id_card_number FROM residents ORDER BY 1")
    assert stored == [(ids[1],), ("201234567",)]
