"""The deployable manifests, checked offline.

Kubernetes built-in kinds are validated against the Kubernetes OpenAPI schemas that the
`kubernetes-validate` package ships (strict: unknown fields are errors). The custom resources
(CloudNativePG `Cluster`/`ScheduledBackup`, Keycloak's `Keycloak`/`KeycloakRealmImport`) have no
schema there, so their structure is checked here. `infra/compose.yaml` is validated against the
compose specification by the `compose-spec` package, and its wiring (dependencies, mounted
files, OPA beside the gateway) is checked here.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from compose_spec import PyCompose
from kubernetes_validate import utils as kubernetes

from lienthong.resources import SHARED
from tests.dockerfile import DOCKERFILE, build_stage_sources, stages

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
    for container in containers.values():
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]


def test_opa_pulls_the_bundle_from_its_own_pods_gateway_over_loopback() -> None:
    """Not through the Service: it routes only to ready pods, and a gateway is ready only once
    its OPA has the bundle (the first deploy would wait for ever)."""
    bundle = yaml.safe_load((INFRA / "opa" / "config.yaml").read_text(encoding="utf-8"))
    url = urlsplit(bundle["services"]["lienthong"]["url"])
    assert url.hostname == "127.0.0.1"
    gateway = _containers(_one("Deployment", "lienthong-gateway"))["gateway"]
    (port,) = [p["containerPort"] for p in gateway["ports"] if p["name"] == "http"]
    assert url.port == port
    args = gateway["args"]
    assert args[args.index("--port") + 1] == str(port)
    assert args[args.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - loopback included
    # the readiness probe is the one that waits for OPA; liveness does not (no restart loop)
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    opa = _containers(_one("Deployment", "lienthong-gateway"))["opa"]
    assert opa["readinessProbe"]["httpGet"]["path"] == "/health?bundles"


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_the_gateway_reads_keycloak_inside_and_checks_the_public_issuer() -> None:
    env = _env(_containers(_one("Deployment", "lienthong-gateway"))["gateway"])
    keycloak = _one("Keycloak", "keycloak")["spec"]
    # the public URL, the issuer's base, is the one Keycloak names whatever the way in
    assert env["LIENTHONG_KEYCLOAK_URL"] == keycloak["hostname"]["hostname"]
    assert keycloak["hostname"]["hostname"].startswith("https://")
    internal = urlsplit(env["LIENTHONG_KEYCLOAK_INTERNAL_URL"])
    # the operator's Service for the Keycloak named `keycloak`, on its HTTP port
    assert internal.hostname == f"{_one('Keycloak', 'keycloak')['metadata']['name']}-service"
    assert keycloak["http"]["httpEnabled"] is True
    assert internal.port == keycloak["http"]["httpPort"]
    # only the gateway reaches that port
    policies = _policies_for(KEYCLOAK)
    assert any(_admits(p, GATEWAY, internal.port) for p in policies)
    assert not any(_admits(p, ETL, internal.port) for p in policies)
    egress = _one("NetworkPolicy", "lienthong-gateway")["spec"]["egress"]
    assert any(
        {"protocol": "TCP", "port": internal.port} in rule["ports"]
        and any(t.get("podSelector", {}).get("matchLabels") == KEYCLOAK for t in rule["to"])
        for rule in egress
    )


def test_the_ingress_serves_the_public_paths_over_tls() -> None:
    ingress = _one("Ingress", "lienthong-gateway")["spec"]
    env = _env(_containers(_one("Deployment", "lienthong-gateway"))["gateway"])
    public = urlsplit(env["LIENTHONG_PUBLIC_URL"])
    assert public.scheme == "https"
    (tls,) = ingress["tls"]
    assert tls["hosts"] == [public.hostname]
    assert tls["secretName"]
    (rule,) = ingress["rules"]
    assert rule["host"] == public.hostname
    paths = {p["path"]: p for p in rule["http"]["paths"]}
    assert set(paths) == {"/graphql", "/admin"}  # not /metrics, /readyz, /healthz, /bundles
    service = _one("Service", "lienthong-gateway")
    ports = {p["name"] for p in service["spec"]["ports"]}
    for path in paths.values():
        assert path["pathType"] == "Prefix"
        assert path["backend"]["service"]["name"] == service["metadata"]["name"]
        assert path["backend"]["service"]["port"]["name"] in ports
    # the controller named by the class is the one the gateway's NetworkPolicy admits
    assert ingress["ingressClassName"] == "nginx"
    sources = [
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for r in _one("NetworkPolicy", "lienthong-gateway")["spec"]["ingress"]
        for s in r["from"]
        if "namespaceSelector" in s
    ]
    assert "ingress-nginx" in sources


def test_migrations_run_as_a_job_of_their_own_with_the_gateways_image() -> None:
    """A first deploy needs the schema before any gateway can start, and the ETL Job waits for
    source files that may not exist yet: the migrations must not depend on it."""
    job = _one("Job", "lienthong-migrate")
    (migrate,) = _containers(job).values()
    assert migrate["args"] == ["db", "migrate"]
    images = {
        c["image"]
        for workload in [job, _one("Job", "lienthong-etl"), _one("Deployment", "lienthong-gateway"),
                         _one("Deployment", "lienthong-worker")]
        for name, c in _containers(workload).items()
        if name != "opa"
    }  # fmt: skip
    assert len(images) == 1, images  # one release: one image for all of them
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert any(_admits(p, labels, 5432) for p in _policies_for(DATABASE))
    assert any(
        rule["ports"] == [{"protocol": "TCP", "port": 5432}]
        for policy in _policies_for(labels)
        for rule in policy["spec"].get("egress", [])
    )


def test_no_other_pod_reaches_the_gateway_directly() -> None:
    """The bundle is pulled over loopback: gateway pods need not reach each other."""
    assert not any(_admits(p, GATEWAY, 8000) for p in _policies_for(GATEWAY))


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
WORKER = {"app.kubernetes.io/name": "lienthong-worker"}
DATABASE = {"cnpg.io/cluster": "lienthong-db"}
KEYCLOAK = {"app": "keycloak"}


def test_network_policies_deny_by_default() -> None:
    default = _one("NetworkPolicy", "default-deny")["spec"]
    assert default["podSelector"] == {}
    assert set(default["policyTypes"]) == {"Ingress", "Egress"}


@pytest.mark.parametrize(
    ("client", "allowed"),
    [(GATEWAY, True), (ETL, True), (WORKER, True), (KEYCLOAK, False), ({"app": "anything"}, False)],
)
def test_only_the_gateway_the_etl_and_the_workers_reach_the_registries(
    client: dict[str, str], allowed: bool
) -> None:
    policies = _policies_for(DATABASE)
    assert any(_admits(p, client, 5432) for p in policies) is allowed


@pytest.mark.parametrize("client", [GATEWAY, ETL, WORKER, KEYCLOAK, DATABASE])
def test_no_pod_reaches_opa(client: dict[str, str]) -> None:
    assert not any(_admits(p, client, 8181) for p in _policies_for(GATEWAY))


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8")))


def test_compose_matches_the_compose_specification() -> None:
    compose = PyCompose.from_yaml((INFRA / "compose.yaml").read_text(encoding="utf-8"))
    compose.validate()
    assert set(compose.service_names()) == {
        "postgres", "keycloak", "migrate", "lienthong-gateway", "opa", "lienthong-worker", "etl",
        "audit-checkpoint",
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
    bundle_url = urlsplit(bundle["services"]["lienthong"]["url"])
    assert bundle_url.hostname == "127.0.0.1"  # the gateway's namespace, shared
    command = gateway["command"]
    assert command[command.index("--port") + 1] == str(bundle_url.port)
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    etl = services["etl"]
    assert etl["profiles"] == ["etl"] and etl["restart"] == "no"  # a one-off job
    dockerfile = ROOT / services["migrate"]["build"]["dockerfile"]
    assert dockerfile.exists()


def test_compose_gateway_reads_keycloak_by_its_service_name() -> None:
    """Inside the gateway's container localhost is the container: the keys are read at the
    Keycloak service's name, and tokens keep the public issuer Keycloak is told to name."""
    services = _compose()["services"]
    env = services["lienthong-gateway"]["environment"]
    internal = urlsplit(env["LIENTHONG_KEYCLOAK_INTERNAL_URL"])
    assert internal.hostname == "keycloak" and "keycloak" in services
    command = services["keycloak"]["command"]
    assert f"--http-port={internal.port}" in command
    keycloak_env = services["keycloak"]["environment"]
    assert env["LIENTHONG_KEYCLOAK_URL"] == keycloak_env["KC_HOSTNAME"]
    assert keycloak_env["KC_HEALTH_ENABLED"] == "true"
    assert "/health/ready" in " ".join(services["keycloak"]["healthcheck"]["test"])
    assert services["lienthong-gateway"]["depends_on"]["keycloak"]["condition"] == (
        "service_healthy"
    )


