"""The decision interface the gateway calls, whatever evaluates the Rego."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal, Protocol

FieldOutcome = Literal["allow", "deny", "mask"]
DECISION_PATH = "lienthong/authz/decision"
VERDICT_PATH = "lienthong/authz/verdict"
VERDICTS_PATH = "lienthong/authz/verdicts"


class PolicyUnavailable(RuntimeError):  # noqa: N818 - the gateway maps it to UNAVAILABLE
    """No decision could be made: the caller must deny (fail closed)."""


@dataclass(frozen=True)
class DecisionRequest:
    agency: str
    roles: Sequence[str]
    purpose: str | None
    type: str
    subject: str
    fields: Sequence[str]
    agreements: Sequence[Mapping[str, Any]]
    consents: Sequence[Mapping[str, Any]] = ()
    via: str | None = None
    citizen_id: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The keys of this type the request's dossier concerns (a case-bound request at the root);
    # None: the request names no dossier, or the subject was reached through a relation.
    dossier: tuple[str, ...] | None = None

    def as_input(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "roles": list(self.roles),
            "citizen_id": self.citizen_id,
            "purpose": self.purpose,
            "type": self.type,
            "subject": self.subject,
            "fields": list(self.fields),
            "via": self.via,
            "now": self.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "agreements": list(self.agreements),
            "consents": list(self.consents),
            "dossier": None if self.dossier is None else list(self.dossier),
        }

    def alike(self, other: DecisionRequest) -> bool:
        """The same request but for the subject and its consents: decidable together."""
        return _shared_part(self) == _shared_part(other)


# Every field of a request but the subject and its consents, read in one C call: a batch compares
# each of its requests with the first, and a field added later is compared without a change here.
_shared_part = attrgetter(
    *(f.name for f in fields(DecisionRequest) if f.name not in ("subject", "consents"))
)


def batch_input(requests: Sequence[DecisionRequest]) -> dict[str, Any] | None:
    """The policy's input deciding `requests` in one evaluation (rule `verdicts`): the first's
    input with `subjects` in place of its subject and consents. None unless there are several
    and all are alike."""
    first = requests[0] if len(requests) > 1 else None
    if first is None or not all(first.alike(request) for request in requests[1:]):
        return None
    common = first.as_input()
    del common["subject"], common["consents"]
    common["subjects"] = [
        {"subject": request.subject, "consents": list(request.consents)} for request in requests
    ]
    return common


@dataclass(frozen=True)
class Decision:
    allow: bool
    fields: Mapping[str, FieldOutcome]
    reasons: Mapping[str, str]
    legal_basis: Sequence[str]
    masks: Mapping[str, str]

    @classmethod
    def from_verdict(cls, request: DecisionRequest, verdict: Any) -> Decision:
        """Shape the policy's `verdict` (its outcome as sets) as `decision` shapes it in Rego
        (the policy keeps allowed and masked apart; a field in both would be allowed here). Read
        directly, not through a `decision`-shaped dict: this runs
        per subject."""
        if not isinstance(verdict, dict):
            raise PolicyUnavailable("the policy gave no verdict")
        allowed = set(verdict.get("allowed") or ())
        masked = set(verdict.get("masked") or ())
        denials = verdict.get("denials") or {}
        return cls._read(
            request,
            allow=verdict.get("allow"),
            outcome=lambda name: "allow" if name in allowed else "mask" if name in masked else None,
            masks=verdict.get("masks") or {},
            reasons=((name, why) for why, names in denials.items() for name in names),
            legal_basis=verdict.get("legal_basis"),
        )

    @classmethod
    def from_verdicts(cls, requests: Sequence[DecisionRequest], verdicts: Any) -> list[Decision]:
        """The policy's `verdicts` for alike requests, one per request in order, or none at all.
        Alike requests ask the same fields, so an equal verdict (every subject without consent
        shares one) makes an equal Decision: it is shaped once."""
        if not isinstance(verdicts, list) or len(verdicts) != len(requests):
            raise PolicyUnavailable("the policy gave no verdict for every subject")
        decisions: list[Decision] = []
        previous: Any = None
        for request, verdict in zip(requests, verdicts, strict=True):
            if decisions and verdict == previous:
                decisions.append(decisions[-1])
            else:
                decisions.append(cls.from_verdict(request, verdict))
            previous = verdict
        return decisions

    @classmethod
    def from_result(cls, request: DecisionRequest, result: Any) -> Decision:
        """Read the policy's answer; anything malformed or missing a field denies it."""
        if not isinstance(result, dict):
            raise PolicyUnavailable("the policy gave no decision")
        outcomes = result.get("fields") or {}
        return cls._read(
            request,
            allow=result.get("allow"),
            outcome=outcomes.get,
            masks=(result.get("obligations") or {}).get("mask") or {},
            reasons=(result.get("reasons") or {}).items(),
            legal_basis=result.get("legal_basis"),
        )

    @classmethod
    def _read(
        cls,
        request: DecisionRequest,
        *,
        allow: Any,
        outcome: Callable[[str], Any],
        masks: Mapping[Any, Any],
        reasons: Iterable[tuple[Any, Any]],
        legal_basis: Any,
    ) -> Decision:
        """The one reading of an answer: each requested field allowed, masked (only with a mask
        kind, which it needs to be applied) or denied; allowed overall only if some field is."""
        fields: dict[str, FieldOutcome] = {}
        for name in request.fields:
            given = outcome(name)
            fields[name] = (
                "allow"
                if given == "allow"
                else "mask"
                if given == "mask" and masks.get(name)
                else "deny"
            )
        return cls(
            allow=bool(allow) and any(v != "deny" for v in fields.values()),
            fields=fields,
            reasons={str(k): str(v) for k, v in reasons},
            legal_basis=[str(item) for item in legal_basis or []],
            masks={str(k): str(v) for k, v in masks.items()},
        )


class PolicyEngine(Protocol):
    async def decide(self, request: DecisionRequest) -> Decision: ...

    async def decide_many(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        """One decision per request, in order: alike requests (a level of an answer) together,
        in as few evaluations as the engine allows; others one by one."""
        ...
