"""Registering one-stop dossiers and binding requests to them.

A case-bound purpose is served only for a dossier that its agency registered first: its number,
purpose, the subjects it concerns and an expiry. A request names it in `X-Dossier`; the gateway
then reaches by key only those subjects (the policy's `dossier` input, policies/authz.rego), and
every access-log entry of the request carries the number.

Invariants: a dossier belongs to the agency that opened it and serves one purpose; its subjects
and expiry never change after opening (a wrong dossier is closed and a new one opened); a closed
or expired dossier serves nothing. What a request sees of a dossier it cannot use is one answer,
whatever the reason: another agency's dossier and one never registered look alike.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import orjson
from sqlalchemy import ARRAY, ColumnElement, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from gateway.dossiers.models import Dossier
from gateway.policy.models import Purpose
from gateway.subjects import SUBJECT_KINDS
from registries.history import is_current
from registries.identifiers import IdentifierError

# The national one-stop portal's dossier number (mã hồ sơ): the receiving unit's electronic
# identifier (Decision 20/2020/QĐ-TTg: e.g. 000.00.15.H17), the day it was received (YYMMDD) and
# the unit's running number for that day.
DOSSIER_NUMBER = re.compile(
    r"^(?P<unit>\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})-(?P<day>\d{6})-(?P<sequence>\d{4,6})$"
)
ROLE = re.compile(r"^[a-z][a-z_]{0,31}$")
# The one answer a request gets for a dossier it cannot use (never registered, another agency's,
# another purpose's, closed or expired): which one it is would tell about other agencies' cases
UNUSABLE = (
    "send X-Dossier with the number of an open dossier your agency registered for this purpose "
    "(openDossier), before its expiry"
)


class DossierError(ValueError):
    """A dossier that cannot be opened or closed as asked; `argument` names the input at fault."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


def parse_number(text: str) -> str:
    """The dossier number, checked: its format and a real reception day."""
    match = DOSSIER_NUMBER.match(text)
    if match is None:
        raise DossierError(
            "number",
            "a dossier number as the one-stop portal issues it: unit code, YYMMDD, running "
            "number (e.g. 000.00.15.H17-261205-0001)",
        )
    day = match["day"]
    try:
        date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError as error:
        raise DossierError("number", f"the dossier number's day {day} is not a date") from error
    return text


@dataclass(frozen=True)
class DossierSubject:
    type: str  # a subject kind: Resident, Household, Enterprise, Parcel
    id: str
    role: str  # applicant, member, enterprise, parcel, …


def check_subjects(subjects: Sequence[DossierSubject], *, limit: int) -> list[DossierSubject]:
    """The subjects validated by their kind's identifier rules, duplicates dropped."""
    if not 1 <= len(subjects) <= limit:
        raise DossierError("subjects", f"subjects: between 1 and {limit} per dossier")
    checked: dict[tuple[str, str], DossierSubject] = {}
    for index, subject in enumerate(subjects):
        kind = SUBJECT_KINDS.get(subject.type)
        if kind is None:
            known = ", ".join(SUBJECT_KINDS)
            raise DossierError(f"subjects[{index}].type", f"a subject type: one of {known}")
        if not ROLE.match(subject.role):
            raise DossierError(
                f"subjects[{index}].role", "a role in lower case, e.g. applicant or member"
            )
        try:
            key = kind.validate(subject.id)
        except IdentifierError as error:
            raise DossierError(f"subjects[{index}].id", str(error)) from error
        checked.setdefault((subject.type, key), DossierSubject(subject.type, key, subject.role))
    return list(checked.values())


