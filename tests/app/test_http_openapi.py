"""The OpenAPI schema: committed copy in sync, stable operationIds, examples that answer 200, problem responses,
and schema pieces generated from the engine's constants."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from app_support import TestClient

from app.openapi_dump import render
from engine import FLOAT_DTYPES, ID_PATTERN, MAX_RANK, OPSETS, VERSION
from tests.support import ROOT, SEED, SEED_ANSWER, SEED_ARGS

OPERATIONS = {
    ("post", "/v1/value-and-jvp"): "valueAndJvp",
    ("post", "/v1/functions/{function_id}/value-and-jvp"): "valueAndJvpOfFunction",
    ("post", "/v1/value-and-jacobian"): "valueAndJacobian",
    ("post", "/v1/functions/{function_id}/value-and-jacobian"): "valueAndJacobianOfFunction",
    ("post", "/v1/hessian"): "hessian",
    ("post", "/v1/functions/{function_id}/hessian"): "hessianOfFunction",
    ("post", "/v1/hvp"): "hvp",
    ("post", "/v1/functions/{function_id}/hvp"): "hvpOfFunction",
    ("post", "/v1/abstract-eval"): "abstractEval",
    ("post", "/v1/functions/{function_id}/abstract-eval"): "abstractEvalOfFunction",
    ("post", "/v1/check-gradients"): "checkGradients",
    ("post", "/v1/functions/{function_id}/check-gradients"): "checkGradientsOfFunction",
    ("post", "/v1/batch/value-and-gradients"): "batchValueAndGradients",
    ("post", "/v1/functions/{function_id}/batch/value-and-gradients"): "batchValueAndGradientsOfFunction",
    ("post", "/v1/value-and-gradients"): "valueAndGradients",
    ("post", "/v1/functions"): "registerFunction",
    ("get", "/v1/functions/{function_id}"): "getFunction",
    ("post", "/v1/functions/{function_id}/value-and-gradients"): "valueAndGradientsOfFunction",
    ("get", "/v1/ops"): "listOps",
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
    ("get", "/metrics"): "metrics",
}


def test_committed_schema_matches_the_app() -> None:
    with open(os.path.join(ROOT, "openapi", "openapi.json"), encoding="utf-8") as f:
        committed = f.read()
    assert committed == render(), "openapi/openapi.json is stale: run `make openapi`"


def test_served_schema_is_the_rendered_one(client: TestClient) -> None:
    assert client.get("/openapi.json").json() == json.loads(render())


def test_operation_ids_are_stable(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    found = {(m, p): op["operationId"] for p, item in paths.items() for m, op in item.items()}
    assert found == OPERATIONS


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_reference_resolves(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert {r.removeprefix("#/components/schemas/") for r in _refs(schema)} <= set(components)


def _default_request(path: str, operation: dict[str, Any]) -> tuple[str, Any]:
    """What Swagger UI's "Try it out" sends: the path with each parameter's example, and the body's first example."""
    params = {p["name"]: p["example"] for p in operation.get("parameters", []) if p["in"] == "path"}
    url = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return url, None
    assert body.get("examples"), f"{operation['operationId']} leaves its body to Swagger UI's guess"
    return url, next(iter(body["examples"].values()))["value"]


def test_try_it_out_answers_200_on_every_operation(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200  # Swagger UI is loaded before anything is tried
    paths = client.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            url, body = _default_request(path, operation)
            r = client.request(method, url, json=body)
            assert r.status_code == 200, (method, path, r.text)


def test_schema_pieces_are_the_engines_constants(client: TestClient) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    graph, named = components["GraphFunction"]["properties"], components["NamedInput"]["properties"]
    assert components["Node"]["properties"]["id"]["pattern"] == named["name"]["pattern"] == ID_PATTERN
    assert {"type": "string", "pattern": ID_PATTERN} in components["InputSpec"]["anyOf"]
    assert components["BinaryTensor"]["properties"]["dtype"]["enum"] == list(FLOAT_DTYPES)
    assert components["AbstractTensor"]["properties"]["dtype"]["enum"] == list(FLOAT_DTYPES)
    assert components["BinaryTensor"]["properties"]["shape"]["maxItems"] == MAX_RANK
    assert graph["version"]["enum"] == [VERSION] and graph["opset"]["enum"] == list(OPSETS)
    assert graph["opset"]["default"] == OPSETS[-1]



def test_seed_example_is_documented_with_its_answer(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/v1/value-and-gradients"]["post"]
    seed = op["requestBody"]["content"]["application/json"]["examples"]["seed"]["value"]
    assert seed == {"function": SEED, "args": SEED_ARGS}
    answer = op["responses"]["200"]["content"]["application/json"]["examples"]["seed_response"]["value"]
    assert answer == SEED_ANSWER


def test_evaluating_operations_document_problem_responses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/value-and-gradients", "/v1/functions/{function_id}/value-and-gradients"):
        responses = paths[path]["post"]["responses"]
        for status in ("400", "401", "413", "422", "503"):
            media = responses[status]["content"]["application/problem+json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"} and media["example"]["code"]
    assert "404" in paths["/v1/functions/{function_id}"]["get"]["responses"]
    assert set(paths["/v1/functions"]["post"]["responses"]) >= {"200", "201", "422"}
