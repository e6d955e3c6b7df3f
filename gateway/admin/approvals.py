"""Who may decide a change: four-eyes, and stewards scoped to what they own.

A change under review (an agreement, an agency document, a form, a purpose, an agency's
reactivation) reaches one or more *scopes*:
- a registry's data (`gateway.subjects.STEWARDED_DOMAINS`: population, enterprise, land): decided
  by a steward of that registry (role `steward:<domain>`, nationwide, or `steward:<domain>:<pp>`
  for agencies of province `pp`);
- the platform itself (agencies, purposes: `PLATFORM`): decided by its administrator (`admin`).

Invariants:
- nobody decides a change they authored (four-eyes), whatever roles they hold;
- a decision counts only for the scopes the decider holds; a change is approved once every scope
  it reaches has an approval, each by a non-author holding it, and stays under review until then;
- whoever holds none of the scopes still to approve is refused, with the scopes named, and
  nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.admin.problems import Problem, forbidden
from gateway.identity.principal import Principal
from gateway.subjects import SUBJECT_KINDS

PLATFORM = "platform"


def domains_of(subject_types: Iterable[str]) -> frozenset[str]:
    """The registries whose stewards decide access to these subject types."""
    return frozenset(SUBJECT_KINDS[name].domain for name in subject_types)


def holds(decider: Principal, scope: str, province: str | None) -> bool:
    """Whether `decider` decides for `scope`, for an agency of `province`."""
    stewardship = decider.stewardship
    if scope == PLATFORM:
        return stewardship.admin
    return stewardship.covers(scope, province)


def _four_eyes(decider: Principal, authors: Iterable[str], what: str, action: str) -> None:
    if decider.subject in set(authors):
        raise forbidden(
            f"four-eyes: {decider.subject} proposed this {what}; another steward must {action} it",
            "four_eyes",
        )


def _scope_refusal(needed: Iterable[str], what: str, action: str, province: str | None) -> Problem:
    where = f" (or of province {province})" if province else ""
    names = ", ".join(sorted(needed))
    return forbidden(
        f"to {action} this {what} needs a steward of: {names}{where}; your roles hold none",
        "scope",
    )


def approve(
    decider: Principal,
    *,
    authors: Iterable[str],
    needs: frozenset[str],
    approvals: Mapping[str, str],
    province: str | None = None,
    what: str,
) -> dict[str, str]:
    """The approvals once `decider` has approved: every scope still open that they hold.
    Forbidden (four_eyes, scope) as the module says."""
    _four_eyes(decider, authors, what, "approve")
    open_scopes = needs - approvals.keys()
    mine = {scope for scope in open_scopes if holds(decider, scope, province)}
    if not mine:
        raise _scope_refusal(open_scopes or needs, what, "approve", province)
    return {**approvals, **dict.fromkeys(sorted(mine), decider.subject)}


def may_reject(
    decider: Principal,
    *,
    authors: Iterable[str],
    needs: frozenset[str],
    province: str | None = None,
    what: str,
) -> None:
    """A rejection, like an approval, is a decision: a non-author holding one of the scopes."""
    _four_eyes(decider, authors, what, "reject")
    if not any(holds(decider, scope, province) for scope in needs):
        raise _scope_refusal(needs, what, "reject", province)


def approved(needs: frozenset[str], approvals: Mapping[str, str]) -> bool:
    return needs <= approvals.keys()
