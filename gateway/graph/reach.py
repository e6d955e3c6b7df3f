"""What a GraphQL document reads of the registries, and whether an agency's agreements cover it:
the one rule an agency document is checked by when proposed (gateway.admin.documents) and kept
in force by (gateway.graph.catalogue).

Invariants:
- `reads` lists every field a query selects on a subject type (through named fragments and inline
  fragments on unions; aliases and repeats merged; `__typename` left out), each with the `via` of
  the relation it is reached through (None at the root), as the guard decides them;
- a document reads only subjects and public reference data: an operation that is not a query,
  or a root field of another kind (a prefill, which forms govern; a citizen's own data), is
  refused with the field named;
- a read is covered when the agency's agreement for its purpose and subject type is approved,
  gives the field and is reached through that relation (an agreement without `via` is reached
  through any); a document is in force only while every agreement it relies on is in force.
  Coverage is what a request could be given at most: the guard still decides every field of
  every subject (consents, masks, dossiers), so a covered document never discloses more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)

from gateway.subjects import SUBJECT_KINDS, relation_at

PUBLIC_ROOTS = frozenset({"adminUnit", "__typename", "__schema", "__type"})


class ReachError(ValueError):
    """A document an agency may not be given: not a query, or reading beyond subjects."""


@dataclass(frozen=True, order=True)
class Read:
    type_name: str
    field: str
    via: str | None

    def __str__(self) -> str:
        where = f" (via {self.via})" if self.via else ""
        return f"{self.type_name}.{self.field}{where}"


class Terms(Protocol):
    """What coverage reads of an agreement (gateway.policy.models.Agreement has it)."""

    @property
    def subject_type(self) -> str: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def via(self) -> list[str] | None: ...
    @property
    def status(self) -> str: ...
    @property
    def effective_from(self) -> datetime: ...
    @property
    def effective_to(self) -> datetime | None: ...


def reads(schema: GraphQLSchema, document: DocumentNode) -> frozenset[Read]:
    """Every subject field the document's one query reads; ReachError as the module says."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        raise ReachError("an agency document is one query (no mutation or subscription)")
    query_type = schema.query_type
    assert query_type is not None  # noqa: S101 - every schema has one
    found: set[Read] = set()
    for field, _ in _fields(operations[0].selection_set, query_type, fragments):
        name = field.name.value
        if name in PUBLIC_ROOTS:
            continue
        definition = query_type.fields.get(name)
        returns = get_named_type(definition.type) if definition else None
        if returns is None or returns.name not in SUBJECT_KINDS:
            raise ReachError(
                f"{name}: an agency document reads registry subjects and public reference "
                "data only (prefill forms have their own documents; a citizen's own data is "
                "theirs)"
            )
        _walk(field.selection_set, returns, None, fragments, found)
    return frozenset(found)


def _walk(
    selections: SelectionSetNode | None,
    parent: GraphQLNamedType,
    via: str | None,
    fragments: dict[str, FragmentDefinitionNode],
    found: set[Read],
) -> None:
    if selections is None:
        return
    for field, on in _fields(selections, parent, fragments):
        name = field.name.value
        if name == "__typename" or not isinstance(on, GraphQLObjectType | GraphQLInterfaceType):
            continue
        definition = on.fields.get(name)
        if definition is None:
            continue  # validation has refused it already
        returns = get_named_type(definition.type)
        if on.name in SUBJECT_KINDS:
            found.add(Read(on.name, name, via))
            relation = relation_at(on.name, name)
            inner = relation.via if relation else via
            _walk(field.selection_set, returns, inner, fragments, found)
        else:  # a value inside a subject's field (an address, a right): deeper subjects count
            _walk(field.selection_set, returns, via, fragments, found)


def _fields(
    selections: SelectionSetNode,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
    """The fields of a selection set with the type each is selected on: an inline fragment or
    a fragment spread on a member of a union narrows it."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection, parent
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                continue
            condition: str | None = fragment.type_condition.name.value
            inner = fragment.selection_set
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else None
            inner = selection.selection_set
        else:
            continue
        narrowed = _narrow(parent, condition)
        yield from _fields(inner, narrowed, fragments)


def _narrow(parent: GraphQLNamedType, condition: str | None) -> GraphQLNamedType:
    if condition is None or condition == parent.name:
        return parent
    if isinstance(parent, GraphQLUnionType):
        for member in parent.types:
            if member.name == condition:
                narrowed: GraphQLNamedType = member
                return narrowed
    return parent


def covering(read: Read, agreements: Iterable[Terms]) -> Terms | None:
    """The approved agreement that gives this read, if any."""
    for agreement in agreements:
        if (
            agreement.status == "approved"
            and agreement.subject_type == read.type_name
            and read.field in agreement.fields
            and (agreement.via is None or (read.via is not None and read.via in agreement.via))
        ):
            return agreement
    return None


def uncovered(needs: Iterable[Read], agreements: Iterable[Terms], now: datetime) -> list[str]:
    """The reads no agreement in force now gives, as the refusal names them."""
    terms = [a for a in agreements if _in_force(a, now)]
    return [str(read) for read in sorted(needs) if covering(read, terms) is None]


def in_force(
    needs: Iterable[Read], agreements: Iterable[Terms]
) -> tuple[datetime | None, datetime | None] | None:
    """When every read is covered: from the latest start to the earliest end of the agreements
    relied on; None when some read is not covered at all."""
    terms = list(agreements)
    relied = []
    for read in needs:
        agreement = covering(read, terms)
        if agreement is None:
            return None
        relied.append(agreement)
    starts = [a.effective_from for a in relied]
    ends = [a.effective_to for a in relied if a.effective_to is not None]
    return (max(starts) if starts else None, min(ends) if ends else None)


def _in_force(agreement: Terms, now: datetime) -> bool:
    return agreement.effective_from <= now and (
        agreement.effective_to is None or now < agreement.effective_to
    )
