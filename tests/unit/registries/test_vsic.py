"""VSIC 2018 as shipped (registries/data/vsic.csv): a partial table, stated as such in
docs/loads.md ("VSIC"); every code it has validates, a five-digit code it lacks loads flagged."""

from __future__ import annotations

import csv
from collections import Counter
from importlib import resources

from etl.validation import enterprise_row
from registries.reference.service import ReferenceCodes

# Quyết định 27/2018/QĐ-TTg, Điều 1, as the statistics office states it (tdtnn2025.gso.gov.vn,
# "Bảng tra cứu Hệ thống ngành kinh tế Việt Nam"): codes per level 1..5
DECISION_COUNTS = {1: 21, 2: 88, 3: 242, 4: 486, 5: 734}


def _table() -> list[dict[str, str]]:
    with resources.files("registries").joinpath("data/vsic.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_the_table_is_partial_as_the_docs_say() -> None:
    counts = Counter(int(row["level"]) for row in _table())
    assert counts[1] == DECISION_COUNTS[1]  # every section, A to U
    assert 0 < counts[5] < DECISION_COUNTS[5]  # complete it, then make unknown codes rejects
    assert set(counts) <= set(DECISION_COUNTS)


def test_every_code_validates_and_an_unknown_one_loads_flagged() -> None:
    table = _table()
    level_5 = [row["code"] for row in table if row["level"] == "5"]
    assert all(len(code) == 5 and code.isdigit() for code in level_5)
    assert all(row["section"] == row["code"] for row in table if row["level"] == "1")
    reference = ReferenceCodes(
        commune_codes=frozenset({20242}),
        ethnic_codes={},
        vsic_codes=frozenset(row["code"] for row in table),
        land_use_codes=frozenset(),
    )
    base = {
        "enterprise_code": "0401234566",
        "name": "Công ty TNHH Sông Hàn",
        "enterprise_type": "tnhh_1tv",
        "status": "active",
        "registered_on": "2015-06-01",
        "charter_capital": "1",
        "head_office_commune_code": "20242",
        "head_office_address_line": "45 Bạch Đằng",
        "representatives": "048085000123:Giám đốc",
    }
    for code in level_5:
        row = enterprise_row({**base, "business_lines": f"{code}*"}, reference)
        assert (row["business_lines"], row["warnings"]) == (f"{code}*", ())
    unknown = next(f"{n:05d}" for n in range(10000, 99999) if f"{n:05d}" not in set(level_5))
    row = enterprise_row({**base, "business_lines": f"{level_5[0]}*|{unknown}"}, reference)
    assert (row["business_lines"], row["warnings"]) == (f"{level_5[0]}*", ("VSIC_UNCHECKED",))
