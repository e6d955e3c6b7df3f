"""Compiled plans for trusted prefill documents: the hot path without graphql-core's generic
executor, and without skipping anything it checks.

A trusted document is fixed text, validated at start-up. A prefill document (one root field
`prefill(form: "<code>", subject: $variable)` with a plain selection) is compiled once into a plan:
which registries its form reads, which columns, one SQL statement joining the subject to the
subjects its form reaches (`household`, `household.head`), the field set of each subject's policy
decision, and how to render the document's selection. At request time, after the router's
admission (token, quota, trusted document, limits, `X-Purpose`), the plan:

1. checks the form serves the declared purpose and validates the subject's ID;
2. reads the subject and the subjects its form reaches in that one statement;
3. asks the request's guard for one decision per subject reached, covering exactly the fields the
   form's query selects on it, with the relation as `via` — the same DataLoader keys the generic
   resolvers use, so the access log gets the same disclosures and the router seals them the same
   way (durable before the response, 503 UNAVAILABLE when the policy or the log is down);
4. enforces every field through the same `Grant.admit` / `Grant.give` the `guarded()` fields
   use, with the types' own resolvers and the schema's own scalars, producing the answer and the
   FORBIDDEN errors the form's query would produce;
5. fills the form with the same code as the generic `prefill` (`prefilled`) and renders the
   document's selection.

Whatever it does not reproduce exactly — an unknown form or another purpose, a malformed or
refused subject, a masked relation, variables of another shape, an unexpected failure — it hands
to the generic executor. The only decisions it may have made by then are the ones the generic path
makes first, for the same keys, and the guard's DataLoader answers those from its cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from sqlalchemy import inspect
from strawberry.types import ExecutionResult

from gateway.errors import ErrorCode, GatewayError
from gateway.graph.forms import Form, Tree, form_tree
from gateway.graph.guard import Grant, Guarded
from gateway.graph.schema import prefill_form, prefilled
from gateway.graph.types import Household, Resident
from gateway.policy.models import PolicyVersion
from registries.identifiers import IdentifierError, validate_personal_id
from registries.residents.models import Household as HouseholdRecord
from registries.residents.models import Resident as ResidentRecord

if TYPE_CHECKING:
    import strawberry

    from gateway.graph.context import GatewayContext
    from gateway.trusted_documents import TrustedDocuments

log = structlog.get_logger(__name__)

# The subject types a plan reads, their registry records and business keys; and the relations it
# follows: (type, field) -> (related type, the key attribute on the parent's record, `via`), as
# the resolvers of `Resident.household` and `Household.head` in gateway/graph/types.py reach them.
SUBJECTS: dict[str, tuple[type[Any], type[Any], str]] = {
    "Resident": (Resident, ResidentRecord, "personal_id"),
    "Household": (Household, HouseholdRecord, "household_id"),
}
RELATIONS = {
    ("Resident", "household"): ("Household", "household_id", "Resident.household"),
    ("Household", "head"): ("Resident", "head_id", "Household.head"),
}
# What the form's query selects on every subject besides the form's own fields (forms.py).
RECORD_VERSION: Tree = {"validFrom": {}, "validTo": {}, "recordedAt": {}}


class UnplannableError(ValueError):
    """A document or form the plans do not cover: the generic executor runs it."""


class _Fallback(Exception):  # noqa: N818 - control flow, never shown
    """A request the plan does not reproduce exactly: the generic executor answers it."""


@dataclass(frozen=True)
class _ResolverInfo:
    """The `info` a plan hands to the leaf resolvers it calls: those of the registry types read
    only `info.context` (the request's services); resolvers that read the selection are
    relations, which the plan follows itself, or make the form unplannable."""

    context: GatewayContext


@dataclass(frozen=True)
class _Field:
    name: str  # the GraphQL name, which is the response key (plans take no aliases inside)
    python_name: str
    resolver: Callable[..., Any] | None
    info_parameter: str | None
    guarded: bool
    non_null: bool
    is_list: bool
    serialize: Callable[[Any], Any] | None  # a leaf
    children: tuple[_Field, ...] = ()  # the selected fields of a plain object value
    relation: _Relation | None = None

    def value(self, source: Any, info: _ResolverInfo) -> Any:
        if self.resolver is None:
            return getattr(source, self.python_name)
        if self.info_parameter is not None:
            return self.resolver(source, **{self.info_parameter: info})
        return self.resolver(source)

    def complete(self, value: Any, info: _ResolverInfo) -> Any:
        """The value as the generic executor completes it: serialized leaves, selected fields."""
        if value is None:
            if self.non_null:  # the generic executor would report a null it cannot give
                raise _Fallback
            return None
        if self.is_list:
            return [self._complete_one(item, info) for item in value]
        return self._complete_one(value, info)

    def _complete_one(self, value: Any, info: _ResolverInfo) -> Any:
        if self.serialize is not None:
            return self.serialize(value)
        return {
            child.name: child.complete(child.value(value, info), info) for child in self.children
        }


@dataclass(frozen=True)
class _Relation:
    key_attribute: str
    via: str
    level: _Level


@dataclass(frozen=True)
class _Level:
    """A subject type as the form's query selects it: one decision over `decided`."""

    type_name: str
    alias: str  # of its table in the plan's statement
    fields: tuple[_Field, ...]
    decided: frozenset[str]

    @property
    def cls(self) -> type[Any]:
        return SUBJECTS[self.type_name][0]

    @property
    def key(self) -> str:
        return SUBJECTS[self.type_name][2]


def _strawberry_field(schema: strawberry.Schema, type_name: str, name: str) -> Any:
    definition = schema.get_type_by_name(type_name)
    fields = getattr(definition, "fields", None) or []
    converter = schema.config.name_converter
    for field in fields:
        if converter.get_graphql_name(field) == name:
            return field
    raise UnplannableError(f"{type_name}.{name} is not a field")


def _compile_field(
    schema: strawberry.Schema, type_name: str, name: str, tree: Tree, *, lists: bool
) -> _Field:
    graphql_type = schema._schema.get_type(type_name)
    if not isinstance(graphql_type, GraphQLObjectType) or name not in graphql_type.fields:
        raise UnplannableError(f"{type_name}.{name} is not a field")
    output: GraphQLOutputType = graphql_type.fields[name].type
    non_null = isinstance(output, GraphQLNonNull)
    inner = output.of_type if isinstance(output, GraphQLNonNull) else output
    is_list = isinstance(inner, GraphQLList)
    if isinstance(inner, GraphQLList) and (
        not lists or not isinstance(inner.of_type, GraphQLNonNull)
    ):
        raise UnplannableError(f"{type_name}.{name} is a list")
    named = get_named_type(output)
    field = _strawberry_field(schema, type_name, name)
    resolver = field.base_resolver
    if resolver is not None and resolver.is_async:
        raise UnplannableError(f"{type_name}.{name} resolves asynchronously")
    info_parameter = resolver.info_parameter if resolver is not None else None
    children: tuple[_Field, ...] = ()
    serialize = None
    if tree:
        if not isinstance(named, GraphQLObjectType) or named.name in SUBJECTS:
            raise UnplannableError(f"{type_name}.{name} is not a plain object")
        children = tuple(
            _compile_field(schema, named.name, child, sub, lists=lists)
            for child, sub in tree.items()
        )
    elif is_leaf_type(named):
        serialize = named.serialize
    else:
        raise UnplannableError(f"{type_name}.{name} needs a selection")
    return _Field(
        name=name,
        python_name=field.python_name,
        resolver=resolver.wrapped_func if resolver is not None else None,
        info_parameter=info_parameter.name if info_parameter is not None else None,
        guarded=any(isinstance(e, Guarded) for e in field.extensions),
        non_null=non_null,
        is_list=is_list,
        serialize=serialize,
        children=children,
    )


def _compile_level(
    schema: strawberry.Schema, type_name: str, tree: Tree, aliases: list[str]
) -> _Level:
    alias = f"t{len(aliases)}"
    aliases.append(alias)
    fields = [_compile_field(schema, type_name, "recordVersion", RECORD_VERSION, lists=False)]
    for name, sub in tree.items():
        if name in ("__typename", "recordVersion"):
            raise UnplannableError(f"a form path through {name}")
        related = RELATIONS.get((type_name, name))
        if related is None:
            fields.append(_compile_field(schema, type_name, name, sub, lists=False))
            continue
        target, key_attribute, via = related
        if not sub:
            raise UnplannableError(f"{type_name}.{name} needs a selection")
        strawberry_field = _strawberry_field(schema, type_name, name)
        fields.append(
            _Field(
                name=name,
                python_name=strawberry_field.python_name,
                resolver=None,
                info_parameter=None,
                guarded=any(isinstance(e, Guarded) for e in strawberry_field.extensions),
                non_null=False,
                is_list=False,
                serialize=None,
                relation=_Relation(
                    key_attribute, via, _compile_level(schema, target, sub, aliases)
                ),
            )
        )
    return _Level(type_name, alias, tuple(fields), frozenset(f.name for f in fields))


def _columns(model: type[Any]) -> list[tuple[str, str]]:
    """(attribute, column) of each mapped column of a registry model."""
    return [(a.key, a.columns[0].name) for a in inspect(model).column_attrs]


class FormPlan:
    """A form's query on a resident, compiled: one statement and a level per subject reached."""

    def __init__(self, schema: strawberry.Schema, form: Form) -> None:
        if form.subject_type != "Resident":
            raise UnplannableError(f"form {form.code} is on {form.subject_type}")
        if any(index is not None for f in form.fields for _, index in f.steps):
            raise UnplannableError(f"form {form.code} indexes a list")
        self.root = _compile_level(schema, "Resident", form_tree(form.fields), [])
        self.levels = self._levels()
        # (alias, key label, [(attribute, label)]) of each level: what a row is read into
        self._reads = [
            (
                level.alias,
                f"{level.alias}_{level.key}",
                [(a, f"{level.alias}_{a}") for a, _ in _columns(SUBJECTS[level.type_name][1])],
            )
            for level, _, _ in self.levels
        ]
        self.sql = self._statement()

    def _levels(self) -> list[tuple[_Level, _Level | None, _Relation | None]]:
        """Each level with its parent level and the relation reaching it, parents first."""
        found: list[tuple[_Level, _Level | None, _Relation | None]] = [(self.root, None, None)]
        for level, _, _ in found:
            found.extend((f.relation.level, level, f.relation) for f in level.fields if f.relation)
        return found

    def _statement(self) -> str:
        selected, joins = [], []
        for level, parent, relation in self.levels:
            model = SUBJECTS[level.type_name][1]
            selected += [f"{level.alias}.{c} AS {level.alias}_{a}" for a, c in _columns(model)]
            if parent is not None and relation is not None:
                parent_model = SUBJECTS[parent.type_name][1]
                parent_column = dict(_columns(parent_model))[relation.key_attribute]
                key_column = dict(_columns(model))[level.key]
                joins.append(
                    f"LEFT JOIN {model.__tablename__} {level.alias} ON "
                    f"{level.alias}.{key_column} = {parent.alias}.{parent_column} "
                    f"AND {level.alias}.valid_to IS NULL"
                )
        root_key = dict(_columns(ResidentRecord))["personal_id"]
        # the policy version rides along: the guard's agreement cache needs no statement of its own
        selected.append(f"(SELECT version FROM {PolicyVersion.__tablename__}) AS policy_version")  # noqa: S608
        # identifiers from the registry models only; the subject is the one parameter
        return (
            f"SELECT {', '.join(selected)} FROM {ResidentRecord.__tablename__} {self.root.alias} "  # noqa: S608
            + " ".join(joins)
            + f" WHERE {self.root.alias}.{root_key} = $1 AND {self.root.alias}.valid_to IS NULL"
        )

    def _records(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Each subject's record, None where the join found none. The types' resolvers read a
        record's column attributes only, so plain namespaces do: building ORM instances outside
        a session would cost more than the statement."""
        return {
            alias: None
            if row[key] is None
            else SimpleNamespace(**{attribute: row[label] for attribute, label in columns})
            for alias, key, columns in self._reads
        }

    async def answer(
        self, context: GatewayContext, personal_id: str
    ) -> tuple[dict[str, Any], list[GraphQLError]]:
        """What the form's query answers for the subject: its data and its errors."""
        if context.services.reads is None:
            raise _Fallback
        async with context.services.reads.acquire() as connection:
            row = await connection.fetchrow(self.sql, personal_id)
        if row is None:
            return {"subject": None}, []
        records = self._records(row)
        context.guard.policy_version = row["policy_version"]
        subject = records[self.root.alias]
        grant = await context.guard.decide_now("Resident", subject.personal_id, self.root.decided)
        if not grant.decision.allow:  # refused whole: the generic path reports it at `subject`
            raise _Fallback
        errors: list[GraphQLError] = []
        info = _ResolverInfo(context)
        data = await self._subject(self.root, subject, grant, ["subject"], errors, records, info)
        return {"subject": data}, errors

    async def _subject(  # noqa: PLR0917 - one level of a recursive walk
        self,
        level: _Level,
        record: Any,
        grant: Grant,
        path: list[str | int],
        errors: list[GraphQLError],
        records: dict[str, Any],
        info: _ResolverInfo,
    ) -> dict[str, Any]:
        source = level.cls(record=record, grant=grant, as_of=None)
        data: dict[str, Any] = {"__typename": level.type_name}
        for field in level.fields:
            try:
                outcome = grant.admit(field.name) if field.guarded else "allow"
                if field.relation is not None:
                    if outcome != "allow":
                        raise _Fallback  # a masked relation is the generic executor's case
                    data[field.name] = await self._related(
                        field, record, [*path, field.name], errors, records, info
                    )
                    continue
                value = field.value(source, info)
                if field.guarded:
                    value = grant.give(field.name, outcome, value)
            except GatewayError as refusal:
                data[field.name] = None
                errors.append(_located(refusal, [*path, field.name]))
                continue
            data[field.name] = field.complete(value, info)
        return data

    async def _related(  # noqa: PLR0917 - one level of a recursive walk
        self,
        field: _Field,
        parent: Any,
        path: list[str | int],
        errors: list[GraphQLError],
        records: dict[str, Any],
        info: _ResolverInfo,
    ) -> dict[str, Any] | None:
        relation = field.relation
        if relation is None or getattr(parent, relation.key_attribute) is None:
            return None
        level = relation.level
        record = records[level.alias]
        if record is None:
            return None
        grant = await info.context.guard.decide_now(
            level.type_name, getattr(record, level.key), level.decided, relation.via
        )
        grant.check_subject(field.name)
        return await self._subject(level, record, grant, path, errors, records, info)


async def _keep(connection: asyncpg.Connection) -> None:
    """A plan's connection goes back to the pool as it came: one read-only statement leaves no
    session state, so the pool's RESET ALL round trip on release is not needed."""


async def open_reads(dsn: str, *, max_size: int = 10) -> asyncpg.Pool:
    """The connections plans read with: a plain asyncpg pool, because checking a connection out of
    the ORM's session for one statement costs several times the statement itself."""
    return await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, reset=_keep)


def _located(error: GatewayError, path: list[str | int]) -> GraphQLError:
    """A field's refusal as the generic executor reports it: at the field's path."""
    return GraphQLError(error.message, path=path, original_error=error, extensions=error.extensions)


class PrefillPlan:
    """A trusted document `prefill(form: "<code>", subject: $variable) { ... }`, compiled."""

    def __init__(self, schema: strawberry.Schema, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        if operation.operation is not OperationType.QUERY or operation.directives:
            raise UnplannableError("not a plain query")
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(selections[0], FieldNode):
            raise UnplannableError("not a single root field")
        root = selections[0]
        arguments = {a.name.value: a.value for a in root.arguments or ()}
        form, subject = arguments.get("form"), arguments.get("subject")
        if (
            root.name.value != "prefill"
            or root.directives
            or set(arguments) != {"form", "subject"}
            or not isinstance(form, StringValueNode)
            or not isinstance(subject, VariableNode)
        ):
            raise UnplannableError("not prefill(form: literal, subject: $variable)")
        self.form_code = form.value
        self.variable = subject.name.value
        self.response_key = root.alias.value if root.alias else root.name.value
        self.render = _render_field(schema, "Query", root)
        self._forms: dict[str, FormPlan | None] = {}

    def _form_plan(self, form: Form) -> FormPlan | None:
        """The form's plan, compiled on first use (stewards may edit a form: a new text, a new
        plan), or None when the form is not plannable."""
        if form.query not in self._forms:
            try:
                self._forms[form.query] = FormPlan(self.schema, form)
            except UnplannableError as why:
                log.info("prefill form left to the generic executor", form=form.code, why=str(why))
                self._forms[form.query] = None
        return self._forms[form.query]

    async def execute(
        self, context: GatewayContext, variables: Mapping[str, Any] | None
    ) -> ExecutionResult | None:
        """The document's answer, or None: the generic executor must answer this request."""
        subject = (variables or {}).get(self.variable)
        if not isinstance(subject, str) or set(variables or {}) != {self.variable}:
            return None
        try:
            form = prefill_form(context, self.form_code)
            personal_id = validate_personal_id(subject)
            plan = self._form_plan(form)
            if plan is None:
                raise _Fallback
            data, errors = await plan.answer(context, personal_id)
            prefill = prefilled(form, subject, data, errors)
        except GatewayError as error:
            if error.code is ErrorCode.UNAVAILABLE:  # the router fails closed on it
                return ExecutionResult(data=None, errors=[_located(error, [self.response_key])])
            return None
        except (IdentifierError, _Fallback):
            return None
        except Exception as error:  # the generic executor masks and logs what it meets
            log.warning(
                "prefill plan failed; the generic executor answers", error=type(error).__name__
            )
            return None
        info = _ResolverInfo(context)
        return ExecutionResult(
            data={self.response_key: self.render.complete(prefill, info)}, errors=None
        )


def _render_field(schema: strawberry.Schema, type_name: str, node: FieldNode) -> _Field:
    """The document's selection on the prefill answer: plain fields, no fragments or directives.
    The root field itself is the plan: only its selection is rendered."""
    graphql_type = schema._schema.get_type(type_name)
    if (
        not isinstance(graphql_type, GraphQLObjectType)
        or node.name.value not in graphql_type.fields
    ):
        raise UnplannableError(f"{type_name}.{node.name.value} is not a field")
    named = get_named_type(graphql_type.fields[node.name.value].type)
    return _Field(
        name=node.name.value,
        python_name=node.name.value,
        resolver=None,
        info_parameter=None,
        guarded=False,
        non_null=False,
        is_list=False,
        serialize=None,
        children=tuple(
            _compile_field(schema, named.name, name, sub, lists=True)
            for name, sub in _selection_tree(node.selection_set).items()
        ),
    )


def _selection_tree(selection_set: SelectionSetNode | None) -> Tree:
    tree: Tree = {}
    for selection in selection_set.selections if selection_set else ():
        if not isinstance(selection, FieldNode) or selection.alias or selection.directives:
            raise UnplannableError("fragments, aliases or directives in the selection")
        if selection.name.value in tree or selection.name.value == "__typename":
            raise UnplannableError("a field selected twice, or __typename")
        tree[selection.name.value] = _selection_tree(selection.selection_set)
    return tree


class Plans:
    """The plans of the trusted documents that have one, by document text."""

    def __init__(self, schema: strawberry.Schema, trusted: TrustedDocuments) -> None:
        self._by_source: dict[str, PrefillPlan] = {}
        for document in trusted:
            operation = next(
                d for d in document.document.definitions if isinstance(d, OperationDefinitionNode)
            )
            try:
                self._by_source[document.source] = PrefillPlan(schema, operation)
            except UnplannableError:
                continue  # the generic executor runs it

    def __len__(self) -> int:
        return len(self._by_source)

    def get(self, query: str) -> PrefillPlan | None:
        return self._by_source.get(query)
