"""Accountable access: each request admitted answers to an officer, a case and the limits.

After the token, the documents and the purpose are admitted (gateway.graph.router), and before
anything is decided or read:

- the officer: from an officer assertion signed by the calling agency's registered key, or from
  a token that names the officer (token exchange); the free-text `X-Officer` only in dev, logged
  as unverified. Where officers are required (`officer_required`, on in prod), `X-Officer` is
  refused and an agency's request for registry data without a verified officer is refused
  (OFFICER_REQUIRED).
- the dossier: a case-bound purpose needs `X-Dossier` naming an open dossier of this agency for
  this purpose (DOSSIER_REQUIRED otherwise, one answer whatever the reason); the policy then
  reaches by key only that dossier's subjects. A dossier sent for another purpose binds alike.
- the daily quotas of the purpose's agreements: refused (RATE_LIMITED, naming the agreement) once
  this process can lease no more of today's allowance; what a request disclosed is spent from it
  when the access log has recorded it (`spend`).

Every check reads one snapshot of the agency's policy (keys, case-bound purposes, quotas) at the
version the decisions then use: a compiled plan confirms that version in the statement that reads
the registry, and the generic executor decides on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from gateway.audit.writer import Disclosure
from gateway.dossiers.service import BINDING, DOSSIER_NUMBER, UNUSABLE
from gateway.errors import ErrorCode, GatewayError, bad_user_input
from gateway.graph.context import GatewayContext
from gateway.identity.errors import AuthenticationError
from gateway.identity.officers import OFFICER_ASSERTION_HEADER, OFFICER_ID, Officer
from gateway.policy.service import PolicyEntry
from gateway.quota.leases import QuotaScope, seconds_until_reset
from gateway.subjects import SUBJECT_KINDS

DOSSIER_HEADER = "x-dossier"


async def policy_entry(context: GatewayContext, *, fresh: bool) -> PolicyEntry:
    """The agency's policy snapshot this request is admitted and decided on: the one cached
    (a compiled plan confirms its version when it reads), or, `fresh`, the version in force."""
    agreements, agency = context.services.agreements, context.caller.agency
    entry = None if fresh else agreements.latest_entry(agency)
    if entry is None:
        async with context.database.session() as session:
            entry = await agreements.entry(session=session, agency=agency)
    context.guard.policy_version = entry.version
    return entry


async def account(
    context: GatewayContext, headers: Mapping[str, str], *, needs_purpose: bool, fresh: bool
) -> None:
    """Officer, dossier and quotas, as the module says; GatewayError when refused."""
    principal = context.caller
    purpose = context.purpose
    assertion = headers.get(OFFICER_ASSERTION_HEADER, "").strip()
    # What needs no policy data (reference data, no assertion) is admitted without reading it
    entry = await policy_entry(context, fresh=fresh) if purpose or assertion else None
    if not principal.is_citizen:  # a citizen acts for themselves; any other caller by an officer
        context.officer = _officer(context, headers, assertion, entry)
        settings = context.services.settings
        if context.officer is None and settings.officer_required and needs_purpose:
            _refused(context, "officer")
            raise GatewayError(
                ErrorCode.OFFICER_REQUIRED,
                "registry data is disclosed to an officer: send X-Officer-Assertion signed with "
                "your agency's registered key, or a token that names the officer",
            )
    if purpose is None or entry is None:
        return
    number = headers.get(DOSSIER_HEADER, "").strip() or None
    if number is not None or purpose in entry.case_bound:
        await _bind_dossier(context, number, purpose, case_bound=purpose in entry.case_bound)
    if needs_purpose:
        await _check_quotas(context, entry, purpose)


def _officer(
    context: GatewayContext,
    headers: Mapping[str, str],
    assertion: str,
    entry: PolicyEntry | None,
) -> Officer | None:
    principal, services = context.caller, context.services
    if assertion and entry is not None:
        try:
            officer = services.officers.verify(assertion, agency=principal.agency, keys=entry.keys)
        except AuthenticationError as error:
            raise GatewayError(ErrorCode.UNAUTHENTICATED, f"officer assertion: {error}") from error
        if principal.officer is not None and principal.officer.id != officer.id:
            raise GatewayError(
                ErrorCode.UNAUTHENTICATED,
                "officer assertion: it names another officer than the token does",
            )
        return officer
    if principal.officer is not None:
        return principal.officer
    header = headers.get("x-officer", "").strip()
    if not header:
        return None
    if services.settings.officer_required:  # prod: only verified officers
        raise GatewayError(
            ErrorCode.OFFICER_REQUIRED,
            "X-Officer is free text and not accepted here: send X-Officer-Assertion signed with "
            "your agency's registered key",
        )
    if not OFFICER_ID.fullmatch(header):
        raise bad_user_input("X-Officer", "X-Officer: up to 64 letters, digits or . @ : _ -")
    return Officer(id=header, name=None, unit=None, verified="header")


async def _bind_dossier(
    context: GatewayContext, number: str | None, purpose: str, *, case_bound: bool
) -> None:
    dossier = None
    if number is not None and DOSSIER_NUMBER.match(number):
        dossiers, pool = context.services.dossiers, context.services.reads
        dossier = (
            await dossiers.get_batched(number, pool)
            if pool is not None
            else await dossiers.get(number, partial(_read_dossier, context))
        )
    agency = context.caller.agency
    if dossier is None or not dossier.serves(agency=agency, purpose=purpose, now=_now()):
        _refused(context, "dossier")
        why = f"purpose {purpose} is case-bound" if case_bound else "X-Dossier names no dossier"
        raise GatewayError(ErrorCode.DOSSIER_REQUIRED, f"{why}: {UNUSABLE}")
    context.dossier = dossier.number
    context.guard.dossier = dossier.scope


async def _read_dossier(context: GatewayContext, number: str) -> Mapping[str, Any] | None:
    """The dossier's row on the primary, through the request's session (no plans' pool)."""
    async with context.database.session() as session:
        found = (await session.execute(BINDING, {"number": number})).mappings().first()
    return None if found is None else dict(found)


async def _check_quotas(context: GatewayContext, entry: PolicyEntry, purpose: str) -> None:
    agency = context.caller.agency
    for quota in entry.quotas_for(purpose, _now()):
        scope = QuotaScope(agency, purpose, SUBJECT_KINDS[quota.subject_type].audit_name)
        if not await context.services.quotas.allow(scope, quota=quota.quota):
            _refused(context, "quota")
            retry_after = seconds_until_reset()
            raise GatewayError(
                ErrorCode.RATE_LIMITED,
                f"agreement {quota.agreement_id} allows {quota.quota} {quota.subject_type} "
                f"subjects a day for {purpose}; today's are disclosed (resets at midnight, "
                "Vietnam time)",
                retryAfter=retry_after,
                agreement=quota.agreement_id,
                quota=quota.quota,
            )
        context.quota_scopes.add(scope)


def spend(context: GatewayContext, disclosures: list[Disclosure]) -> None:
    """What the access log has just recorded as disclosed, spent from the quotas checked."""
    if not context.quota_scopes:
        return
    counted = Counter(
        d.subject_type for d in disclosures if d.decision.get("outcome") == "disclosed"
    )
    for scope in context.quota_scopes:
        if counted[scope.subject_type]:
            context.services.quotas.spend(scope, counted[scope.subject_type])


def _refused(context: GatewayContext, kind: str) -> None:
    context.services.metrics.limit_refusals.labels(kind, context.caller.agency).inc()


def _now() -> datetime:
    return datetime.now(UTC)
