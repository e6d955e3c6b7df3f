"""Names that must exist in the published GraphQL schema: agreement and consent fields, the
relations an agreement may be reached through (`Resident.household`), form templates."""

from __future__ import annotations

from collections.abc import Iterable

from graphql import GraphQLObjectType, GraphQLSchema

from gateway.admin.problems import bad_input
from gateway.subjects import RELATIONS


def object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    found = schema.get_type(name)
    if not isinstance(found, GraphQLObjectType):
        raise bad_input("subject_type", f"the schema has no object type {name}")
    return found


def check_fields(schema: GraphQLSchema, type_name: str, fields: Iterable[str]) -> None:
    known = object_type(schema, type_name).fields
    unknown = sorted({f for f in fields if f not in known})
    if unknown:
        raise bad_input("fields", f"{type_name} has no field {', '.join(unknown)}")


def check_relations(subject_type: str, relations: Iterable[str]) -> None:
    """Each `via` is a declared relation (gateway.subjects) that reaches this subject type."""
    for via in relations:
        relation = RELATIONS.get(via)
        if relation is None:
            known = ", ".join(sorted(RELATIONS))
            raise bad_input("via", f"no relation {via} (known: {known})")
        if subject_type not in relation.targets:
            reaches = ", ".join(relation.targets)
            raise bad_input("via", f"{via} reaches {reaches}, not {subject_type}")