def test_two_workers_share_the_deliveries_probed_on_their_own_port() -> None:
    """`lienthong worker`: two replicas (a pod killed mid-delivery is made good by the other),
    /healthz on the port its args name, which is the metrics port Prometheus scrapes."""
    deployment = _one("Deployment", "lienthong-worker")
    assert deployment["spec"]["replicas"] == 2
    (worker,) = _containers(deployment).values()
    args = worker["args"]
    assert args[0] == "worker"
    (port,) = worker["ports"]
    assert port["name"] == "metrics"
    assert args[args.index("--port") + 1] == str(port["containerPort"])
    assert args[args.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - the kubelet probes it
    for probe in ("readinessProbe", "livenessProbe"):
        assert worker[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    env = {e["name"]: e for e in worker["env"]}
    assert env["LIENTHONG_ENV"]["value"] == "prod"
    assert env["LIENTHONG_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "lienthong-db-app"
    assert "LIENTHONG_DATABASE_REPLICA_URLS" not in env  # a replica may lag the events' rows
    assert "LIENTHONG_OPA_URL" not in env  # no sidecar: the embedded engine
    assert env["LIENTHONG_OPS_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "lienthong-ops"
    lease = float(env["LIENTHONG_WEBHOOK_LEASE_SECONDS"]["value"])
    timeout = float(env["LIENTHONG_WEBHOOK_TIMEOUT_SECONDS"]["value"])
    assert lease >= 2 * timeout  # lienthong/settings.py refuses less
    # a stopping pod finishes what it is sending
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > timeout
    assert worker["resources"]["requests"]["cpu"] and worker["resources"]["limits"]["memory"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", "lienthong-worker")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    # Prometheus may scrape it; the workers reach the database and HTTPS endpoints only
    policies = _policies_for(WORKER)
    assert any(
        source.get("namespaceSelector", {}).get("matchLabels")
        == {"kubernetes.io/metadata.name": "monitoring"}
        for policy in policies
        for rule in policy["spec"]["ingress"]
        for source in rule["from"]
    )
    egress = [rule for policy in policies for rule in policy["spec"].get("egress", [])]
    assert {p["port"] for rule in egress for p in rule["ports"]} == {53, 5432, 443}  # 53: DNS
    assert not any(_admits(p, WORKER, 8000) for p in _policies_for(GATEWAY))
    assert _one("PodDisruptionBudget", "lienthong-worker")["spec"]["minAvailable"] == 1


def test_compose_runs_two_workers_beside_the_gateway() -> None:
    services = _compose()["services"]
    worker, gateway = services["lienthong-worker"], services["lienthong-gateway"]
    assert worker["image"] == gateway["image"]
    command = worker["command"]
    assert command[0] == "worker"
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}/healthz" in " ".join(worker["healthcheck"]["test"])
    assert worker["deploy"]["replicas"] == 2
    assert "ports" not in worker  # two replicas: no host port; metrics on the compose network
    env = worker["environment"]
    assert env["LIENTHONG_DATABASE_URL"] == gateway["environment"]["LIENTHONG_DATABASE_URL"]
    assert env["LIENTHONG_ENV"] == "prod"
    assert "LIENTHONG_OPS_TOKEN" in env
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_image_is_built_from_the_wheel_with_its_shared_files() -> None:
    build, runtime = stages()
    sources = build_stage_sources()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for needed in ["pyproject.toml", "setup.py", "README.md", *[p.rstrip("*") for p in packages]]:
        assert needed in sources, f"the wheel stage does not copy {needed}"
    for shared in SHARED:  # lienthong/resources.py: what setup.py puts under lienthong/share/
        assert any(shared == s or shared.startswith(s + "/") for s in sources), shared
    for source in sources:
        assert (ROOT / source).exists(), source
    assert any(i == "RUN" and "pip wheel" in " ".join(a) and "--no-deps" in a for i, a in build)
    # the image: the wheel alone, nothing of the checkout
    copies = [a for i, a in runtime if i == "COPY"]
    assert copies and all(a[0] == "--from=wheel" for a in copies)
    installs = [" ".join(a) for i, a in runtime if i == "RUN" and "pip install" in " ".join(a)]
    assert installs and all(".whl" in command for command in installs)
    entry = dict(runtime)
    assert entry["ENTRYPOINT"] == ['["lienthong"]']
    assert entry["USER"] == ["lienthong"]
    assert entry["ENV"] == ["LIENTHONG_HOME=/var/lib/lienthong"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether a .dockerignore excludes `path`: the last pattern matching it or one of its
    parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw.removeprefix("!")
        matches = [
            fnmatch.fnmatchcase(prefix, pattern)
            or (pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1],
                                                                   pattern[3:]))
            for prefix in prefixes
        ]  # fmt: skip
        if any(matches):
            verdict = not negated
    return verdict


def test_the_build_context_sends_what_the_dockerfile_copies_and_little_else() -> None:
    ignore = DOCKERFILE.with_name(DOCKERFILE.name + ".dockerignore")
    patterns = [
        line.strip()
        for line in ignore.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in build_stage_sources():
        assert not _ignored(source, patterns), f"{source} is copied but not sent"
    heavy = [".venv", ".lienthong/pg", "tests/oidc/node_modules", ".git",
             "gateway/graphiql/static/graphiql.js", "lienthong/__pycache__/x.pyc"]  # fmt: skip
    for path in heavy:
        assert _ignored(path, patterns), path


AUDIT_CHECKPOINT = {"app.kubernetes.io/name": "lienthong-audit-checkpoint"}


def test_checkpoints_are_signed_on_a_schedule_with_a_key_only_their_job_mounts() -> None:
    """`lienthong audit checkpoint` as a CronJob (docs/audit.md): the gateway's image, one run
    at a time, its key from a Secret no other workload mounts, its sink outside the database."""
    cron = _one("CronJob", "lienthong-audit-checkpoint")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    minutes = cron["spec"]["schedule"].split()[0]
    assert minutes.startswith("*/") and int(minutes[2:]) <= 15
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"] == AUDIT_CHECKPOINT
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["audit", "checkpoint"]
    gateway = _containers(_one("Deployment", "lienthong-gateway"))["gateway"]
    assert container["image"] == gateway["image"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LIENTHONG_ENV"]["value"] == "prod"  # prod: no key file, no checkpoint
    assert env["LIENTHONG_AUDIT_CHECKPOINT_SINKS"]["value"].startswith("s3://")
    key_file = Path(env["LIENTHONG_AUDIT_CHECKPOINT_KEY_FILE"]["value"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[str(key_file.parent)]
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    secret = volumes[mount["name"]]["secret"]
    assert [item["path"] for item in secret["items"]] == [key_file.name]
    # the signing key is in no other workload: whoever runs the gateway cannot sign checkpoints
    workloads = [d for d in _documents() if d["kind"] in {"Deployment", "Job", "CronJob"}]
    for document in workloads:
        if document["metadata"]["name"] != cron["metadata"]["name"]:
            assert secret["secretName"] not in json.dumps(document)
    assert any(_admits(p, AUDIT_CHECKPOINT, 5432) for p in _policies_for(DATABASE))
    egress = [r for p in _policies_for(AUDIT_CHECKPOINT) for r in p["spec"].get("egress", [])]
    assert any({"protocol": "TCP", "port": 443} in r["ports"] for r in egress)


def test_compose_checkpoints_with_a_key_from_a_secret_file() -> None:
    compose = _compose()
    service = compose["services"]["audit-checkpoint"]
    assert service["command"][:2] == ["audit", "checkpoint"]
    assert "--every" in service["command"]
    env = service["environment"]
    (secret,) = service["secrets"]
    assert env["LIENTHONG_AUDIT_CHECKPOINT_KEY_FILE"] == f"/run/secrets/{secret}"
    assert secret in compose["secrets"]
    assert env["LIENTHONG_ENV"] == "prod"
    sink = env["LIENTHONG_AUDIT_CHECKPOINT_SINKS"]
    assert any(v.split(":", 1)[1] == sink for v in service["volumes"])
    assert "audit_checkpoint_key" not in json.dumps(compose["services"]["lienthong-gateway"])
