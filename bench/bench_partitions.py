"""Should the residents registry be partitioned by province? `python -m bench partitions
[--residents=N] [--repeat=R]` (default 1,000,000 residents) answers with EXPLAIN evidence.

On a scratch database of the embedded cluster (migrated, then dropped), N synthetic current
residents go into the real `residents` table (its constraints and indexes), and the same rows
into two declaratively partitioned copies:
  - `by_id_province`: LIST on the birth-registration province of the personal ID (its first
    three digits, 63 partitions; stored as a column because PostgreSQL 15 refuses a
    generated column or an expression as the key of a partitioned table with unique indexes);
  - `by_residence`: LIST on the province of the permanent address's commune (34 partitions).
PostgreSQL 15 has no exclusion constraint on a partitioned table, so the history's no-overlap
constraint would have to be declared on every partition: the copies carry the registry's
indexes (open version per key, household) plus one on the commune, which all three get.

Then the gateway's typical reads run on all three, warm, each `R` times, under
`EXPLAIN (ANALYZE, BUFFERS)`: a resident by personal ID, a batch of 100 by ID, the members of
20 households, and the residents of one commune and of one province. The median execution time,
the buffers touched and the partitions scanned are printed and written to
.lienthong/bench/partitions.json; docs/operations.md draws the conclusion.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import psycopg
from psycopg import sql

from bench.bench_etl import _drop, _option, _scratch_database
from lienthong.settings import Settings
from registries.identifiers import birth_registration_provinces

COPIED = (
    "version_id", "personal_id", "full_name", "birth_date", "sex", "ethnicity_code", "nationality",
    "deceased",
    "permanent_commune_code",
    "permanent_address_line", "household_id", "relationship_to_head", "valid_from", "valid_to",
)  # fmt: skip

# Synthetic current residents: the ID's province drawn from the 63 birth-registration codes,
# the permanent commune from the 3,321 communes, four members per household.
FILL = """
WITH p AS (SELECT array_agg(prefix ORDER BY prefix) AS prefixes FROM prefixes),
     c AS (SELECT array_agg(code ORDER BY code) AS codes FROM communes)
INSERT INTO residents (personal_id, full_name, birth_date, sex, ethnicity_code, nationality,
                       deceased, permanent_commune_code, permanent_address_line, household_id,
                       relationship_to_head)
SELECT p.prefixes[1 + (n * 31) %% cardinality(p.prefixes)]
         || CASE WHEN n %% 2 = 0 THEN '2' ELSE '3' END
         || lpad(((n * 7) %% 100)::text, 2, '0') || lpad((n %% 1000000)::text, 6, '0'),
       'Nguyễn Văn ' || n, date '2000-01-01' + (n %% 7000),
       CASE WHEN n %% 2 = 0 THEN 'male' ELSE 'female' END, 1, 'VN', false,
       c.codes[1 + (n * 17) %% cardinality(c.codes)], 'số ' || n,
       lpad((n / 4)::text, 12, '0'), CASE WHEN n %% 4 = 0 THEN 'head' ELSE 'child' END
FROM generate_series(1, %(n)s) AS n, p, c
"""


def _prefixes() -> list[str]:
    """The 63 birth-registration province prefixes of personal IDs (001 Hà Nội … 096 Cà Mau),
    from the registries' own table (registries/data/birth-registration-provinces.csv)."""
    return sorted(birth_registration_provinces())


def _provinces(connection: psycopg.Connection[Any]) -> list[int]:
    return [row[0] for row in connection.execute("SELECT code FROM provinces ORDER BY code")]


def _build(connection: psycopg.Connection[Any], residents: int, prefixes: list[str]) -> None:
    connection.execute("CREATE TEMP TABLE prefixes (prefix text)")
    with connection.cursor().copy("COPY prefixes FROM STDIN") as copy:
        for prefix in prefixes:
            copy.write_row((prefix,))
    connection.execute(FILL, {"n": residents})  # type: ignore[arg-type]
    connection.execute("CREATE INDEX ON residents (permanent_commune_code) WHERE valid_to IS NULL")
    columns = sql.SQL(", ").join(map(sql.Identifier, COPIED))
    from_residents = sql.SQL(", ").join(sql.Identifier("r", c) for c in COPIED)
    for table, key, partitions, derive in (
        ("by_id_province", "id_province", prefixes, "left(r.personal_id, 3)::smallint"),
        ("by_residence", "province_code", _provinces(connection), "c.province_code"),
    ):
        name, column = sql.Identifier(table), sql.Identifier(key)
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE residents INCLUDING DEFAULTS, {} smallint NOT NULL)"
                " PARTITION BY LIST ({})"
            ).format(name, column, column)
        )
        for value in partitions:
            connection.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES IN ({})").format(
                    sql.Identifier(f"{table}_{value}"), name, sql.Literal(int(value))
                )
            )
        connection.execute(
            sql.SQL(
                "INSERT INTO {} ({}, {}) SELECT {}, {} FROM residents r "
                "JOIN communes c ON c.code = r.permanent_commune_code"
            ).format(name, columns, column, from_residents, sql.SQL(derive))
        )
        connection.execute(
            sql.SQL("CREATE UNIQUE INDEX ON {} (personal_id, {}) WHERE valid_to IS NULL").format(
                name, column
            )
        )
        connection.execute(sql.SQL("CREATE INDEX ON {} (household_id)").format(name))
        connection.execute(
            sql.SQL("CREATE INDEX ON {} (permanent_commune_code) WHERE valid_to IS NULL").format(
                name
            )
        )
    connection.execute("ANALYZE")


