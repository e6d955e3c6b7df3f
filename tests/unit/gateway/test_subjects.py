"""The subject model is the one declaration every layer reads: it must match the schema, and no
field of a subject type may escape its grant."""

from __future__ import annotations

from graphql import GraphQLObjectType, GraphQLUnionType, get_named_type
from strawberry.types.base import get_object_definition
from strawberry.types.private import is_private

from gateway.graph.guard import Guarded
from gateway.graph.schema import build_schema
from gateway.graph.types import SUBJECT_TYPES, governed
from gateway.subjects import RELATIONS, SUBJECT_KINDS

SCHEMA = build_schema()._schema


def test_every_subject_kind_is_a_type_of_the_schema_with_its_key_field() -> None:
    assert set(SUBJECT_TYPES) == set(SUBJECT_KINDS)
    for name, kind in SUBJECT_KINDS.items():
        graphql_type = SCHEMA.get_type(name)
        assert isinstance(graphql_type, GraphQLObjectType)
        assert kind.key_field in graphql_type.fields
        assert kind.identifiers | kind.metadata <= set(graphql_type.fields)
        root = SCHEMA.query_type.fields[kind.root_field] if SCHEMA.query_type else None
        assert root is not None and get_named_type(root.type) is graphql_type
        assert kind.key_field in root.args


def test_every_field_of_a_subject_type_is_governed() -> None:
    for name, cls in SUBJECT_TYPES.items():
        fields = [
            f
            for f in get_object_definition(cls, strict=True).fields
            if not is_private(f.type_annotation.resolve())
        ]  # type: ignore[union-attr]
        ungoverned = [f.python_name for f in fields if not any(
            isinstance(e, Guarded) for e in f.extensions
        )]  # fmt: skip
        assert ungoverned == [], name
        graphql_type = SCHEMA.get_type(name)
        assert isinstance(graphql_type, GraphQLObjectType)
        assert governed(name) == set(graphql_type.fields)


def test_every_relation_starts_at_a_field_and_reaches_its_targets() -> None:
    for via, relation in RELATIONS.items():
        owner = SCHEMA.get_type(relation.owner)
        assert isinstance(owner, GraphQLObjectType), via
        assert relation.field in owner.fields, via
        reached: set[str] = set()
        pending = [get_named_type(owner.fields[relation.field].type)]
        while pending:  # the subject types the field's value holds, however nested
            node = pending.pop()
            if node.name in SUBJECT_KINDS:
                reached.add(node.name)
            elif isinstance(node, GraphQLUnionType):
                pending.extend(node.types)
            elif isinstance(node, GraphQLObjectType):
                pending.extend(get_named_type(f.type) for f in node.fields.values())
        assert set(relation.targets) <= reached, via
        assert via.startswith(f"{relation.owner}.{relation.field}")
