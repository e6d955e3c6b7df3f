"""What the console's forms share: a form as typed with its errors by input (`Entry`), the input
errors that concern no one input (`GENERAL`), and the choices the forms' selects offer — the
agencies registered and the purposes in force (the admin API's services), the fields of a subject
type's GraphQL type and the relations that reach it (the schema the services check against).

Used by the agencies, agreements, consents, audit, purposes and explain pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from graphql import GraphQLSchema
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from gateway.admin.agencies import service as agencies
from gateway.admin.problems import Problem
from gateway.admin.purposes import service as purposes
from gateway.admin.schema_rules import object_type
from gateway.subjects import RELATIONS

GENERAL = "_"  # errors that concern no one input


@dataclass
class Entry:
    """A form as typed (strings, kept to show again) and its errors by input."""

    inputs: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def posted(cls, form: FormData, inputs: Iterable[str]) -> Entry:
        names = tuple(inputs)
        values = {}
        for name in names:
            value = form.get(name)
            values[name] = value.strip() if isinstance(value, str) else ""
        return cls(inputs=names, values=values)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def error(self, argument: str, message: str) -> None:
        self.errors.setdefault(argument if argument in self.inputs else GENERAL, []).append(message)

    def shape_errors(self, invalid: ValidationError) -> None:
        """A shape's refusal (pydantic's words), each at the input it names."""
        for item in invalid.errors():
            location = [str(part) for part in item.get("loc", ())]
            argument = location[0] if location else GENERAL
            where = f" ({'.'.join(location[1:])})" if len(location) > 1 else ""
            self.error(argument, f"{item.get('msg', 'invalid')}{where}")

    def refused(self, problem: Problem) -> None:
        """A service's refusal (its own words), at the input its `argument` names."""
        argument = str(problem.extensions.get("argument", GENERAL))
        # the admin API names a request body's member (`body.jwk.n`): the form's input is `jwk`
        parts = argument.removeprefix("body.").split(".")
        self.error(parts[0], problem.detail)


@dataclass(frozen=True)
class Choice:
    """An option of a select or a checkbox: its value and what it shows."""

    value: str
    label: str


async def agency_and_purpose_choices(session: AsyncSession) -> tuple[list[Choice], list[Choice]]:
    """The agencies registered and the purposes in force, for a form's selects."""
    found, _ = await agencies.list_agencies(session=session, status=None, limit=100, cursor=None)
    agency_choices = [Choice(a.client_id, f"{a.client_id} · {a.name}") for a in found]
    standing, _ = await purposes.list_purposes(session=session, limit=100, cursor=None)
    purpose_choices = [
        Choice(p.code, f"{p.code} · {p.in_force.title}") for p in standing if p.in_force
    ]
    return agency_choices, purpose_choices


def schema_choices(schema: GraphQLSchema, subject_type: str) -> tuple[list[Choice], list[Choice]]:
    """The fields of the subject type's GraphQL type, and the relations that reach it."""
    found = object_type(schema, subject_type)
    fields = [
        Choice(name, definition.description or "") for name, definition in found.fields.items()
    ]
    relations = [
        Choice(via, f"{via} → {', '.join(r.targets)}")
        for via, r in sorted(RELATIONS.items())
        if subject_type in r.targets
    ]
    return fields, relations
