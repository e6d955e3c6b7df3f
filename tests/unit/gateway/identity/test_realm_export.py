"""The Keycloak realm export matches what the gateway and the contract expect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.identity.provisioning import agency_client_payload

REALM = json.loads(
    (Path(__file__).resolve().parents[4] / "infra/keycloak/realm-lienthong.json").read_text(
        encoding="utf-8"
    )
)
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
    }


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
