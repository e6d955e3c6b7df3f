"""The deployable manifests, checked offline.

Kubernetes built-in kinds are validated against the Kubernetes OpenAPI schemas that the
`kubernetes-validate` package ships (strict: unknown fields are errors). The custom resources
(CloudNativePG `Cluster`/`ScheduledBackup`, Keycloak's `Keycloak`/`KeycloakRealmImport`) have no
schema there, so their structure is checked here. `infra/compose.yaml` is validated against the
compose specification by the `compose-spec` package, and its wiring (dependencies, mounted
files, OPA beside the gateway) is checked here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose
from kubernetes_validate import utils as kubernetes

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
KUBERNETES_VERSION = "1.33"
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("k8s.keycloak.org/v2alpha1", "Keycloak"),
    ("k8s.keycloak.org/v2alpha1", "KeycloakRealmImport"),
}


def _documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return [
        document
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8"))
    ]


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _containers(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def test_the_kustomization_names_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


@pytest.mark.parametrize(
    "document",
    [d for d in _documents() if (d["apiVersion"], d["kind"]) not in CUSTOM_KINDS],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_built_in_kinds_match_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes.validate(document, KUBERNETES_VERSION, strict=True)
    assert document["metadata"].get("namespace", "lienthong") == "lienthong"


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    deployment = json.loads(json.dumps(_one("Deployment", "lienthong-gateway")))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes.ValidationError):
        kubernetes.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_custom_resource_is_one_we_check() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for d in _documents()}
    # built-in API groups have no dot (core, apps, batch, …) or end in .k8s.io
    groups = {kind: kind[0].rsplit("/", 1)[0] for kind in kinds}
    custom = {k for k, g in groups.items() if "." in g and not g.endswith(".k8s.io")}
    assert custom == CUSTOM_KINDS


def test_the_gateway_runs_with_an_opa_sidecar_and_reads_from_the_replicas() -> None:
    deployment = _one("Deployment", "lienthong-gateway")
    containers = _containers(deployment)
    assert set(containers) == {"gateway", "opa"}
    env = {e["name"]: e for e in containers["gateway"]["env"]}
    assert env["LIENTHONG_OPA_URL"]["value"] == "http://127.0.0.1:8181"
    assert env["LIENTHONG_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "lienthong-db-app"
    assert "@lienthong-db-ro:5432/" in env["LIENTHONG_DATABASE_REPLICA_URLS"]["value"]
    names = list(env)  # $(DB_PASSWORD) expands only from a variable defined before it
    assert names.index("DB_PASSWORD") < names.index("LIENTHONG_DATABASE_REPLICA_URLS")
    assert env["LIENTHONG_ENV"]["value"] == "prod"
    assert env["LIENTHONG_AUTH_MODE"]["value"] == "keycloak"
    opa = containers["opa"]
    assert "--config-file" in opa["args"]
    mounted = {v["name"] for v in opa["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[next(iter(mounted & {"opa-config"}))]["configMap"]["name"] == "opa-config"
    config = _one("ConfigMap", "opa-config")["data"]["config.yaml"]
    assert config == (INFRA / "opa" / "config.yaml").read_text(encoding="utf-8")
    bundle = yaml.safe_load(config)
    assert bundle["bundles"]["lienthong"]["resource"] == "/bundles/lienthong.tar.gz"
    assert bundle["services"]["lienthong"]["url"] == "http://lienthong-gateway:8000"
    for container in containers.values():
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]


def test_the_service_and_autoscaler_point_at_the_gateway() -> None:
    labels = _one("Deployment", "lienthong-gateway")["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", "lienthong-gateway")
    assert service["spec"]["selector"].items() <= labels.items()
    hpa = _one("HorizontalPodAutoscaler", "lienthong-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "lienthong-gateway",
    }  # fmt: skip
    assert 1 < hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_the_database_is_a_postgis_primary_with_two_replicas() -> None:
    cluster = _one("Cluster", "lienthong-db")["spec"]
    assert cluster["instances"] == 3  # CloudNativePG: one primary, the others streaming replicas
    assert "postgis" in cluster["imageName"]
    assert (
        "CREATE EXTENSION IF NOT EXISTS postgis"
        in (cluster["bootstrap"]["initdb"]["postInitApplicationSQL"])
    )
    assert cluster["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    assert cluster["resources"]["requests"]["memory"]
    backup = _one("ScheduledBackup", "lienthong-db-nightly")["spec"]
    assert backup["cluster"]["name"] == "lienthong-db"


def test_keycloak_runs_from_its_operator_with_the_repository_realm() -> None:
    keycloak = _one("Keycloak", "keycloak")["spec"]
    assert keycloak["instances"] >= 2
    assert keycloak["db"]["host"] == "keycloak-db-rw"  # the service of the keycloak-db Cluster
    _one("Cluster", "keycloak-db")
    realm_import = _one("KeycloakRealmImport", "lienthong-realm")["spec"]
    assert realm_import["keycloakCRName"] == "keycloak"
    realm = json.loads((INFRA / "keycloak" / "realm-lienthong.json").read_text(encoding="utf-8"))
    assert realm_import["realm"] == realm, "regenerate: see docs/operations.md (Keycloak realm)"


def _admits(policy: dict[str, Any], labels: dict[str, str], port: int) -> bool:
    for rule in policy["spec"].get("ingress", []):
        ports = {p["port"] for p in rule.get("ports", [])}
        sources = rule.get("from", [])
        from_pod = any(
            "podSelector" in s
            and "namespaceSelector" not in s
            and s["podSelector"]["matchLabels"].items() <= labels.items()
            for s in sources
        )
        if (not ports or port in ports) and (not sources or from_pod):
            return True
    return False


def _policies_for(labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        d
        for d in _documents()
        if d["kind"] == "NetworkPolicy"
        and d["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]


GATEWAY = {"app.kubernetes.io/name": "lienthong-gateway"}
ETL = {"app.kubernetes.io/name": "lienthong-etl"}
DATABASE = {"cnpg.io/cluster": "lienthong-db"}
KEYCLOAK = {"app": "keycloak"}


def test_network_policies_deny_by_default() -> None:
    default = _one("NetworkPolicy", "default-deny")["spec"]
    assert default["podSelector"] == {}
    assert set(default["policyTypes"]) == {"Ingress", "Egress"}


@pytest.mark.parametrize(
    ("client", "allowed"),
    [(GATEWAY, True), (ETL, True), (KEYCLOAK, False), ({"app": "anything"}, False)],
)
def test_only_the_gateway_and_the_etl_reach_the_registries(
    client: dict[str, str], allowed: bool
) -> None:
    policies = _policies_for(DATABASE)
    assert any(_admits(p, client, 5432) for p in policies) is allowed


@pytest.mark.parametrize("client", [GATEWAY, ETL, KEYCLOAK, DATABASE])
def test_no_pod_reaches_opa(client: dict[str, str]) -> None:
    assert not any(_admits(p, client, 8181) for p in _policies_for(GATEWAY))


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8")))


def test_compose_matches_the_compose_specification() -> None:
    compose = PyCompose.from_yaml((INFRA / "compose.yaml").read_text(encoding="utf-8"))
    compose.validate()
    assert set(compose.service_names()) == {
        "postgres", "keycloak", "migrate", "lienthong-gateway", "opa", "etl",
    }  # fmt: skip


def test_the_compose_validator_rejects_an_unknown_key() -> None:
    with pytest.raises(ValueError, match="imagee"):
        PyCompose.from_yaml("services:\n  gateway:\n    imagee: lienthong\n").validate()


def test_compose_wiring() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on an unknown service {needed}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts a missing {source}"
    assert (INFRA / "keycloak" / "realm-lienthong.json").exists()
    assert "--import-realm" in services["keycloak"]["command"]
    # OPA as a sidecar: in the gateway's network namespace, answering it on loopback, pulling
    # the bundle from the gateway named in infra/opa/config.yaml
    opa = services["opa"]
    assert opa["network_mode"] == "service:lienthong-gateway"
    assert "127.0.0.1:8181" in opa["command"]
    gateway = services["lienthong-gateway"]
    assert gateway["environment"]["LIENTHONG_OPA_URL"] == "http://127.0.0.1:8181"
    bundle = yaml.safe_load((INFRA / "opa" / "config.yaml").read_text(encoding="utf-8"))
    assert bundle["services"]["lienthong"]["url"].startswith("http://lienthong-gateway:8000")
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    etl = services["etl"]
    assert etl["profiles"] == ["etl"] and etl["restart"] == "no"  # a one-off job
    dockerfile = ROOT / services["migrate"]["build"]["dockerfile"]
    assert dockerfile.exists()
