"""What an operation selects on a subject, computed from the selection set before resolving.

The gateway asks one policy decision per subject covering every field the operation selects on
it, so the field set must include fields reached through named and inline fragments (matching
the subject's type), honour @skip/@include, and leave out `__typename`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _included(selection: Selection) -> bool:
    directives = selection.directives or {}
    skip = directives.get("skip")
    if skip is not None and skip.get("if") is True:
        return False
    include = directives.get("include")
    return not (include is not None and include.get("if") is False)


def _fields_on(selections: Iterable[Selection], type_name: str) -> Iterator[SelectedField]:
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment) and (
            selection.type_condition in (None, type_name)
        ):
            yield from _fields_on(selection.selections, type_name)


def requested_fields(selections: Sequence[Selection], type_name: str) -> frozenset[str]:
    """Field names selected on an object of GraphQL type `type_name`."""
    return frozenset(
        field.name for field in _fields_on(selections, type_name) if field.name != "__typename"
    )


def sub_selections(
    selections: Sequence[Selection], type_name: str, field_name: str
) -> list[Selection]:
    """The selections under `field_name` on `type_name`, merged across aliases and fragments."""
    merged: list[Selection] = []
    for field in _fields_on(selections, type_name):
        if field.name == field_name:
            merged.extend(field.selections)
    return merged
