"""Schema fuzzing: schemathesis drives every operation of openapi/openapi.json, in-process and over uvicorn.

Positive and negative cases; checks: no 5xx, responses conform to the schema
(status, content type, headers, body), schema-violating requests are refused
with a 4xx, schema-valid ones are never refused as malformed (400/415), and
every error is a problem body whose ``code`` and status agree with the one
table in ``app.errors``. A fixed seed and a small budget keep it well under a
minute in ``make test``; ``VALGRAD_FUZZ_EXAMPLES=<n>`` (``make fuzz``) runs
``n`` examples per operation and phase instead. A stateful test follows the
schema's links (register, then read and evaluate by the returned id).
"""

from __future__ import annotations

import base64
import json
import math
import os
from typing import Any

import httpx
import msgpack
import pytest
import requests
import schemathesis
from app_support import make_client
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.errors import PROBLEMS, TYPE_PREFIX
from tests.support import ROOT, SEED, SEED_ARGS, LiveServer

pytestmark = pytest.mark.slow  # schema fuzzing in process and over uvicorn: `make test` and `make fuzz`

EXAMPLES = int(os.environ.get("VALGRAD_FUZZ_EXAMPLES", "12"))


@schemathesis.serializer("application/msgpack")
def _msgpack(ctx: Any, value: Any) -> bytes:
    """Every request body is also documented as MessagePack: fuzz that media type too. MessagePack integers stop
    at 64 bits, so a larger JSON integer goes as the float JSON parsers would make of it."""
    return bytes(msgpack.packb(_fit(value), use_bin_type=True))


def _fit(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _fit(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fit(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)
    return value


@schemathesis.deserializer("application/msgpack")
def _unpack(ctx: Any, response: Any) -> Any:
    """A MessagePack answer in the JSON schema's terms: a tensor's bin data is its base64 string there, and a
    non-finite number its protobuf-JSON string."""
    return _as_json(msgpack.unpackb(response.content, raw=False))


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # JSON's spelling, as the schema gives it
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


FUZZ_SEED = 20240615  # the example generator's random seed (not the seed function)
# Schema-valid requests may still be refused for what JSON Schema cannot say (argument count, shapes, a function id
# this replica never saw): 404/413/422 are right answers for them; a 400 or 415 would mean the server misread
# well-formed JSON. Schema-violating requests must get a 4xx that says so.
ACCEPTED_VALID = ["2xx", 401, 404, 413, 422, 503]
REJECTED_INVALID = [400, 401, 404, 405, 413, 415, 422]
CONFIG = schemathesis.Config.from_dict({
    "seed": FUZZ_SEED,
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": False},
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_VALID},
               "negative_data_rejection": {"expected-statuses": REJECTED_INVALID}},
    "suppress-health-check": ["all"],
    "cache": {"enabled": False},  # no state written into the work tree
})
schema = schemathesis.openapi.from_path(os.path.join(ROOT, "openapi", "openapi.json"), config=CONFIG)
_CLIENT = make_client()  # one app for the module: the registry fills as cases run, like a real replica
APP = _CLIENT.app


@pytest.fixture(scope="module", autouse=True)
def _started() -> Any:
    """The app's lifespan runs (its evaluation workers start), as under a real server."""
    with _CLIENT:
        yield


def problem_bodies_follow_the_table(ctx: Any, response: Any, case: Case[Any]) -> bool | None:
    """Every error is application/problem+json whose code's row in PROBLEMS gives its status; bodies are JSON
    or MessagePack, as negotiated."""
    media = response.headers.get("content-type", [""])[0]
    if media == "application/msgpack":
        msgpack.unpackb(response.content, raw=False)  # well-formed; problems are never msgpack (asserted below)
        assert response.status_code < 400, "a problem came as MessagePack"
        return None
    text = response.content.decode("utf-8")
    if media.endswith("json"):
        json.loads(text, parse_constant=lambda token: (_ for _ in ()).throw(AssertionError(f"bare {token} in body")))
    if response.status_code < 400:
        return None
    assert media == "application/problem+json", text
    body = json.loads(text)
    code = body.get("code", "")
    assert code in PROBLEMS or code.startswith("http_"), f"unknown problem code {code!r}: {text}"
    if code in PROBLEMS:
        assert PROBLEMS[code].status == response.status_code == body["status"], text
        assert body["type"] == TYPE_PREFIX + code, text
    assert "Traceback" not in text, text
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, positive_data_acceptance,
          problem_bodies_follow_the_table]
