"""What a document reads of the registries, and when agreements cover it (gateway.graph.reach)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from graphql import parse

from gateway.graph.reach import ReachError, Read, in_force, reads, uncovered
from gateway.graph.schema import build_schema
from gateway.trusted_documents import AgencyScope

SCHEMA = build_schema()._schema
NOW = datetime(2026, 12, 5, tzinfo=UTC)
PARCEL = """
query Q($id: ID!) {
  parcel(id: $id) {
    area
    rights { share holder { __typename ... on Resident { fullName } ...Company } }
  }
  unit: adminUnit(code: "48") { name }
}
fragment Company on Enterprise { name a: name }
"""


@dataclass
class Terms:
    subject_type: str
    fields: list[str]
    via: list[str] | None = None
    status: str = "approved"
    effective_from: datetime = NOW - timedelta(days=30)
    effective_to: datetime | None = None


def test_reads_follow_fragments_unions_and_relations() -> None:
    assert reads(SCHEMA, parse(PARCEL)) == {
        Read("Parcel", "area", None),
        Read("Parcel", "rights", None),
        Read("Resident", "fullName", "Parcel.rights.holder"),
        Read("Enterprise", "name", "Parcel.rights.holder"),
    }


def test_reads_of_a_relation_inside_a_relation_carry_the_inner_via() -> None:
    text = 'query Q { resident(id: "1") { household { head { fullName } } } }'
    assert reads(SCHEMA, parse(text)) == {
        Read("Resident", "household", None),
        Read("Household", "head", "Resident.household"),
        Read("Resident", "fullName", "Household.head"),
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('mutation M { closeDossier(number: "x") { number } }', "one query"),
        ('query Q { prefill(form: "CT01", subject: "1") { form } }', "prefill"),
        ("query Q { myAccessLog { nodes { agency } } }", "myAccessLog"),
    ],
)
def test_what_an_agency_document_may_not_read(text: str, says: str) -> None:
    with pytest.raises(ReachError, match=says):
        reads(SCHEMA, parse(text))


def test_coverage_needs_the_field_the_relation_and_an_approved_agreement_in_force() -> None:
    needs = reads(SCHEMA, parse(PARCEL))
    parcel = Terms("Parcel", ["area", "rights"])
    holder = Terms("Resident", ["fullName"], via=["Parcel.rights.holder"])
    company = Terms("Enterprise", ["name"], via=["Enterprise.legalRepresentatives"])
    assert uncovered(needs, [parcel, holder, company], NOW) == [
        "Enterprise.name (via Parcel.rights.holder)"
    ]
    anywhere = Terms("Enterprise", ["name"])  # no `via`: reached through any relation
    assert uncovered(needs, [parcel, holder, anywhere], NOW) == []
    draft = Terms("Enterprise", ["name"], status="submitted")
    assert uncovered(needs, [parcel, holder, draft], NOW) == [
        "Enterprise.name (via Parcel.rights.holder)"
    ]
    ended = Terms("Parcel", ["area", "rights"], effective_to=NOW)
    assert "Parcel.area" in uncovered(needs, [ended, holder, anywhere], NOW)


def test_a_document_is_in_force_while_every_agreement_it_relies_on_is() -> None:
    needs = reads(SCHEMA, parse(PARCEL))
    ends = NOW + timedelta(days=3)
    starts = NOW - timedelta(days=1)
    terms = [
        Terms("Parcel", ["area", "rights"], effective_to=ends),
        Terms("Resident", ["fullName"], effective_from=starts),
        Terms("Enterprise", ["name"], effective_to=ends + timedelta(days=9)),
    ]
    assert in_force(needs, terms) == (starts, ends)
    scope = AgencyScope("tainguyen-danang", "CPXD", starts, ends)
    assert scope.in_force(NOW)
    assert not scope.in_force(ends)  # the agreement lapses: refused from that instant
    assert not scope.in_force(starts - timedelta(seconds=1))
    assert in_force(needs, terms[:2]) is None