Query = tuple[str, dict[str, Any], str | None]


def _queries(connection: psycopg.Connection[Any]) -> dict[str, Query]:
    """The reads, each with its parameters, in the gateway's own shape (`= ANY` of a batch),
    and the one table it applies to when it names a partition key."""
    ids = [row[0] for row in connection.execute(
        "SELECT personal_id FROM residents TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT 100"
    )]  # fmt: skip
    households = [row[0] for row in connection.execute(
        "SELECT DISTINCT household_id FROM residents TABLESAMPLE SYSTEM (1) REPEATABLE (9) "
        "LIMIT 20"
    )]  # fmt: skip
    commune, province = connection.execute(
        "SELECT c.code, c.province_code FROM communes c JOIN residents r "
        "ON r.permanent_commune_code = c.code GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone() or (0, 0)
    prefixes = sorted({int(i[:3]) for i in ids})
    return {
        "one resident by ID": ("personal_id = ANY(%(ids)s)", {"ids": ids[:1]}, None),
        "one resident by ID, key given": (
            "personal_id = ANY(%(ids)s) AND id_province = ANY(%(keys)s)",
            {"ids": ids[:1], "keys": [int(ids[0][:3])]},
            "by_id_province",
        ),
        "100 residents by ID": ("personal_id = ANY(%(ids)s)", {"ids": ids}, None),
        "100 residents by ID, keys given": (
            "personal_id = ANY(%(ids)s) AND id_province = ANY(%(keys)s)",
            {"ids": ids, "keys": prefixes},
            "by_id_province",
        ),
        "members of 20 households": ("household_id = ANY(%(ids)s)", {"ids": households}, None),
        "residents of one commune": ("permanent_commune_code = %(c)s", {"c": commune}, None),
        "residents of one province": (
            "permanent_commune_code IN (SELECT code FROM communes WHERE province_code = %(p)s)",
            {"p": province},
            None,
        ),
        "residents of one province, key given": (
            "province_code = %(p)s",
            {"p": province},
            "by_residence",
        ),
    }


def _scans(plan: dict[str, Any]) -> int:
    """Relation scans in a plan: on a partitioned table, one per partition not pruned."""
    own = 1 if "Relation Name" in plan and plan["Relation Name"] not in {"communes"} else 0
    return own + sum(_scans(child) for child in plan.get("Plans", []))


def _measure(
    connection: psycopg.Connection[Any], table: str, where: str, params: dict[str, Any], repeat: int
) -> dict[str, Any]:
    # `where` is one of _queries' fixed fragments; the values travel as parameters
    query = sql.SQL(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM {} WHERE {} AND valid_to IS NULL"
    ).format(sql.Identifier(table), sql.SQL(where))  # type: ignore[arg-type]
    times, plan = [], {}
    for _ in range(repeat + 1):  # the first run warms the cache and is not counted
        (row,) = connection.execute(query, params).fetchone() or ([{}],)
        plan = row[0]
        times.append(float(plan["Execution Time"]) + float(plan["Planning Time"]))
    top = plan["Plan"]
    return {
        "ms": round(statistics.median(times[1:]), 3),
        "buffers": int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0)),
        "scans": _scans(top),
        "rows": int(top.get("Actual Rows", 0)),
        "node": top["Node Type"],
    }


def main(argv: list[str]) -> None:
    residents = _option(argv, "--residents", 1_000_000)
    repeat = _option(argv, "--repeat", 15)
    settings = Settings()
    url = _scratch_database(settings)
    results: dict[str, dict[str, Any]] = {}
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            _build(connection, residents, _prefixes())
            for name, (where, params, only) in _queries(connection).items():
                tables = (only,) if only else ("residents", "by_id_province", "by_residence")
                results[name] = {
                    table: _measure(connection, table, where, params, repeat) for table in tables
                }
    finally:
        _drop(settings, url)
    print(f"{residents:,} current residents; median of {repeat} warm runs (planning+execution)")
    print(f"{'query':<38} {'table':<16} {'ms':>8} {'buffers':>8} {'scans':>6} {'rows':>6}")
    for name, tables in results.items():
        for table, figures in tables.items():
            print(
                f"{name:<38} {table:<16} {figures['ms']:>8.3f} {figures['buffers']:>8} "
                f"{figures['scans']:>6} {figures['rows']:>6}"
            )
    target = settings.home / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "partitions.json").write_text(
        json.dumps({"residents": residents, "repeat": repeat, "results": results}, indent=2),
        encoding="utf-8",
    )
