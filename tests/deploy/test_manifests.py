"""Kubernetes manifests, the compose demo and its nginx config, validated without kubectl or Docker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize(
    ("where", "key", "expected"),
    [
        ("pod", "runAsNonRoot", True),
        ("container", "allowPrivilegeEscalation", False),
        ("container", "readOnlyRootFilesystem", True),
        ("container", "capabilities", {"drop": ["ALL"]}),
    ],
)
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


# ---------------------------------------------------------------- compose and nginx


def compose() -> Doc:
    doc: Doc = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    return doc


def replicas() -> dict[str, Doc]:
    return {name: svc for name, svc in compose()["services"].items() if "valgrad:" in str(svc.get("image"))}


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
