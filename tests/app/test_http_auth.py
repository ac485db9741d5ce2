"""API keys: Bearer or X-API-Key when VALGRAD_API_KEYS is set; probes, metrics and docs stay open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from app_support import TestClient, assert_problem, make_client

from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, LiveServer

KEYS = ["first-key", "second-key"]
PROTECTED = [("post", "/v1/value-and-gradients", {"function": SEED, "args": SEED_ARGS}),
             ("post", "/v1/functions", {"function": SEED}),
             ("get", "/v1/functions/sha256:" + "0" * 64, None),
             ("post", "/v1/functions/sha256:" + "0" * 64 + "/value-and-gradients", {"args": [1]}),
             ("get", "/v1/ops", None)]
OPEN = ["/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"]


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with make_client(api_keys=KEYS) as c:
        yield c


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[p[1] for p in PROTECTED])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "first-ke"},
                                     {"Authorization": "Basic Zmlyc3Qta2V5"}, {"X-API-Key": ""}],
                         ids=["none", "wrong-bearer", "prefix", "basic", "empty"])
def test_missing_or_wrong_key_is_401(keyed: TestClient, method: str, path: str, body: object,
                                     headers: dict[str, str]) -> None:
    r = keyed.request(method, path, json=body, headers=headers)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer first-key"}, {"authorization": "bearer second-key"},
                                     {"X-API-Key": "second-key"}])
def test_valid_key_in_either_header_is_accepted(keyed: TestClient, headers: dict[str, str]) -> None:
    r = keyed.post("/v1/value-and-gradients", json={"function": SEED, "args": SEED_ARGS}, headers=headers)
    assert r.status_code == 200 and r.json()["value"] == SEED_VALUE


@pytest.mark.parametrize("path", OPEN)
def test_probes_metrics_and_docs_need_no_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_unknown_paths_under_v1_need_a_key_too(keyed: TestClient) -> None:
    # The check guards the whole /v1/ prefix, so a route added later cannot forget it.
    assert_problem(keyed.get("/v1/no-such-route"), 401, "unauthorized")
    assert_problem(keyed.get("/v1/no-such-route", headers={"X-API-Key": "first-key"}), 404, "not_found")


def test_refusals_are_counted_and_carry_a_request_id(keyed: TestClient) -> None:
    r = keyed.get("/v1/ops", headers={"X-Request-ID": "auth-1"})
    assert r.status_code == 401 and r.headers["x-request-id"] == "auth-1"
    assert 'route="unmatched",status="401"' in keyed.get("/metrics").text


def test_cors_preflight_needs_no_key() -> None:
    with make_client(api_keys=KEYS, cors_origins=["https://app.example"]) as c:
        r = c.options("/v1/value-and-gradients", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"


def test_every_guarded_operation_documents_the_schemes(keyed: TestClient) -> None:
    schema = keyed.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert ("security" in operation) == path.startswith("/v1/"), path


def test_no_keys_configured_means_open(client: TestClient) -> None:
    assert client.get("/v1/ops").status_code == 200


@pytest.mark.slow
def test_live_server_checks_keys_from_environment(live_strict: LiveServer) -> None:
    body = {"function": SEED, "args": SEED_ARGS}
    without = httpx.post(live_strict.url + "/v1/value-and-gradients", json=body, timeout=10)
    with_key = httpx.post(live_strict.url + "/v1/value-and-gradients", json=body, timeout=10,
                          headers={"X-API-Key": "k-one"})
    assert_problem(without, 401, "unauthorized")
    assert with_key.status_code == 200 and with_key.json()["gradients"] == SEED_GRADIENTS
    assert httpx.get(live_strict.url + "/healthz", timeout=10).status_code == 200
