"""Both Compose files validate against the Compose Specification and keep the invariants the
stack relies on."""
import json
import re

import jsonschema
import pytest
import yaml

from conftest import ROOT, variables_read

FILES = {"dev": "docker-compose.dev.yml", "prod": "docker-compose.prod.yml"}
EXAMPLES = {"dev": ".env.example", "prod": ".env.prod.example"}


def load(kind):
    return yaml.safe_load((ROOT / FILES[kind]).read_text())


@pytest.mark.parametrize("kind", FILES)
def test_validates_against_the_compose_specification(kind):
    schema = json.loads((ROOT / "Tests/EndToEnd/compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(load(kind))


@pytest.mark.parametrize("kind", FILES)
def test_every_service_the_routing_needs_exists_with_health_checks_and_ordering(kind):
    services = load(kind)["services"]
    assert {"postgres", "redis", "migrate", "auth", "connectors", "traefik"} <= set(services)
    for name in ("postgres", "redis", "auth", "connectors", "traefik"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ("auth", "connectors"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("auth", "connectors"):
        assert services["traefik"]["depends_on"][name]["condition"] == "service_healthy"
    # Traefik reads the one routing file and is told where the services are.
    traefik = services["traefik"]
    assert any("deploy/traefik/dynamic" in volume for volume in traefik["volumes"])
    assert traefik["environment"]["AUTH_UPSTREAM"] == "http://auth:5001"
    assert traefik["environment"]["CONNECTORS_UPSTREAM"] == "http://connectors:5002"
    assert {"80:80", "443:443"} <= set(traefik["ports"])


def test_production_publishes_no_database_port_and_is_built_for_operation():
    services = load("prod")["services"]
    for name in ("postgres", "redis"):
        assert "ports" not in services[name], f"{name} must not be published in production"
    for name in ("postgres", "redis", "auth", "connectors", "traefik"):
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["logging"]["options"]["max-size"]
        assert services[name]["deploy"]["resources"]["limits"]
    assert services["auth"]["deploy"]["replicas"] == "${AUTH_REPLICAS:-1}"
    assert services["connectors"]["deploy"]["replicas"] == "${CONNECTORS_REPLICAS:-1}"
    command = " ".join(services["traefik"]["command"])
    assert "--certificatesresolvers.letsencrypt.acme.tlschallenge=true" in command
    assert "${ACME_EMAIL" in command
    assert services["traefik"]["environment"]["TRAEFIK_HSTS"] == "true"
    assert "${REDIS_PASSWORD" in services["auth"]["environment"]["REDIS_URL"]
    assert "${POSTGRES_PASSWORD" in services["auth"]["environment"]["DATABASE_URL"]


@pytest.mark.parametrize("kind", FILES)
@pytest.mark.parametrize("service", ["auth", "connectors"])
def test_every_variable_a_service_reads_is_passed_to_it(kind, service):
    definition = load(kind)["services"][service]
    environment = set(definition.get("environment", {}))
    env_files = definition.get("env_file", [])
    assert env_files == [".env" if kind == "dev" else ".env.prod"]
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / EXAMPLES[kind]).read_text(), re.M))
    missing = sorted(name for name in variables_read(service) if name not in environment and name not in documented)
    assert not missing, f"{service} reads {missing}, which {FILES[kind]} neither sets nor takes from {EXAMPLES[kind]}"


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_redis_is_bounded_and_evicts_only_keys_that_expire(kind):
    redis = load(kind)["services"]["redis"]
    command = redis["command"] if isinstance(redis["command"], str) else " ".join(redis["command"])
    assert re.search(r"--maxmemory \d+mb", command), command
    assert re.search(r"--maxmemory-policy volatile-(lru|ttl)", command), command


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_connectors_is_given_time_to_stop_its_agent_runs(kind):
    """SIGTERM gives runs AGENT_SHUTDOWN_GRACE_SECONDS, then records the rest; Compose must wait."""
    grace = re.search(
        r'"AGENT_SHUTDOWN_GRACE_SECONDS", default: (\d+)',
        (ROOT / "Sources/ConnectorsService/ConnectorsConfig.swift").read_text()).group(1)
    period = load(kind)["services"]["connectors"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", period), period
    assert int(period[:-1]) >= int(grace) + 10, (period, grace)


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_traefiks_access_log_leaves_out_paths_and_their_queries(kind):
    command = load(kind)["services"]["traefik"]["command"]
    assert "--accesslog=true" in command
    assert "--accesslog.fields.names.RequestPath=drop" in command
    assert "--accesslog.fields.names.RequestPath=drop" in (ROOT / "scripts/dev-native.sh").read_text()
