"""Kubernetes manifests, the compose demo and its nginx config, validated without kubectl or Docker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PORT = 8000

Doc = dict[str, Any]


def load(name: str) -> Doc:
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None]
    assert len(docs) == 1, f"{name}: one object per file"
    doc: Doc = docs[0]
    return doc


def load_all(name: str) -> dict[str, Doc]:
    """A file of several objects, by kind (one object of each kind)."""
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None]
    kinds = {d["kind"]: d for d in docs}
    assert len(kinds) == len(docs), f"{name}: one object of each kind"
    return kinds


def container() -> Doc:
    (c,) = load("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    out: Doc = c
    return out


def quantity(value: str) -> float:
    """A Kubernetes CPU or memory quantity as a plain number (cores or bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match, value
    number, unit = match.groups()
    return float(number) * units.get(unit, 1)


@pytest.mark.parametrize(
    ("name", "api_version", "kind"),
    [
        ("deployment.yaml", "apps/v1", "Deployment"),
        ("service.yaml", "v1", "Service"),
        ("hpa.yaml", "autoscaling/v2", "HorizontalPodAutoscaler"),
        ("configmap.yaml", "v1", "ConfigMap"),
    ],
)
def test_manifest_parses_as_the_expected_object(name: str, api_version: str, kind: str) -> None:
    doc = load(name)
    assert (doc["apiVersion"], doc["kind"]) == (api_version, kind)
    assert doc["metadata"]["name"].startswith("valgrad")


def test_deployment_runs_the_valgrad_image_at_the_project_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container()["image"] == f"valgrad:{version}"


def test_container_exposes_the_service_port() -> None:
    assert container()["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("probe", "path"),
    [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")],
)
def test_probe_targets_its_endpoint_on_the_http_port(probe: str, path: str) -> None:
    get = container()[probe]["httpGet"]
    assert get["path"] == path
    assert get["port"] in ("http", PORT)


SECURITY_CONTEXT = [  # what every pod of the demo holds to: valgrad's and Redis's
    ("pod", "runAsNonRoot", True),
    ("container", "allowPrivilegeEscalation", False),
    ("container", "readOnlyRootFilesystem", True),
    ("container", "capabilities", {"drop": ["ALL"]}),
]


@pytest.mark.parametrize(("where", "key", "expected"), SECURITY_CONTEXT)
def test_security_context(where: str, key: str, expected: object) -> None:
    pod = load("deployment.yaml")["spec"]["template"]["spec"]
    ctx = pod["securityContext"] if where == "pod" else container()["securityContext"]
    assert ctx[key] == expected


def test_pod_user_is_not_root() -> None:
    ctx = load("deployment.yaml")["spec"]["template"]["spec"]["securityContext"]
    assert ctx["runAsUser"] != 0


def test_service_links_are_off_so_they_cannot_clash_with_valgrad_settings() -> None:
    # A Service named valgrad would otherwise inject VALGRAD_PORT=tcp://..., which the settings read.
    assert load("deployment.yaml")["spec"]["template"]["spec"]["enableServiceLinks"] is False


@pytest.mark.parametrize("resource", ["cpu", "memory"])
def test_resources_have_requests_no_larger_than_limits(resource: str) -> None:
    res = container()["resources"]
    assert 0 < quantity(res["requests"][resource]) <= quantity(res["limits"][resource])


def env_of_container() -> dict[str, str]:
    return {e["name"]: e["value"] for e in container()["env"] if "value" in e}


def test_workers_per_pod_do_not_exceed_the_cpu_limit() -> None:
    workers = int(env_of_container()["WEB_CONCURRENCY"])
    assert 1 <= workers <= quantity(container()["resources"]["limits"]["cpu"])


def test_configured_worst_case_evaluation_memory_fits_the_memory_limit() -> None:
    data = load("configmap.yaml")["data"]
    workers = int(env_of_container()["WEB_CONCURRENCY"])
    per_eval = int(data["VALGRAD_MAX_TOTAL_ELEMENTS"]) * 8 * 2  # float64, forward and backward
    worst = workers * int(data["VALGRAD_MAX_CONCURRENCY"]) * per_eval
    assert worst <= quantity(container()["resources"]["limits"]["memory"]) * 0.75


def test_deployment_reads_the_configmap() -> None:
    refs = [src["configMapRef"]["name"] for src in container()["envFrom"]]
    assert refs == [load("configmap.yaml")["metadata"]["name"]]


def test_deployment_selector_matches_its_pod_labels() -> None:
    spec = load("deployment.yaml")["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()


def test_service_selects_the_pods_and_targets_the_container_port() -> None:
    spec = load("service.yaml")["spec"]
    labels = load("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"].items() <= labels.items()
    (port,) = spec["ports"]
    assert port["targetPort"] in ("http", PORT)
    assert port["port"] == PORT


def test_hpa_scales_the_deployment_on_cpu() -> None:
    spec = load("hpa.yaml")["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1", "Deployment", load("deployment.yaml")["metadata"]["name"])
    assert 2 <= spec["minReplicas"] <= spec["maxReplicas"]
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def test_configmap_values_are_strings_named_valgrad_star() -> None:
    for key, value in load("configmap.yaml")["data"].items():
        assert key.startswith("VALGRAD_"), key
        assert isinstance(value, str), key


def test_configmap_keys_are_settings_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_module = pytest.importorskip("app.settings")
    fields = settings_module.Settings.model_fields
    data = load("configmap.yaml")["data"]
    unknown = sorted(k for k in data if k.removeprefix("VALGRAD_").lower() not in fields)
    assert not unknown, f"not VALGRAD_* settings: {unknown}"
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = settings_module.Settings()
    assert settings.max_concurrency == int(data["VALGRAD_MAX_CONCURRENCY"])


# ---------------------------------------------------------------- the shared function store (redis.yaml)

REDIS_PORT = 6379


def redis() -> dict[str, Doc]:
    return load_all("redis.yaml")


def redis_container() -> Doc:
    (c,) = redis()["Deployment"]["spec"]["template"]["spec"]["containers"]
    out: Doc = c
    return out


def redis_bytes(value: str) -> int:
    """A Redis memory size ("256mb") in bytes; Redis's kb/mb/gb are powers of 1024."""
    match = re.fullmatch(r"(\d+)(kb|mb|gb)?", value.lower())
    assert match, value
    return int(match.group(1)) * {None: 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}[match.group(2)]


def redis_options(args: list[str]) -> dict[str, str]:
    """``redis-server --name value ...`` as {name: value}."""
    assert args[0] == "redis-server" and len(args) % 2 == 1, args
    assert all(a.startswith("--") for a in args[1::2]), args
    return dict(zip((a.removeprefix("--") for a in args[1::2]), args[2::2], strict=True))


def test_redis_manifest_holds_a_deployment_a_service_and_a_network_policy() -> None:
    docs = redis()
    assert {(d["apiVersion"], kind) for kind, d in docs.items()} == {
        ("apps/v1", "Deployment"), ("v1", "Service"), ("networking.k8s.io/v1", "NetworkPolicy")}
    assert all(d["metadata"]["name"].startswith("valgrad") for d in docs.values())


def test_configmap_points_the_replicas_at_the_redis_service() -> None:
    url = urlsplit(load("configmap.yaml")["data"]["VALGRAD_FUNCTION_STORE"])
    service = redis()["Service"]
    assert (url.scheme, url.hostname, url.port) == ("redis", service["metadata"]["name"], REDIS_PORT)
    assert re.fullmatch(r"/\d+", url.path), url.path
    (port,) = service["spec"]["ports"]
    assert port["port"] == REDIS_PORT


def test_redis_service_selects_the_redis_pod_and_targets_its_port() -> None:
    docs = redis()
    spec = docs["Service"]["spec"]
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"].items() <= labels.items()
    assert docs["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = spec["ports"]
    assert port["targetPort"] in ("redis", REDIS_PORT)
    assert redis_container()["ports"] == [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}]


def test_redis_service_does_not_select_the_valgrad_pods() -> None:
    valgrad_labels = load("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert not redis()["Service"]["spec"]["selector"].items() <= valgrad_labels.items()
    assert not load("service.yaml")["spec"]["selector"].items() <= \
        redis()["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


def test_redis_runs_one_replica_as_a_cache_without_persistence() -> None:
    assert redis()["Deployment"]["spec"]["replicas"] == 1
    options = redis_options(redis_container()["args"])
    assert (options["save"], options["appendonly"]) == ("", "no")
    assert options["maxmemory-policy"] == "allkeys-lru"
    assert "volumeClaimTemplates" not in redis()["Deployment"]["spec"]
    volumes = redis()["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert all("emptyDir" in v for v in volumes)


@pytest.mark.parametrize("resource", ["cpu", "memory"])
def test_redis_resources_have_requests_no_larger_than_limits(resource: str) -> None:
    res = redis_container()["resources"]
    assert 0 < quantity(res["requests"][resource]) <= quantity(res["limits"][resource])


def test_redis_maxmemory_leaves_room_under_the_memory_limit() -> None:
    maxmemory = redis_bytes(redis_options(redis_container()["args"])["maxmemory"])
    assert 0 < maxmemory <= quantity(redis_container()["resources"]["limits"]["memory"]) * 0.75


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_redis_probe_asks_redis_itself(probe: str) -> None:
    assert redis_container()[probe]["exec"]["command"] == ["redis-cli", "ping"]


@pytest.mark.parametrize(("where", "key", "expected"), SECURITY_CONTEXT)
def test_redis_security_context(where: str, key: str, expected: object) -> None:
    pod = redis()["Deployment"]["spec"]["template"]["spec"]
    ctx = pod["securityContext"] if where == "pod" else redis_container()["securityContext"]
    assert ctx[key] == expected


def test_redis_pod_user_is_not_root() -> None:
    assert redis()["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"] != 0


def test_only_the_valgrad_pods_may_reach_redis() -> None:
    docs = redis()
    spec = docs["NetworkPolicy"]["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= \
        docs["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    (source,) = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= \
        load("deployment.yaml")["spec"]["template"]["metadata"]["labels"].items()
    assert [p["port"] for p in rule["ports"]] in (["redis"], [REDIS_PORT])


# ---------------------------------------------------------------- compose and nginx


def compose() -> Doc:
    doc: Doc = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    return doc


def replicas() -> dict[str, Doc]:
    return {name: svc for name, svc in compose()["services"].items() if "valgrad:" in str(svc.get("image"))}


def compose_redis() -> tuple[str, Doc]:
    (found,) = [(name, svc) for name, svc in compose()["services"].items() if "redis" in str(svc.get("image"))]
    return found


def test_compose_runs_two_valgrad_replicas_of_one_image() -> None:
    reps = replicas()
    assert len(reps) == 2
    assert len({svc["image"] for svc in reps.values()}) == 1


def test_compose_replicas_are_health_checked_on_readyz() -> None:
    for svc in replicas().values():
        assert any("/readyz" in part for part in svc["healthcheck"]["test"])


def test_compose_load_balancer_waits_for_both_replicas_and_publishes_on_loopback() -> None:
    lb = compose()["services"]["lb"]
    assert "nginx" in lb["image"]
    assert set(lb["depends_on"]) == set(replicas())
    assert all(dep["condition"] == "service_healthy" for dep in lb["depends_on"].values())
    (port,) = lb["ports"]
    assert port.startswith("127.0.0.1:") and port.endswith(":80")
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]


def test_nginx_balances_over_exactly_the_compose_replicas() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream\s+valgrad\s*\{(.*?)\}", conf, re.S)
    assert upstream
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstream.group(1), re.M)
    assert sorted(servers) == sorted((name, str(PORT)) for name in replicas())
    assert re.search(r"^\s*listen\s+80;", conf, re.M)
    assert "proxy_pass http://valgrad;" in conf
    # Plain round-robin: no stickiness is needed, and none should creep in.
    assert not re.search(r"\b(ip_hash|hash|sticky)\b", upstream.group(1))


def test_compose_replicas_share_registrations_through_the_compose_redis() -> None:
    name, svc = compose_redis()
    for replica in replicas().values():
        url = urlsplit(replica["environment"]["VALGRAD_FUNCTION_STORE"])
        assert (url.scheme, url.hostname, url.port) == ("redis", name, REDIS_PORT)
        assert replica["depends_on"] == {name: {"condition": "service_healthy"}}
    assert svc["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_compose_redis_is_private_and_configured_as_the_kubernetes_one() -> None:
    _, svc = compose_redis()
    assert "ports" not in svc  # reachable from the compose network only
    assert svc["read_only"] is True and "no-new-privileges:true" in svc["security_opt"]
    assert redis_options(svc["command"]) == redis_options(redis_container()["args"])
