"""Who may decide a change: four-eyes and stewards scoped to their registries, as roles say.
The oracle is written from the roles alone: a decider holds a scope when a role names it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.admin import approvals
from gateway.admin.approvals import PLATFORM
from gateway.admin.problems import Problem
from gateway.identity.principal import Principal, Stewardship
from gateway.subjects import STEWARDED_DOMAINS

DOMAINS = sorted(STEWARDED_DOMAINS)
PROVINCES = ["01", "48", "79"]


def who(name: str, *roles: str) -> Principal:
    return Principal(
        agency="steward-console", subject=name, roles=frozenset(roles), token_id=None, expires_at=0
    )


def test_roles_parse_into_domains_provinces_and_admin() -> None:
    held = Stewardship.of(
        ["steward", "steward:land", "steward:population:48", "steward:population:79", "admin"]
    )
    assert held.admin
    assert held.covers("land") and held.covers("land", "01")
    assert held.covers("population", "48") and not held.covers("population", "01")
    assert not held.covers("population")  # a national agency needs a nationwide steward
    assert not held.covers("enterprise")


@pytest.mark.parametrize(
    "role",
    ["steward:lands", "steward:", "steward:land:4", "steward:land:048", "steward:land:ab",
     "Steward:land", "steward-land", "steward:land:48:01"],
)  # fmt: skip
def test_a_malformed_role_grants_nothing(role: str) -> None:
    held = Stewardship.of([role])
    assert not any(held.covers(d, p) for d in DOMAINS for p in [None, *PROVINCES])
    assert not held.admin


def test_a_plain_steward_may_use_the_api_but_decides_nothing() -> None:
    plain = who("lan", "steward")
    assert plain.is_steward
    with pytest.raises(Problem) as refused:
        approvals.approve(plain, authors={"minh"}, needs=frozenset({"land"}), approvals={},
                          what="agreement")  # fmt: skip
    assert refused.value.status == 403
    assert "land" in str(refused.value.detail)


def test_the_author_never_decides_whatever_roles_they_hold() -> None:
    author, needs = who("minh", "steward:land", "admin"), frozenset({"land"})
    with pytest.raises(Problem) as approving:
        approvals.approve(author, authors={"minh"}, needs=needs, approvals={}, what="agreement")
    with pytest.raises(Problem) as rejecting:
        approvals.may_reject(author, authors={"minh"}, needs=needs, what="agreement")
    for refused in (approving, rejecting):
        assert refused.value.extensions["reason"] == "four_eyes"


def test_a_change_reaching_two_registries_needs_a_steward_of_each() -> None:
    needs = frozenset({"land", "population"})
    first = approvals.approve(who("an", "steward:land"), authors={"minh"}, needs=needs,
                              approvals={}, what="document")  # fmt: skip
    assert first == {"land": "an"}
    assert not approvals.approved(needs, first)
    with pytest.raises(Problem):  # another land steward adds nothing
        approvals.approve(who("ba", "steward:land"), authors={"minh"}, needs=needs,
                          approvals=first, what="document")  # fmt: skip
    both = approvals.approve(who("chi", "steward:population"), authors={"minh"}, needs=needs,
                             approvals=first, what="document")  # fmt: skip
    assert both == {"land": "an", "population": "chi"}
    assert approvals.approved(needs, both)


roles = st.sets(
    st.one_of(
        st.sampled_from(["steward", "admin", "agency"]),
        st.builds(lambda d: f"steward:{d}", st.sampled_from(DOMAINS)),
        st.builds(
            lambda d, p: f"steward:{d}:{p}", st.sampled_from(DOMAINS), st.sampled_from(PROVINCES)
        ),
    ),
    max_size=4,
)


@given(
    held=roles,
    needs=st.sets(st.sampled_from([*DOMAINS, PLATFORM]), min_size=1),
    province=st.sampled_from([None, *PROVINCES]),
    author=st.booleans(),
)
def test_an_approval_counts_exactly_for_the_scopes_a_role_names(
    held: set[str], needs: set[str], province: str | None, author: bool
) -> None:
    def oracle(scope: str) -> bool:
        if scope == PLATFORM:
            return "admin" in held
        return f"steward:{scope}" in held or (
            province is not None and f"steward:{scope}:{province}" in held
        )

    expected = {scope for scope in needs if oracle(scope)}
    decider = who("lan", *held)
    authors = {"lan"} if author else {"minh"}
    if author or not expected:
        with pytest.raises(Problem) as refused:
            approvals.approve(decider, authors=authors, needs=frozenset(needs), approvals={},
                              province=province, what="change")  # fmt: skip
        assert refused.value.extensions["reason"] == ("four_eyes" if author else "scope")
        return
    result = approvals.approve(decider, authors=authors, needs=frozenset(needs), approvals={},
                               province=province, what="change")  # fmt: skip
    assert result == dict.fromkeys(expected, "lan")
