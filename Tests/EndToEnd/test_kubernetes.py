"""The Kubernetes manifests (deploy/kubernetes), checked offline: every object of the base and
of the production overlay validates against the Kubernetes OpenAPI schemas (the
kubernetes-validate package carries them), and the operational invariants hold — probes,
limits, non-root, read-only, disruption budgets, autoscaling, network policies, no secret
values, every variable the services read provided. No cluster can be started here.

The overlay uses only the kustomize features `render` applies (resources, namespace, labels,
images, replicas, strategic-merge patches of maps); where `kubectl` is installed its own
`kubectl kustomize` output is compared with ours, so the two cannot drift."""
import copy
import pathlib
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, variables_read

KUBE = ROOT / "deploy" / "kubernetes"
VERSIONS = ["1.29.0", "1.33.0"]
CLUSTER_SCOPED = {"Namespace"}


def merge(base, patch):
    """A strategic-merge patch as these manifests use it: maps merge, lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(patch)


def render(directory):
    """The objects a kustomization directory stands for."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for entry in kustomization.get("labels", []):
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(entry["pairs"])
    for patch_entry in kustomization.get("patches", []):
        patch = yaml.safe_load((directory / patch_entry["path"]).read_text())
        matches = [i for i, obj in enumerate(objects)
                   if obj["kind"] == patch["kind"] and obj["metadata"]["name"] == patch["metadata"]["name"]]
        assert len(matches) == 1, f"patch {patch_entry['path']} matches {len(matches)} objects"
        objects[matches[0]] = merge(objects[matches[0]], patch)
    for replica in kustomization.get("replicas", []):
        for obj in objects:
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == replica["name"]:
                obj["spec"]["replicas"] = replica["count"]
    images = {image["name"]: image for image in kustomization.get("images", [])}
    for obj in objects:
        for container in pod_containers(obj):
            name, _, tag = container["image"].partition(":")
            if name in images:
                image = images[name]
                container["image"] = image.get("newName", name) + ":" + image.get("newTag", tag or "latest")
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def pod_spec(obj):
    if obj["kind"] in ("Deployment", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def pod_containers(obj):
    spec = pod_spec(obj)
    return (spec.get("initContainers", []) + spec["containers"]) if spec else []


def by_kind(objects, kind):
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def key(obj):
    return (obj["kind"], obj["metadata"]["name"])


RENDERED = {"base": render(KUBE / "base"), "production": render(KUBE / "overlays" / "production")}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_the_rendering_is_kustomizes(name):
    output = subprocess.run(["kubectl", "kustomize", str(KUBE / name)], check=True, capture_output=True,
                            text=True, timeout=120).stdout
    theirs = sorted((doc for doc in yaml.safe_load_all(output) if doc), key=key)
    ours = sorted(RENDERED["base" if name == "base" else "production"], key=key)
    assert [key(obj) for obj in ours] == [key(obj) for obj in theirs]
    for mine, real in zip(ours, theirs):
        assert mine == real, key(mine)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_object_validates_against_the_kubernetes_schemas(name, version):
    for obj in RENDERED[name]:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_traefik_alternative_routes_like_compose():
    docs = [doc for doc in yaml.safe_load_all((KUBE / "alternatives" / "traefik-ingressroute.yaml").read_text()) if doc]
    route = next(doc for doc in docs if doc["kind"] == "IngressRoute")
    middlewares = {doc["metadata"]["name"]: doc["spec"] for doc in docs if doc["kind"] == "Middleware"}
    compose = (ROOT / "deploy" / "traefik" / "dynamic" / "routes.yml").read_text()
    for match in [r["match"] for r in route["spec"]["routes"]]:
        assert match in compose, match
    for used in {m["name"] for r in route["spec"]["routes"] for m in r.get("middlewares", [])}:
        assert used in middlewares
    assert middlewares["webhook-inflight"]["inFlightReq"]["sourceCriterion"]["ipStrategy"]["ipv6Subnet"] == 64


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_each_service_runs_replicated_probed_limited_and_unprivileged(name):
    objects = RENDERED[name]
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {"auth", "connectors"}
    for service, deployment in deployments.items():
        assert deployment["spec"]["replicas"] >= 2
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the image's user
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        main = spec["containers"][0]
        assert main["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert main["livenessProbe"]["httpGet"]["path"] == "/health"
        assert main["startupProbe"]["httpGet"]["path"] == "/health"
        # Out of rotation before SIGTERM: the ingress stops sending before the process stops.
        assert main["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        for container in pod_containers(deployment):
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) >= {"cpu", "memory"}, (service, container["name"])
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
        # Pending migrations run before the service does.
        assert [c["args"] for c in spec["initContainers"]] == [["migrate"]]


def test_the_connectors_service_is_given_time_to_finish_an_agent_run():
    config = by_kind(RENDERED["base"], "ConfigMap")["connectors-config"]["data"]
    grace = int(config["AGENT_SHUTDOWN_GRACE_SECONDS"])
    agent_timeout = int(re.search(r'"AGENT_TIMEOUT_SECONDS", default: (\d+)',
                                  (ROOT / "Sources/ConnectorsService/ConnectorsConfig.swift").read_text()).group(1))
    assert grace >= agent_timeout
    pod = pod_spec(by_kind(RENDERED["base"], "Deployment")["connectors"])
    assert pod["terminationGracePeriodSeconds"] >= grace + 10


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_deployment_has_a_disruption_budget_and_an_autoscaler(name):
    objects = RENDERED[name]
    deployments = by_kind(objects, "Deployment")
    budgets = list(by_kind(objects, "PodDisruptionBudget").values())
    scalers = list(by_kind(objects, "HorizontalPodAutoscaler").values())
    for service, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1 and covering[0]["spec"]["minAvailable"] >= 1, service
        scaling = [s for s in scalers if s["spec"]["scaleTargetRef"]["name"] == service]
        assert len(scaling) == 1, service
        assert scaling[0]["spec"]["minReplicas"] >= 2
        assert scaling[0]["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_the_migration_job_runs_migrate_unprivileged():
    job = by_kind(RENDERED["base"], "Job")["connectors-migrate"]
    container = pod_spec(job)["containers"][0]
    assert container["args"] == ["migrate"]
    assert pod_spec(job)["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["backoffLimit"] >= 1


SECRET_NAMES = re.compile(r"(SECRET|_KEY|TOKEN|PASSWORD|DATABASE_URL|REDIS_URL)")


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_no_secret_value_is_in_the_manifests(name):
    objects = RENDERED[name]
    assert "Secret" not in {obj["kind"] for obj in objects}
    for config in by_kind(objects, "ConfigMap").values():
        assert not [k for k in config["data"] if SECRET_NAMES.search(k)]
    for obj in objects:
        for container in pod_containers(obj):
            for variable in container.get("env", []):
                if SECRET_NAMES.search(variable["name"]):
                    assert "value" not in variable, variable["name"]
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "connectors-secrets"


@pytest.mark.parametrize("service", ["auth", "connectors"])
def test_every_variable_a_service_reads_is_provided(service):
    configmap = (KUBE / "base" / "configmap.yaml").read_text()
    provided = set(yaml.safe_load(configmap)["data"])
    provided |= set(re.findall(r"^\s*#\s+([A-Z][A-Z0-9_]+):", configmap, re.M))  # optional, documented
    deployment = by_kind(RENDERED["base"], "Deployment")[service]
    main = pod_spec(deployment)["containers"][0]
    assert main["envFrom"] == [{"configMapRef": {"name": "connectors-config"}}]
    provided |= {variable["name"] for variable in main["env"]}
    missing = sorted(variables_read(service) - provided)
    assert not missing, f"{service} reads {missing}, which its Deployment does not provide"


def test_network_policies_admit_only_the_ingress_and_the_services():
    policies = by_kind(RENDERED["production"], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    # Ingress: only from the ingress controller's namespace, and the connectors service to auth.
    sources = [source for policy in policies.values() for rule in policy["spec"].get("ingress", [])
               for source in rule["from"]]
    assert sources == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
                       {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "connectors"}}}]
    # PostgreSQL and Redis: reached only by pods labelled as their clients, which are exactly the
    # two services and the migration.
    egress = policies["services-egress"]["spec"]
    assert egress["podSelector"] == {"matchLabels": {"connectors/database-client": "true"}}
    database_ports = {port["port"] for rule in egress["egress"] for port in rule.get("ports", [])} & {5432, 6379}
    assert database_ports == {5432, 6379}
    clients = {obj["metadata"]["name"] for obj in RENDERED["production"]
               if pod_spec(obj) and obj["spec"]["template"]["metadata"]["labels"].get("connectors/database-client")}
    assert clients == {"auth", "connectors", "connectors-migrate"}
    for rule in egress["egress"]:
        if {port["port"] for port in rule["ports"]} & {5432, 6379}:
            assert all(target["ipBlock"]["cidr"].endswith("/32") for target in rule["to"])


def routes_of_traefik():
    """(path, exact, service) for each path the Compose routing sends to a service."""
    text = (ROOT / "deploy" / "traefik" / "dynamic" / "routes.yml").read_text()
    routes = set()
    for router in ("auth", "connectors-metadata", "connectors", "console"):
        block = re.search(rf"^    {router}:\n(.*?)(?=^    \S|^  \S)", text, re.M | re.S).group(1)
        service = re.search(r"service: (\w+)", block).group(1)
        for kind, path in re.findall(r"(PathPrefix|Path)\(`([^`]+)`\)", re.search(r'rule: "(.*)"', block).group(1)):
            routes.add((path, kind == "Path", service))
    return routes


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_the_ingress_routes_as_traefik_does_and_keeps_internal_endpoints_off(name):
    ingress = by_kind(RENDERED[name], "Ingress")["connectors"]
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    routed = {(p["path"], p["pathType"] == "Exact", p["backend"]["service"]["name"]) for p in paths}
    # Prefix, not Exact: an Exact /metrics lets /metrics/ fall through to `/`, and the service's
    # router reads /metrics/ as /metrics. Prefix matches whole segments, so /metricsx is not caught.
    hidden = {(path, False, "not-public") for path in ("/health", "/ready", "/metrics")}
    assert routed == routes_of_traefik() | hidden
    blackhole = by_kind(RENDERED[name], "Service")["not-public"]
    assert not [obj for obj in RENDERED[name] if pod_spec(obj) and blackhole["spec"]["selector"].items()
                <= obj["spec"]["template"]["metadata"]["labels"].items()]


def test_the_production_overlay_pins_its_images_and_names_its_host():
    objects = RENDERED["production"]
    images = {c["image"] for obj in objects for c in pod_containers(obj)}
    assert images and all(re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", image) for image in images), images
    assert all(obj["metadata"].get("namespace") == "connectors" for obj in objects if obj["kind"] != "Namespace")
    config = by_kind(objects, "ConfigMap")["connectors-config"]["data"]
    host = ingress_host = by_kind(objects, "Ingress")["connectors"]["spec"]["rules"][0]["host"]
    assert config["PUBLIC_URL"] == f"https://{host}" and ingress_host in by_kind(objects, "Ingress")["connectors"]["spec"]["tls"][0]["hosts"]
    # Everything else the base says is kept.
    assert config["AGENT_SHUTDOWN_GRACE_SECONDS"] == "120"
