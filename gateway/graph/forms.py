"""Prefill form templates (`graphql/forms/*.yaml`), compiled once into GraphQL documents.

A form names its subject type and, per form field, a path on that type (`household.head.fullName`,
`rights[0].holder.fullName`). At start-up each form becomes one query on the subject, checked
against the schema, that also asks every subject on the way for `recordVersion` (provenance).
`prefill` runs that query through the same resolvers, guard and access log as any other query,
so a form can never show what the agency could not have asked for directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
)

from gateway.subjects import SUBJECT_KINDS
from lienthong.resources import FORMS_DIR

# The field a subject type lists its disputed fields in (gateway/graph/types.py)
DISPUTED = "disputedFields"
_INDEX = re.compile(r"^(?P<name>\w+)(\[(?P<index>\d+)\])?$")


class FormError(ValueError):
    """A form template that does not fit the schema."""


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    path: str
    steps: tuple[Step, ...]  # the path parsed once, at start-up


@dataclass(frozen=True)
class Form:
    code: str
    title: str
    procedure: str
    purpose: str
    subject_type: str
    fields: tuple[FormField, ...]
    query: str  # the compiled document, executed with {"subject": ...}


Tree = dict[str, "Tree"]
Step = tuple[str, int | None]  # a field name, and an index into it when it is a list


def _steps(path: str) -> tuple[Step, ...]:
    steps = []
    for segment in path.split("."):
        match = _INDEX.match(segment)
        if match is None:
            raise FormError(f"bad path segment {segment!r} in {path!r}")
        index = match.group("index")
        steps.append((match.group("name"), int(index) if index is not None else None))
    return tuple(steps)


def _selection(type_: Any, tree: Tree, where: str) -> str:
    named = get_named_type(type_)
    if isinstance(named, GraphQLUnionType):
        parts = ["__typename"]
        for member in named.types:
            sub = {name: t for name, t in tree.items() if name in member.fields}
            if sub:
                parts.append(f"... on {member.name} {{ {_fields(member, sub, where)} }}")
        if len(parts) == 1:
            raise FormError(f"{where}: no member of {named.name} has {sorted(tree)}")
        return " ".join(parts)
    if not isinstance(named, GraphQLObjectType):
        raise FormError(f"{where}: {named} has no fields")
    return _fields(named, tree, where)


def _fields(type_: GraphQLObjectType, tree: Tree, where: str) -> str:
    parts = []
    if "recordVersion" in type_.fields:
        parts.append("__typename recordVersion { validFrom validTo recordedAt }")
    if DISPUTED in type_.fields:  # each prefilled value says whether it is disputed
        parts.append(DISPUTED)
    for name, sub in tree.items():
        field = type_.fields.get(name)
        if field is None:
            raise FormError(f"{where}: {type_.name} has no field {name!r}")
        if sub:
            parts.append(f"{name} {{ {_selection(field.type, sub, where)} }}")
        elif is_leaf_type(get_named_type(field.type)):
            parts.append(name)
        else:
            raise FormError(f"{where}: {type_.name}.{name} is not a value; name a field inside it")
    return " ".join(parts)


def form_tree(fields: tuple[FormField, ...]) -> Tree:
    """The fields a form reads, as a tree of field names in the order the form names them."""
    tree: Tree = {}
    for form_field in fields:
        node = tree
        for name, _ in form_field.steps:
            node = node.setdefault(name, {})
    return tree


def compile_form(document: dict[str, Any], schema: GraphQLSchema, source: str) -> Form:
    try:
        subject_type = document["subject_type"]
        kind = SUBJECT_KINDS[subject_type]
        root_field, argument = kind.root_field, kind.key_field
        fields = tuple(
            FormField(
                key=str(f["key"]),
                label=str(f["label"]),
                path=str(f["path"]),
                steps=_steps(str(f["path"])),
            )
            for f in document["fields"]
        )
        code, title = str(document["code"]), str(document["title"])
        procedure, purpose = str(document["procedure"]), str(document["purpose"])
    except (KeyError, TypeError) as error:
        raise FormError(f"{source}: missing or malformed {error}") from error
    tree = form_tree(fields)
    root_type = schema.get_type(subject_type)
    if not isinstance(root_type, GraphQLObjectType):
        raise FormError(f"{source}: the schema has no type {subject_type}")
    selection = _fields(root_type, tree, source)
    query = (
        f"query Prefill_{_name(code)}($subject: ID!) "
        f"{{ subject: {root_field}({argument}: $subject) {{ {selection} }} }}"
    )
    try:
        errors = validate(schema, parse(query))
    except GraphQLError as error:
        raise FormError(f"{source}: {error.message}") from error
    if errors:
        raise FormError(f"{source}: {errors[0].message}")
    return Form(code, title, procedure, purpose, subject_type, fields, query)


def _name(code: str) -> str:
    """A form code as a GraphQL name's tail (codes may hold "-", names may not)."""
    return code.replace("-", "_")


