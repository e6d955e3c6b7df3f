"""Compiled plans for trusted documents (the prefill, the residents batch): the hot path without
graphql-core's generic executor, and without skipping anything it checks.

A trusted document is fixed text, validated at start-up. A prefill document (one root field
`prefill(form: "<code>", subject: $variable)` with a plain selection) is compiled once into a plan:
which registries its form reads, which columns, one SQL statement joining the subject to the
subjects its form reaches (`household`, `household.head`), the field set of each subject's policy
decision, and how to render the document's selection. At request time, after the router's
admission (token, quota, trusted document, limits, `X-Purpose`), the plan:

1. checks the form serves the declared purpose and validates the subject's ID;
2. reads the subject and the subjects its form reaches in that one statement;
3. asks the request's guard for one decision per subject reached, covering exactly the fields the
   form's query selects on it, with the relation as `via` — the same decision keys the generic
   resolvers use, so the access log gets the same disclosures and the router seals them the same
   way (durable before the response, 503 UNAVAILABLE when the policy or the log is down);
4. enforces every field through the same `Grant.admit` / `Grant.give` the `guarded()` fields
   use, with the types' own resolvers and the schema's own scalars, producing the answer and the
   FORBIDDEN errors the form's query would produce;
5. fills the form with the same code as the generic `prefill` (`prefilled`) and renders the
   document's selection.

A batch document (`residents(ids: $variable)`, e.g. ResidentsWithHouseholds) is compiled the
same way: one statement for up to 100 residents and the subjects they reach, the residents
decided together and then each relation's subjects together, as the generic DataLoaders batch
them.

Whatever a plan does not reproduce exactly — an unknown form or another purpose, a malformed or
refused subject, a masked relation, variables of another shape, any refusal in a batch (its
FORBIDDEN errors), an unexpected failure — it hands to the generic executor. The only decisions
it may have made by then are the ones the generic path makes first, for the same keys, and the
guard answers those from its record of this request's decisions.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
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
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import ExecutionResult

from gateway.corrections.models import CorrectionRequest
from gateway.errors import ErrorCode, GatewayError
from gateway.graph.forms import DISPUTED, Form, Tree, form_tree
from gateway.graph.guard import SUBJECT_REASON, Grant, Guarded, given_only
from gateway.graph.schema import (
    MAX_BATCH,
    death_grant,
    deceased_prefill,
    prefill_form,
    prefilled,
)
from gateway.graph.types import FLAGS, SUBJECT_TYPES, Prefill, governed
from gateway.policy.models import PolicyVersion
from gateway.subjects import SUBJECT_KINDS, relation_at
from registries.corrections import OPEN_STATUSES
from registries.history import Reach, current_with_reach
from registries.identifiers import IdentifierError, validate_personal_id

if TYPE_CHECKING:
    import strawberry

    from gateway.graph.context import GatewayContext
    from gateway.trusted_documents import TrustedDocuments

log = structlog.get_logger(__name__)
ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call] # plans' statements run on asyncpg connections directly

# The subject types a plan reads (their records, keys and relations are gateway.subjects'): the
# relations it follows are the single ones between them (`Resident.household`, `Household.head`).
PLANNED = frozenset({"Resident", "Household"})


def _single_relation(type_name: str, name: str) -> tuple[str, str, str] | None:
    """(related type, the key attribute on the parent's record, `via`) of a single relation
    between planned types, as the generic resolvers follow it."""
    relation = relation_at(type_name, name)
    if relation is None or relation.key_attribute is None or relation.targets[0] not in PLANNED:
        return None
    return relation.targets[0], relation.key_attribute, relation.via


# What the form's query selects on every subject besides the form's own fields (forms.py).
RECORD_VERSION: Tree = {"validFrom": {}, "validTo": {}, "recordedAt": {}}


class UnplannableError(ValueError):
    """A document or form the plans do not cover: the generic executor runs it."""


_POLICY_VERSION = select(PolicyVersion.version)
POLICY_VERSION = str(_POLICY_VERSION.compile(dialect=ASYNCPG))


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
    form: bool  # a form's query: every subject also answers `__typename`

    @property
    def cls(self) -> type[Any]:
        return SUBJECT_TYPES[self.type_name]

    @property
    def key(self) -> str:
        return SUBJECT_KINDS[self.type_name].key_attribute


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
        if not isinstance(named, GraphQLObjectType) or named.name in SUBJECT_KINDS:
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
    schema: strawberry.Schema, type_name: str, tree: Tree, aliases: list[str], *, form: bool
) -> _Level:
    """A subject type as a selection reads it. A form's query also asks every subject for
    `__typename` and `recordVersion` (provenance): `form` adds them as forms.py does."""
    alias = f"t{len(aliases)}"
    aliases.append(alias)
    fields = []
    if form:
        fields.append(
            _compile_field(schema, type_name, "recordVersion", RECORD_VERSION, lists=False)
        )
    for name, sub in tree.items():
        if name in ("__typename", "recordVersion"):
            raise UnplannableError(f"a selection of {name}")
        related = _single_relation(type_name, name)
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
                    key_attribute, via, _compile_level(schema, target, sub, aliases, form=form)
                ),
            )
        )
    if type_name not in PLANNED:
        raise UnplannableError(f"{type_name} is not read by plans")
    if form and DISPUTED in _graphql_fields(schema, type_name):
        # last, as the generic executor resolves it (asynchronously) after the values it flags
        fields.append(_disputed_field())
    decided = frozenset(f.name for f in fields) - FLAGS
    return _Level(type_name, alias, tuple(fields), decided, form)


def _graphql_fields(schema: strawberry.Schema, type_name: str) -> frozenset[str]:
    graphql_type = schema._schema.get_type(type_name)
    return frozenset(getattr(graphql_type, "fields", None) or ())


def _disputed(source: Any) -> list[str]:
    """`disputedFields` from the row the plan read (its `disputed_fields` column), as the
    resolver's GivenFlags extension gives it: only fields this answer gave."""
    return given_only(source.grant, source.record.disputed_fields or ())


def _disputed_field() -> _Field:
    return _Field(
        name=DISPUTED,
        python_name="disputed_fields",
        resolver=_disputed,
        info_parameter=None,
        guarded=False,  # governed by the other fields' outcomes (given_only), not by name
        non_null=True,
        is_list=True,
        serialize=str,
    )


class _Reads:
    """One statement reading residents by personal ID with the subjects a selection reaches
    from them (`household`, its `head`), current versions, and the policy version. The
    registry part is registries.history's; the plan only says what it reaches."""

    def __init__(self, root: _Level, *, many: bool) -> None:
        self.root = root
        levels: list[tuple[_Level, _Level | None, _Relation | None]] = [(root, None, None)]
        for level, _, _ in levels:  # breadth first: the loop also walks what it appends
            levels.extend((f.relation.level, level, f.relation) for f in level.fields if f.relation)
        reaches = [
            Reach(
                alias=level.alias,
                model=SUBJECT_KINDS[level.type_name].model,
                key=level.key,
                parent=parent.alias if parent else None,
                parent_attribute=relation.key_attribute if relation else None,
            )
            for level, parent, relation in levels
        ]
        # (alias, key label, [(attribute, label)]) of each level: what a row is read into
        self._reads = [(reach.alias, reach.key_label, reach.labelled()) for reach in reaches]
        registry = current_with_reach(reaches, many=many)
        for (level, _, _), (alias, key_label, columns) in zip(levels, self._reads, strict=True):
            if any(f.name == DISPUTED for f in level.fields):
                label = f"{alias}_disputed_fields"
                registry = registry.add_columns(
                    _open_disputes(level.type_name, registry.selected_columns[key_label]).label(
                        label
                    )
                )
                columns.append(("disputed_fields", label))
        version = _POLICY_VERSION.scalar_subquery().label("policy_version")
        # rides along: the guard's agreement cache needs no statement of its own
        self.sql = str(registry.add_columns(version).compile(dialect=ASYNCPG))
        self.registry_sql = str(registry.compile(dialect=ASYNCPG))

    def records(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Each subject's record in a row, None where the join found none. The types' resolvers
        read a record's column attributes only, so plain namespaces do: building ORM instances
        outside a session would cost more than the statement."""
        return {
            alias: None
            if row[key] is None
            else SimpleNamespace(**{attribute: row[label] for attribute, label in columns})
            for alias, key, columns in self._reads
        }

    async def fetch(self, context: GatewayContext, key: str | list[str]) -> list[Any]:
        pool = context.services.reads
        if pool is None:
            raise _Fallback
        replicas = context.services.replicas
        if replicas is not None and replicas.any_in_rotation:
            # Registry rows through the read routing (a replica in rotation, else the primary),
            # and meanwhile the policy version on the primary: a replica's may lag a suspension.
            # With none in rotation, the one statement below reads both on the primary.
            async with asyncio.TaskGroup() as both:  # one failing cancels the other
                registry = both.create_task(
                    context.database.read(partial(self._fetch_registry, key=key))
                )
                version = both.create_task(pool.fetchval(POLICY_VERSION))
            _confirm(context, version.result())
            rows: list[Any] = registry.result()
            return rows
        async with pool.acquire() as connection:
            rows = await connection.fetch(self.sql, key)
        if not rows:  # nothing confirms the version the decisions were taken on
            raise _Fallback
        _confirm(context, rows[0]["policy_version"])
        return rows

    async def _fetch_registry(self, *, session: AsyncSession, key: str | list[str]) -> list[Any]:
        raw = await (await session.connection()).get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection  # asyncpg's, under SQLAlchemy's pool
        rows: list[Any] = await driver.fetch(self.registry_sql, key)
        return rows


def _open_disputes(type_name: str, key: Any) -> Any:
    """The subject's disputed fields, read with its row: a probe of the open disputes' small
    partial index (docs/corrections.md), so the prefill keeps its one statement. Literals, not
    parameters: the plan's statement takes the subject's key alone (and the partial index's
    predicate must be seen as written)."""
    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    return func.coalesce(
        select(func.array_agg(aggregate_order_by(CorrectionRequest.field, CorrectionRequest.field)))
        .where(
            CorrectionRequest.subject_type == literal_column(f"'{type_name}'"),
            CorrectionRequest.subject_id == key,
            text(f"correction_requests.status IN ({statuses})"),
        )
        .scalar_subquery(),
        literal_column("'{}'::text[]"),
    )


def _confirm(context: GatewayContext, version: int) -> None:
    """The plan decided with the agreements cached at the version it last knew; the statement
    that read the rows says whether that is still the version in force."""
    if version != context.guard.policy_version:
        raise _Fallback


async def _decide_first(
    context: GatewayContext, walk: _Walk, level: _Level, subjects: list[str]
) -> None:
    """The root subjects decided by key before any registry row is read, on the agreements
    cached for the agency (confirmed, or the plan abandoned, by the statement that reads). A
    refusal goes to the generic executor, which decides again on the version it reads itself
    and refuses without reading the row."""
    guard = context.guard
    agreements, agency = context.services.agreements, guard.principal.agency
    if agreements.latest(agency) is None:  # the agency's first request in this process
        async with context.database.session() as session:
            await agreements.agreements_for(session=session, agency=agency)
    if guard.policy_version is None:  # admission took none (a citizen): the one cached
        guard.policy_version = agreements.latest(agency)
    for subject in subjects:
        guard.looked_up(level.type_name, subject)
    await walk.decide(level, subjects, None)
    if not all(walk.grants[level.type_name, s, None].visible for s in subjects):
        raise _Fallback


class _Walk:
    """One request's walk over its subjects: each field through its grant as the `guarded()`
    fields enforce it, each relation with its own decision. `errors` collects refusals where
    the plan reproduces them (a form's query); without it, a refusal is the generic executor's
    case."""

    def __init__(self, context: GatewayContext, errors: list[GraphQLError] | None) -> None:
        self.context = context
        self.info = _ResolverInfo(context)
        self.errors = errors
        self.grants: dict[tuple[str, str, str | None], Grant] = {}

    async def decide(self, level: _Level, subjects: list[str], via: str | None) -> None:
        """Decisions for these subjects, together, in the order the generic path asks them."""
        wanted = list(
            dict.fromkeys(s for s in subjects if (level.type_name, s, via) not in self.grants)
        )
        if wanted:
            grants = await self.context.guard.grants(
                level.type_name, wanted, level.decided, governed(level.type_name), via, now=True
            )
            for subject, grant in zip(wanted, grants, strict=True):
                self.grants[level.type_name, subject, via] = grant

    def _refused(self, refusal: GatewayError, path: list[str | int]) -> None:
        if self.errors is None:
            raise _Fallback
        self.errors.append(_located(refusal, path))

    async def subject(
        self,
        level: _Level,
        record: Any,
        via: str | None,
        path: list[str | int],
        records: dict[str, Any],
    ) -> dict[str, Any]:
        grant = self.grants[level.type_name, getattr(record, level.key), via]
        if via is None:  # the caller sent its key
            grant = replace(grant, root=True)
        source = level.cls(record=record, grant=grant, as_of=None)
        data: dict[str, Any] = {"__typename": level.type_name} if level.form else {}
        for field in level.fields:
            try:
                outcome = grant.admit(field.name) if field.guarded else "allow"
                if field.relation is not None:
                    if outcome != "allow":
                        raise _Fallback  # a masked relation is the generic executor's case
                    try:
                        related = await self._related(
                            field.relation, field.name, record, [*path, field.name], records
                        )
                    except GatewayError as refusal:  # as `guarded()` records a refusal below it
                        if refusal.code is ErrorCode.FORBIDDEN:
                            grant.deny(field.name, SUBJECT_REASON)
                        raise
                    data[field.name] = grant.give(field.name, outcome, related)
                    continue
                value = field.value(source, self.info)
                if field.guarded:
                    value = grant.give(field.name, outcome, value)
            except GatewayError as refusal:
                data[field.name] = None
                self._refused(refusal, [*path, field.name])
                continue
            data[field.name] = field.complete(value, self.info)
        return data

    async def _related(
        self,
        relation: _Relation,
        name: str,
        parent: Any,
        path: list[str | int],
        records: dict[str, Any],
    ) -> dict[str, Any] | None:
        level = relation.level
        record = records[level.alias]
        if getattr(parent, relation.key_attribute) is None or record is None:
            return None
        key = getattr(record, level.key)
        await self.decide(level, [key], relation.via)
        self.grants[level.type_name, key, relation.via].check_subject(
            name, lambda: [f.name for f in level.fields]
        )
        return await self.subject(level, record, relation.via, path, records)


class FormPlan:
    """A form's query on a resident, compiled: one statement and a level per subject reached."""

    def __init__(self, schema: strawberry.Schema, form: Form) -> None:
        if form.subject_type != "Resident":
            raise UnplannableError(f"form {form.code} is on {form.subject_type}")
        if any(index is not None for f in form.fields for _, index in f.steps):
            raise UnplannableError(f"form {form.code} indexes a list")
        root = _compile_level(schema, "Resident", form_tree(form.fields), [], form=True)
        self.reads = _Reads(root, many=False)

    async def answer(
        self, context: GatewayContext, form: Form, subject: str, personal_id: str
    ) -> Prefill | None:
        """The form filled from what its query answers for the subject; or, for a dead subject
        whose death the caller may be told, the death instead (schema.deceased_prefill), as the
        generic `prefill` answers."""
        errors: list[GraphQLError] = []
        walk = _Walk(context, errors)
        root = self.reads.root
        await _decide_first(context, walk, root, [personal_id])
        rows = await self.reads.fetch(context, personal_id)  # none: the generic path answers
        records = self.reads.records(rows[0])
        record = records[root.alias]
        if record.deceased or record.deceased_on is not None:
            death = await death_grant(context, personal_id, now=True)
            dead = None if death is None else deceased_prefill(form, subject, death, record)
            if dead is not None:
                return dead
        data = await walk.subject(root, record, None, ["subject"], records)
        return prefilled(form, subject, {"subject": data}, errors)


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


def _root_field(operation: OperationDefinitionNode, name: str) -> FieldNode:
    """The one root field of a plain query, if it is `name`."""
    selections = operation.selection_set.selections
    if (
        operation.operation is not OperationType.QUERY
        or operation.directives
        or len(selections) != 1
        or not isinstance(selections[0], FieldNode)
        or selections[0].name.value != name
        or selections[0].directives
    ):
        raise UnplannableError(f"not a query of {name} alone")
    return selections[0]


class Plan(ABC):
    """A trusted document compiled: what the router runs instead of the generic executor."""

    response_key: str

    async def execute(
        self, context: GatewayContext, variables: Mapping[str, Any] | None
    ) -> ExecutionResult | None:
        """The document's answer, or None: the generic executor must answer this request."""
        try:
            data = await self.answer(context, variables or {})
        except GatewayError as error:
            if error.code is ErrorCode.UNAVAILABLE:  # the router fails closed on it
                return ExecutionResult(data=None, errors=[_located(error, [self.response_key])])
        except (IdentifierError, _Fallback):
            pass
        except Exception as error:  # the generic executor masks and logs what it meets
            log.warning("plan failed; the generic executor answers", error=type(error).__name__)
        else:
            return ExecutionResult(data={self.response_key: data}, errors=None)
        context.guard.reset()  # the generic executor decides and records afresh
        return None

    @abstractmethod
    async def answer(self, context: GatewayContext, variables: Mapping[str, Any]) -> Any:
        """The root field's value; _Fallback for a request the plan does not reproduce."""


class PrefillPlan(Plan):
    """A trusted document `prefill(form: "<code>", subject: $variable) { ... }`, compiled."""

    def __init__(self, schema: strawberry.Schema, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        root = _root_field(operation, "prefill")
        arguments = {a.name.value: a.value for a in root.arguments or ()}
        form, subject = arguments.get("form"), arguments.get("subject")
        if (
            set(arguments) != {"form", "subject"}
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

    async def answer(self, context: GatewayContext, variables: Mapping[str, Any]) -> Any:
        subject = variables.get(self.variable)
        if not isinstance(subject, str) or set(variables) != {self.variable}:
            raise _Fallback
        form = await prefill_form(context, self.form_code)
        personal_id = validate_personal_id(subject)
        plan = self._form_plan(form)
        if plan is None:
            raise _Fallback
        prefill = await plan.answer(context, form, subject, personal_id)
        return self.render.complete(prefill, _ResolverInfo(context))


class ResidentsPlan(Plan):
    """A trusted document `residents(ids: $variable) { ... }` (batch verification), compiled:
    one statement for up to 100 residents with the subjects they reach, one decision per subject,
    residents together and then each relation's subjects together, as the generic path's
    DataLoaders batch them. Any refusal (a FORBIDDEN error) is left to the generic executor."""

    def __init__(self, schema: strawberry.Schema, operation: OperationDefinitionNode) -> None:
        root = _root_field(operation, "residents")
        arguments = {a.name.value: a.value for a in root.arguments or ()}
        ids = arguments.get("ids")
        if set(arguments) != {"ids"} or not isinstance(ids, VariableNode):
            raise UnplannableError("not residents(ids: $variable)")
        self.variable = ids.name.value
        self.response_key = root.alias.value if root.alias else root.name.value
        level = _compile_level(schema, "Resident", _selection_tree(root.selection_set), [],
                               form=False)  # fmt: skip
        self.relations = [f for f in level.fields if f.relation is not None]
        if len(self.relations) > 1 or any(
            g.relation for f in self.relations if f.relation for g in f.relation.level.fields
        ):
            raise UnplannableError("more than one relation, or relations of relations")
        self.reads = _Reads(level, many=True)

    async def answer(self, context: GatewayContext, variables: Mapping[str, Any]) -> Any:
        ids = variables.get(self.variable)
        if (
            not isinstance(ids, list)
            or len(ids) > MAX_BATCH
            or not all(isinstance(i, str) for i in ids)
            or set(variables) != {self.variable}
        ):
            raise _Fallback  # coercion and the batch limit are the generic executor's errors
        personal_ids = [validate_personal_id(i) for i in ids]
        if not personal_ids:
            return []
        root = self.reads.root
        walk = _Walk(context, None)
        await _decide_first(context, walk, root, list(dict.fromkeys(personal_ids)))
        found = {
            records[root.alias].personal_id: records
            for records in map(self.reads.records, await self.reads.fetch(context, personal_ids))
        }
        for absent in set(personal_ids) - found.keys():
            context.guard.absent("Resident", absent)
        present = [p for p in personal_ids if p in found]
        for field in self.relations:
            relation = field.relation
            if relation is None:
                continue
            reached = [
                getattr(found[p][relation.level.alias], relation.level.key)
                for p in present
                if walk.grants["Resident", p, None].decision.fields.get(field.name) == "allow"
                and getattr(found[p][root.alias], relation.key_attribute) is not None
                and found[p][relation.level.alias] is not None
            ]
            await walk.decide(relation.level, reached, relation.via)
        return [
            await walk.subject(root, found[p][root.alias], None, [self.response_key, n], found[p])
            if p in found
            else None
            for n, p in enumerate(personal_ids)
        ]


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
        self._by_source: dict[str, tuple[str, Plan]] = {}
        for document in trusted:
            operation = next(
                d for d in document.document.definitions if isinstance(d, OperationDefinitionNode)
            )
            for kind in (PrefillPlan, ResidentsPlan):
                try:
                    self._by_source[document.source] = (document.name, kind(schema, operation))
                    break
                except UnplannableError:
                    continue  # the next kind, or the generic executor runs it

    def __len__(self) -> int:
        return len(self._by_source)

    def get(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan of this document text, unless the request names another operation (which
        the generic executor reports as unknown)."""
        found = self._by_source.get(query)
        if found is None or operation_name not in (None, found[0]):
            return None
        return found[1]