async def open_dossier(
    *,
    session: AsyncSession,
    number: str,
    agency: str,
    purpose: str,
    procedure: str | None,
    subjects: Sequence[DossierSubject],
    officer: Mapping[str, Any],
    expires_at: datetime,
    request_id: str,
    max_subjects: int,
    max_days: int,
) -> Dossier:
    number = parse_number(number)
    now = datetime.now(UTC)
    if expires_at.tzinfo is None:
        raise DossierError("expiresAt", "expiresAt: give a time zone (e.g. 2027-01-01T00:00:00Z)")
    if expires_at <= now:
        raise DossierError("expiresAt", "expiresAt: must be in the future")
    if expires_at > now + timedelta(days=max_days):
        raise DossierError("expiresAt", f"expiresAt: at most {max_days} days from now")
    if procedure is not None and not 1 <= len(procedure) <= 200:
        raise DossierError("procedure", "procedure: 1 to 200 characters")
    checked = check_subjects(subjects, limit=max_subjects)
    known = await session.execute(
        select(func.count()).where(Purpose.code == purpose, is_current(Purpose))
    )
    if not known.scalar_one():
        raise DossierError("purpose", f"no purpose {purpose!r} in the catalogue")
    named = [{"type": s.type, "id": s.id, "role": s.role} for s in checked]
    inserted = await session.execute(
        insert(Dossier)
        .values(
            number=number,
            agency=agency,
            purpose=purpose,
            procedure=procedure,
            subjects=named,
            officer=dict(officer),
            opened_at=now,
            expires_at=expires_at,
            request_id=request_id,
        )
        .on_conflict_do_nothing(index_elements=[Dossier.number])
        .returning(Dossier)
    )
    dossier = inserted.scalar_one_or_none()
    if dossier is not None:
        return dossier
    # A retry of an opening whose answer was lost gets the dossier it opened; anything else
    # with that number is refused
    existing = await session.get(Dossier, number)
    if (
        existing is not None
        and existing.agency == agency
        and existing.purpose == purpose
        and existing.subjects == named
        and existing.expires_at == expires_at
        and existing.closed_at is None
    ):
        return existing
    raise DossierError("number", f"dossier {number} is already registered")


async def close_dossier(*, session: AsyncSession, number: str, agency: str, actor: str) -> Dossier:
    """Closes one of the agency's dossiers; closing a closed one changes nothing."""
    dossier = await session.get(Dossier, parse_number(number), with_for_update=True)
    if dossier is None or dossier.agency != agency:
        raise DossierError("number", f"your agency has no dossier {number}")
    if dossier.closed_at is None:
        dossier.closed_at = datetime.now(UTC)
        dossier.closed_by = actor
    return dossier


@dataclass(frozen=True)
class Binding:
    """What a request needs of a dossier to be bound to it: whose it is, for what, until when,
    and the keys it reaches by type (the policy's `dossier` input)."""

    number: str
    agency: str
    purpose: str
    scope: Mapping[str, tuple[str, ...]]
    expires_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Binding:
        subjects = row["subjects"]
        if isinstance(subjects, str):  # asyncpg hands JSONB over as text
            subjects = orjson.loads(subjects)
        scope: dict[str, list[str]] = {}
        for subject in subjects:
            scope.setdefault(str(subject["type"]), []).append(str(subject["id"]))
        return cls(
            number=row["number"],
            agency=row["agency"],
            purpose=row["purpose"],
            scope={kind: tuple(keys) for kind, keys in scope.items()},
            expires_at=row["expires_at"],
            closed_at=row["closed_at"],
        )

    def serves(self, *, agency: str, purpose: str | None, now: datetime) -> bool:
        """Whether a request of `agency` for `purpose` may be served by this dossier now."""
        return (
            self.agency == agency
            and self.purpose == purpose
            and self.closed_at is None
            and self.expires_at > now
        )


# One statement, run on whichever connection the caller has at hand: on the hot path a plain
# asyncpg pool (checking out an ORM session for it would cost several times the read), compiled
# for it once; through a session otherwise.
_BINDING_COLUMNS = select(
    Dossier.number,
    Dossier.agency,
    Dossier.purpose,
    Dossier.subjects,
    Dossier.expires_at,
    Dossier.closed_at,
)
BINDING = _BINDING_COLUMNS.where(Dossier.number == bindparam("number"))
ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]
# The dossiers of the requests that arrived together, in one statement
BINDINGS_SQL = str(
    _BINDING_COLUMNS.where(Dossier.number == any_(bindparam("numbers", type_=ARRAY(Text)))).compile(
        dialect=ASYNCPG
    )
)


