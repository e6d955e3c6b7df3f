"""Field sets are computed from real parsed operations against a small schema."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gateway.selection import requested_fields

SEEN: dict[str, Any] = {}


@strawberry.type
class Person:
    id: str
    full_name: str
    birth_date: str
    friends: list[Person]


@strawberry.type
class Company:
    code: str
    name: str


Holder = Annotated[Person | Company, strawberry.union("Holder")]


@strawberry.type
class Query:
    @strawberry.field
    def person(self, info: Info) -> Person:
        SEEN["person"] = requested_fields(info.selected_fields, "Person")
        return Person(id="1", full_name="An", birth_date="2000-01-01", friends=[])

    @strawberry.field
    def holder(self, info: Info) -> Holder:
        SEEN["holder_as_person"] = requested_fields(info.selected_fields, "Person", ["Holder"])
        SEEN["holder_as_company"] = requested_fields(info.selected_fields, "Company", ["Holder"])
        return Company(code="0100109106", name="X")


SCHEMA = strawberry.Schema(query=Query)


def _run(query: str, variables: dict[str, Any] | None = None) -> None:
    SEEN.clear()
    result = SCHEMA.execute_sync(query, variable_values=variables)
    assert result.errors is None, result.errors


def test_fields_through_fragments_aliases_and_directives() -> None:
    _run(
        """
        query Q($withBirth: Boolean!, $skipId: Boolean!) {
          person {
            __typename
            name: fullName
            id @skip(if: $skipId)
            birthDate @include(if: $withBirth)
            ...More
            friends { fullName }
            friends { id }
          }
        }
        fragment More on Person { ... on Person { fullName } }
        """,
        {"withBirth": False, "skipId": True},
    )
    assert SEEN["person"] == frozenset({"fullName", "friends"})


def test_included_fields_count_when_the_directive_says_so() -> None:
    _run(
        "query Q($b: Boolean!) { person { id @skip(if: $b) birthDate @include(if: true) } }",
        {"b": False},
    )
    assert SEEN["person"] == frozenset({"id", "birthDate"})


def test_union_members_get_only_their_own_fragments() -> None:
    _run("{ holder { __typename ... on Person { fullName birthDate } ... on Company { name } } }")
    assert SEEN["holder_as_person"] == frozenset({"fullName", "birthDate"})
    assert SEEN["holder_as_company"] == frozenset({"name"})


def test_fragments_on_the_union_count_for_each_member_and_every_occurrence_counts() -> None:
    _run(
        """{ holder { __typename }
             holder { ... on Holder { ... on Person { fullName } } ...OnHolder } }
           fragment OnHolder on Holder { ... on Company { name } ... on Person { birthDate } }"""
    )
    assert SEEN["holder_as_person"] == frozenset({"fullName", "birthDate"})
    assert SEEN["holder_as_company"] == frozenset({"name"})
