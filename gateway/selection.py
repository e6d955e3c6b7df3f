"""What an operation asks of a subject, computed from the selection set before resolving.

A refused subject's access-log entry lists every field the operation asked of it, so the field
set must include fields reached through named and inline fragments whose type condition is the
subject's type or an abstract type it belongs to (`... on RightHolder`), across every occurrence
of the field (GraphQL merges them), honour @skip/@include, and leave out `__typename`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _included(selection: Selection) -> bool:
    directives = selection.directives or {}
    skip = directives.get("skip")
    if skip is not None and skip.get("if") is True:
        return False
    include = directives.get("include")
    return not (include is not None and include.get("if") is False)


def _fields_on(
    selections: Iterable[Selection], conditions: Collection[str | None]
) -> Iterator[SelectedField]:
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection
        elif (
            isinstance(selection, FragmentSpread | InlineFragment)
            and selection.type_condition in conditions
        ):
            yield from _fields_on(selection.selections, conditions)


def requested_fields(
    occurrences: Sequence[Selection], type_name: str, abstract: Collection[str] = ()
) -> frozenset[str]:
    """Field names selected on an object of GraphQL type `type_name` below a field (each of its
    occurrences), `abstract` being the unions and interfaces that type belongs to."""
    conditions = {None, type_name, *abstract}
    return frozenset(
        field.name
        for occurrence in occurrences
        for field in _fields_on(occurrence.selections, conditions)
        if field.name != "__typename"
    )