def prefill_document(code: str) -> tuple[str, str]:
    """The trusted document of a form (its operation name and text): one-stop software runs
    `Prefill<CODE>` with `$subject`; every form's is the same but for the code, so a form a
    steward creates is runnable in prod the moment it is saved."""
    name = "Prefill" + _name(code)
    text = (
        f"# Generated from form {code}: the form prefilled for $subject, with provenance.\n"
        f"query {name}($subject: ID!) {{\n"
        f'  prefill(form: "{code}", subject: $subject) {{\n'
        "    form\n    title\n    procedure\n    subject\n"
        "    fields {\n      key\n      label\n      value\n      disputed\n      missing\n"
        "      provenance {\n        registry\n"
        "        recordVersion {\n          validFrom\n          recordedAt\n        }\n"
        "      }\n    }\n  }\n}\n"
    )
    return name, text


class FormCatalogue:
    def __init__(self, forms: list[Form]) -> None:
        self._forms = {form.code: form for form in forms}

    @classmethod
    def load(cls, schema: GraphQLSchema, folder: Path = FORMS_DIR) -> FormCatalogue:
        forms = []
        for path in sorted(folder.glob("*.yaml")):
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            forms.append(compile_form(document, schema, path.name))
        return cls(forms)

    def get(self, code: str) -> Form | None:
        return self._forms.get(code)

    def codes(self) -> list[str]:
        return sorted(self._forms)

    def documents(self) -> dict[str, str]:
        """Each form's trusted document text, by origin ("form <code>")."""
        return {f"form {code}": prefill_document(code)[1] for code in self._forms}


def value_at(data: Any, steps: tuple[Step, ...]) -> tuple[Any, dict[str, Any] | None]:
    """The value at a form path in a prefill answer, and the last subject passed on the way."""
    node, subject = data, data if isinstance(data, dict) and "recordVersion" in data else None
    for name, index in steps:
        if not isinstance(node, dict):
            return None, subject
        node = node.get(name)
        if index is not None:
            node = node[index] if isinstance(node, list) and len(node) > index else None
        if isinstance(node, dict) and "recordVersion" in node:
            subject = node
    return node, subject


def disputed_at(data: Any, steps: tuple[Step, ...]) -> bool:
    """Whether the value at a form path is disputed: the field under the last subject on the
    way is in that subject's `disputedFields` (which names only fields the answer gave)."""
    node, subject, name = data, None, None
    for step, index in steps:
        if not isinstance(node, dict):
            return False
        if "recordVersion" in node:
            subject, name = node, step
        node = node.get(step)
        if index is not None:
            node = node[index] if isinstance(node, list) and len(node) > index else None
    return subject is not None and name in (subject.get(DISPUTED) or ())


def error_for(errors: list[GraphQLError], steps: tuple[Step, ...]) -> GraphQLError | None:
    """The error that emptied this form path, if any (list indices ignored)."""
    wanted = ["subject", *(name for name, _ in steps)]
    for error in errors:
        names = [step for step in (error.path or []) if isinstance(step, str)]
        if names and wanted[: len(names)] == names:
            return error
    return None
