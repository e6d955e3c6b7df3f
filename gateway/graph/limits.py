"""What an operation asks for, measured before it runs: depth, cost, and whether it touches
registry data (which needs a declared purpose)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)

from gateway.errors import ErrorCode, GatewayError

REGISTRY_ROOT_FIELDS = frozenset(
    {
        "resident",
        "residentByDocument",
        "residents",
        "household",
        "enterprise",
        "enterprises",
        "parcel",
        "parcelsAt",
        "prefill",
        "changes",  # change events, each with its subject's data (gateway/events/feed.py)
    }
)
BATCH_ARGUMENTS = frozenset({"ids", "codes"})
LIST_FIELDS = frozenset(
    {"members", "legalRepresentatives", "businessLines", "rights", "parcels", "parcelsAt",
     "representedEnterprises", "nodes", "fields", "myConsents", "parents", "children"}
)  # fmt: skip
LIST_ESTIMATE = 10  # elements assumed for a list whose size is not known before running


# The introspection meta-fields: a client's schema query (graphql-js getIntrospectionQuery is 15
# levels deep) is bounded by its own depth limit, not the data's
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Shape:
    operation_name: str | None
    operation_type: str
    depth: int  # of the data asked (introspection excluded)
    cost: int
    root_fields: frozenset[str]
    introspection_depth: int = 0  # of `__schema` / `__type`, bounded by a limit of its own

    @property
    def needs_purpose(self) -> bool:
        return bool(self.root_fields & REGISTRY_ROOT_FIELDS)


@lru_cache(maxsize=1024)
def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    """Parsed once per distinct text; a document over the token limit is refused unparsed."""
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLError as error:
        if "tokens" in error.message:
            raise GatewayError(
                ErrorCode.QUERY_TOO_COMPLEX, f"the document has more than {max_tokens} tokens"
            ) from error
        raise


class _Walker:
    def __init__(self, document: DocumentNode, variables: dict[str, object]) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables

    def measure(
        self, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()
    ) -> tuple[int, int]:
        """(depth, cost) of a selection set."""
        if selection_set is None:
            return 0, 0
        depth, cost = 0, 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                below_depth, below_cost = self.measure(selection.selection_set, seen)
                depth = max(depth, 1 + below_depth)
                cost += 1 + below_cost * self._multiplier(selection)
            elif isinstance(selection, InlineFragmentNode):
                d, c = self.measure(selection.selection_set, seen)
                depth, cost = max(depth, d), cost + c
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # left to validation to report
                    continue
                d, c = self.measure(fragment.selection_set, seen | {name})
                depth, cost = max(depth, d), cost + c
        return depth, cost

    def _multiplier(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value in BATCH_ARGUMENTS:
                value = argument.value
                if isinstance(value, ListValueNode):
                    return max(1, len(value.values))
                if isinstance(value, VariableNode):
                    given = self.variables.get(value.name.value)
                    return max(1, len(given)) if isinstance(given, list) else LIST_ESTIMATE
        return LIST_ESTIMATE if field.name.value in LIST_FIELDS else 1


def shape_of(
    document: DocumentNode, operation_name: str | None, variables: dict[str, object] | None
) -> Shape | None:
    """The chosen operation's shape; None when it cannot be chosen (validation reports why)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return None
    operation = operations[0]
    walker = _Walker(document, variables or {})
    data = [
        s
        for s in operation.selection_set.selections
        if not (isinstance(s, FieldNode) and s.name.value in INTROSPECTION_ROOTS)
    ]
    introspection = [s for s in operation.selection_set.selections if s not in data]
    depth, cost = walker.measure(SelectionSetNode(selections=tuple(data)))
    introspection_depth, _ = walker.measure(SelectionSetNode(selections=tuple(introspection)))
    roots = frozenset(
        s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)
    )
    for selection in operation.selection_set.selections:
        if isinstance(selection, InlineFragmentNode | FragmentSpreadNode):
            roots |= REGISTRY_ROOT_FIELDS  # fragments on the root: assume registry data
    return Shape(
        operation_name=operation.name.value if operation.name else None,
        operation_type=operation.operation.value,
        depth=depth,
        cost=cost,
        root_fields=roots,
        introspection_depth=introspection_depth,
    )