# Held to every check but "invalid data is refused": MessagePack bodies, because a tensor's data is a base64
# string in JSON but bin in MessagePack, so the JSON schema's idea of invalid data does not carry over; and
# batches, because a bad item is answered in place as that item's problem while the others are evaluated.
LENIENT_CHECKS = [c for c in CHECKS if c is not negative_data_rejection]


def _checks(case: Case[Any]) -> list[Any]:
    lenient = case.media_type == "application/msgpack" or "/batch/" in case.path
    return LENIENT_CHECKS if lenient else CHECKS


FUZZ_SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_in_process_answers_within_its_schema(case: Case[Any]) -> None:
    case.call_and_validate(app=APP, checks=_checks(case))


@pytest.fixture(scope="module")
def session() -> Any:
    with requests.Session() as s:
        yield s


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_over_uvicorn_answers_within_its_schema(case: Case[Any], live: LiveServer,
                                                                session: Any) -> None:
    case.call_and_validate(base_url=live.url, session=session, checks=_checks(case))


class Workflows(schema.as_state_machine()):  # type: ignore[misc]
    """Chains the schema's links suggest (register, then read and evaluate by the returned id), in-process."""

    def before_call(self, case: Case[Any]) -> None:
        # A schema-valid random function is almost never a valid one, so most registrations would be refused
        # and no link followed: half of them register a real function instead (distinct, so ids vary).
        if case.operation.label == "POST /v1/functions" and isinstance(case.body, dict):
            k = sum(map(ord, str(case.body))) % 64
            if k % 2:
                case.body = {"function": {"inputs": ["x", "y"], "expression": f"x*x*y - {k}*y"}}

    def setup(self) -> None:
        # A fresh app (empty registry) per scenario: a 201 in one and a 200 in the next would enable different
        # transitions for the same draws, which Hypothesis rejects as flaky generation.
        self.app = make_client().app

    def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
        return {"app": self.app}

    def validate_response(self, response: Any, case: Case[Any], additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=_checks(case), transport_kwargs=kwargs)


def test_stateful_workflows_in_process_answer_within_the_schema() -> None:
    Workflows.run(settings=settings(max_examples=max(EXAMPLES // 2, 5) * 4, stateful_step_count=6, deadline=None,
                                    derandomize=True, database=None, suppress_health_check=list(HealthCheck)))


# Regressions: what fuzzing found, each pinned by one request validated against the schema with every check.
REGRESSIONS: list[tuple[str, str, dict[str, Any], int]] = [
    # dy: null (the default) was accepted but not in the schema (ST201, schema-violating request accepted).
    ("dy null", "/v1/value-and-gradients", {"function": SEED, "args": SEED_ARGS, "dy": None}, 200),
    # an unconnected gradient is null: the response schema must keep allowing it (a guard, not a bug found).
    ("unconnected gradient", "/v1/value-and-gradients",
     {"function": {"inputs": ["x", "y"], "expression": "x * 2"}, "args": [1, 1]}, 200),
    # outputs: [] was schema-valid but refused (ST202, schema-valid request rejected): now minItems 1.
    ("empty outputs", "/v1/functions", {"function": {"inputs": ["x"], "nodes": [], "outputs": []}}, 422),
]


@pytest.mark.parametrize(("name", "path", "body", "status"), REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_regressions_found_by_fuzzing_conform_to_the_schema(name: str, path: str, body: dict[str, Any],
                                                            status: int) -> None:
    case = schema[path]["POST"].Case(body=body, media_type="application/json")
    response = case.call_and_validate(app=APP, checks=CHECKS)
    assert response.status_code == status, response.text


def test_schema_documents_nullable_dy_and_gradients_and_nonempty_outputs() -> None:
    components = schema.raw_schema["components"]["schemas"]
    null = {"type": "null"}
    assert null in components["EvaluateRequest"]["properties"]["dy"]["anyOf"]
    assert null in components["ValueAndGradientsResponse"]["properties"]["gradients"]["items"]["anyOf"]
    assert {"type": "array", "items": {"type": "string"}, "minItems": 1} in \
        components["GraphFunction"]["properties"]["outputs"]["anyOf"]


def test_live_server_is_healthy_after_fuzzing(live: LiveServer) -> None:
    assert httpx.get(live.url + "/healthz", timeout=5).json() == {"status": "ok"}