class DossierCache:
    """Dossiers a process has read, reused for `seconds`: a one-stop dossier serves a burst of
    requests (prefill, then checks). Only found dossiers are kept (a dossier registered on
    another replica is usable at once), and expiry is checked on every request; a dossier closed
    elsewhere stops being honoured here within `seconds` (at once in the process that closed
    it)."""

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._kept: dict[str, tuple[float, Binding]] = {}
        self._loader: DataLoader[str, Mapping[str, Any] | None] | None = None
        self._pool: asyncpg.Pool | None = None

    async def get(
        self, number: str, read: Callable[[str], Awaitable[Mapping[str, Any] | None]]
    ) -> Binding | None:
        """The dossier `number`, kept or read with `read(number)` (a row of BINDING)."""
        kept = self._kept.get(number)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        return self._found(number, await read(number))

    def _found(self, number: str, row: Mapping[str, Any] | None) -> Binding | None:
        if row is None:
            self._kept.pop(number, None)
            return None
        binding = Binding.of(row)
        if self.seconds > 0:
            if len(self._kept) >= self.MAX_ENTRIES:
                self._kept.clear()
            self._kept[number] = (self._clock() + self.seconds, binding)
        return binding

    async def get_batched(self, number: str, pool: asyncpg.Pool) -> Binding | None:
        """`get`, reading through `pool` together with the other requests of the same moment:
        under load, one statement serves many requests' dossiers."""
        kept = self._kept.get(number)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        if self._loader is None or self._pool is not pool:
            self._pool = pool
            self._loader = DataLoader(partial(_read_many, pool), cache=False)
        return self._found(number, await self._loader.load(number))

    def keep(self, row: Mapping[str, Any]) -> None:
        """A dossier this process has just opened: its first request here needs no read."""
        if self.seconds > 0:
            binding = Binding.of(row)
            self._kept[binding.number] = (self._clock() + self.seconds, binding)

    def forget(self, number: str) -> None:
        self._kept.pop(number, None)


async def _read_many(pool: asyncpg.Pool, numbers: list[str]) -> list[Mapping[str, Any] | None]:
    rows = {row["number"]: row for row in await pool.fetch(BINDINGS_SQL, numbers)}
    return [rows.get(number) for number in numbers]


@dataclass(frozen=True)
class DossierFilter:
    """What a steward searches dossiers by; unset fields do not filter."""

    agency: str | None = None
    purpose: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    opened_since: datetime | None = None
    opened_until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.agency is not None:
            found.append(Dossier.agency == self.agency)
        if self.purpose is not None:
            found.append(Dossier.purpose == self.purpose)
        if self.subject_id is not None:
            wanted: dict[str, str] = {"id": self.subject_id}
            if self.subject_type is not None:
                wanted["type"] = self.subject_type
            found.append(Dossier.subjects.contains([wanted]))  # the GIN index answers it
        if self.opened_since is not None:
            found.append(Dossier.opened_at >= self.opened_since)
        if self.opened_until is not None:
            found.append(Dossier.opened_at < self.opened_until)
        return found


async def search(
    *, session: AsyncSession, where: DossierFilter, limit: int, before: tuple[datetime, str] | None
) -> list[Dossier]:
    """Newest first, keyset-paged on (opened_at, number)."""
    query = select(Dossier).where(*where.conditions())
    if before is not None:
        query = query.where(func.row(Dossier.opened_at, Dossier.number) < func.row(*before))
    query = query.order_by(Dossier.opened_at.desc(), Dossier.number.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def get(*, session: AsyncSession, number: str) -> Dossier | None:
    return await session.get(Dossier, number)
