"""The Keycloak realm export matches what the gateway and the contract expect: the roles a
steward's decisions depend on, held by its groups and by the demo stewards (kept out of the
realm, in `infra/keycloak/demo/stewards.json`), as the gateway reads them from a token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.identity.principal import Principal, Stewardship, roles_from_claims
from gateway.identity.provisioning import agency_client_payload
from gateway.subjects import STEWARDED_DOMAINS

KEYCLOAK = Path(__file__).resolve().parents[4] / "infra/keycloak"
REALM = json.loads((KEYCLOAK / "realm-lienthong.json").read_text(encoding="utf-8"))
DEMO_STEWARDS = json.loads((KEYCLOAK / "demo/stewards.json").read_text(encoding="utf-8"))
SAMPLE_AGENCIES = {"motcua-danang", "thue-hcm", "tainguyen-danang", "nganhang-abc"}


def _clients() -> dict[str, dict[str, Any]]:
    return {client["clientId"]: client for client in REALM["clients"]}


def test_realm_roles() -> None:
    assert REALM["realm"] == "lienthong"
    assert {role["name"] for role in REALM["roles"]["realm"]} == {
        "agency",
        "steward",
        "citizen",
        "officer",
        "admin",
        "steward:population",
        "steward:enterprise",
        "steward:land",
    }


def test_each_registry_has_a_nationwide_steward_role_the_gateway_reads() -> None:
    names = [role["name"] for role in REALM["roles"]["realm"]]
    stewardship = Stewardship.of(names)
    assert stewardship.admin
    assert stewardship.domains == dict.fromkeys(STEWARDED_DOMAINS)  # each nationwide
    provinces = next(r for r in REALM["roles"]["realm"] if r["name"] == "steward:land")
    assert "steward:land:<2-digit province code>" in provinces["description"]


def _group_roles() -> dict[str, list[str]]:
    return {f"/{group['name']}": group["realmRoles"] for group in REALM["groups"]}


def test_each_steward_group_stewards_one_scope() -> None:
    groups = _group_roles()
    admins = Stewardship.of(groups["/platform-administrators"])
    assert (admins.admin, dict(admins.domains)) == (True, {})
    for domain in STEWARDED_DOMAINS:
        roles = groups[f"/{domain}-stewards"]
        assert "steward" in roles
        stewardship = Stewardship.of(roles)
        assert (stewardship.admin, dict(stewardship.domains)) == (False, {domain: None})
    plain = Stewardship.of(groups["/stewards"])  # may use the admin API; decides nothing
    assert (plain.admin, dict(plain.domains)) == (False, {})


def _steward(user: dict[str, Any]) -> Principal:
    """The demo user as the gateway sees a steward-console token of theirs: the realm roles of
    their groups and their own (the console maps every realm role: fullScopeAllowed)."""
    groups = _group_roles()
    roles = {*user.get("realmRoles", []), *(r for g in user.get("groups", []) for r in groups[g])}
    claims = {"realm_access": {"roles": sorted(roles)}}
    return Principal(
        agency="steward-console",
        subject=user["username"],
        roles=roles_from_claims(claims, audience="lienthong-gateway"),
        token_id=None,
        expires_at=0,
    )


def test_the_demo_stewards_hold_what_they_decide() -> None:
    stewards = {user["username"]: _steward(user) for user in DEMO_STEWARDS["users"]}
    assert all(s.is_steward for s in stewards.values())
    assert stewards["tranthilan"].stewardship.admin
    assert not stewards["tranthilan"].stewardship.covers("population")
    for name, domain in (
        ("levanminh", "population"), ("dovanhai", "enterprise"), ("phamthidat", "land"),
    ):  # fmt: skip
        stewardship = stewards[name].stewardship
        assert stewardship.covers(domain, None) and stewardship.covers(domain, "48")
        assert not stewardship.admin
        assert [d for d in STEWARDED_DOMAINS if stewardship.covers(d, None)] == [domain]
    tam = stewards["nguyenthitam"].stewardship  # Đà Nẵng's land steward
    assert tam.covers("land", "48")
    assert not tam.covers("land", None) and not tam.covers("land", "01")
    # a province's role is created as needed: the demo brings the one it uses
    defined = {r["name"] for r in [*REALM["roles"]["realm"], *DEMO_STEWARDS["roles"]["realm"]]}
    used = {r for u in DEMO_STEWARDS["users"] for r in u.get("realmRoles", [])}
    assert used <= defined
    assert all(g in _group_roles() for u in DEMO_STEWARDS["users"] for g in u.get("groups", []))
    assert all("credentials" not in u for u in DEMO_STEWARDS["users"])  # no password committed


def test_the_stewards_console_carries_the_stewards_roles_to_the_gateway() -> None:
    console = _clients()["steward-console"]
    assert console["fullScopeAllowed"] is True
    mappers = {m["protocolMapper"]: m["config"] for m in console["protocolMappers"]}
    assert mappers["oidc-audience-mapper"]["included.client.audience"] == "lienthong-gateway"


def test_each_sample_agency_is_a_client_credentials_client_with_the_gateway_audience() -> None:
    clients = _clients()
    for agency in SAMPLE_AGENCIES:
        client = clients[agency]
        assert client["serviceAccountsEnabled"] is True
        assert client["publicClient"] is False
        assert client["standardFlowEnabled"] is False
        mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        assert mappers["oidc-audience-mapper"]["included.client.audience"] == "lienthong-gateway"
    accounts = {u["serviceAccountClientId"]: u["realmRoles"] for u in REALM["users"]}
    assert {agency: ["agency"] for agency in SAMPLE_AGENCIES} == accounts


def test_citizen_portal_is_public_with_pkce_and_maps_citizen_id() -> None:
    portal = _clients()["citizen-portal"]
    assert portal["publicClient"] is True
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    claims = {m["config"].get("claim.name") for m in portal["protocolMappers"]}
    assert "citizen_id" in claims


def test_provisioned_clients_look_like_the_exported_ones() -> None:
    exported = _clients()["motcua-danang"]
    provisioned = agency_client_payload(
        client_id="motcua-danang", name=exported["name"], audience="lienthong-gateway"
    )
    for key in ("publicClient", "serviceAccountsEnabled", "standardFlowEnabled"):
        assert provisioned[key] == exported[key]


def test_no_real_secret_is_committed() -> None:
    assert all(c.get("secret", "**********") == "**********" for c in REALM["clients"])
