"""Schema fuzzing: schemathesis drives every operation of openapi/openapi.json, in-process and over uvicorn.

Positive and negative cases; checks: no 5xx, responses conform to the schema
(status, content type, headers, body), schema-violating requests are refused
with a 4xx, schema-valid ones are never refused as malformed (400/415), and
every error is a problem body whose ``code`` and status agree with the one
table in ``app.errors``. A fixed seed and a small budget keep it well under a
minute in ``make test``; ``VALGRAD_FUZZ_EXAMPLES=<n>`` (``make fuzz``) runs
``n`` examples per operation and phase instead.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from app_support import ROOT, LiveServer, make_client
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

EXAMPLES = int(os.environ.get("VALGRAD_FUZZ_EXAMPLES", "12"))
SEED = 20240615
# Schema-valid requests may still be refused for what JSON Schema cannot say (argument count, shapes, a function id
# this replica never saw): 404/413/422 are right answers for them; a 400 or 415 would mean the server misread
# well-formed JSON. Schema-violating requests must get a 4xx that says so.
ACCEPTED_VALID = ["2xx", 401, 404, 413, 422, 503]
REJECTED_INVALID = [400, 401, 404, 405, 413, 415, 422]
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": False},
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_VALID},
               "negative_data_rejection": {"expected-statuses": REJECTED_INVALID}},
    "suppress-health-check": ["all"],
})
schema = schemathesis.openapi.from_path(os.path.join(ROOT, "openapi", "openapi.json"), config=CONFIG)
COUNT = {"in": 0, "live": 0}
APP = make_client().app  # one app for the module: the registry fills as cases run, like a real replica


def problem_bodies_follow_the_table(ctx: Any, response: Any, case: Case) -> bool | None:
    """Every error is application/problem+json whose code's row in PROBLEMS gives its status; bodies are JSON."""
    text = response.content.decode("utf-8")
    media = response.headers.get("content-type", [""])[0]
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
FUZZ_SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_in_process_answers_within_its_schema(case: Case) -> None:
    COUNT["in"] += 1; case.call_and_validate(app=APP, checks=CHECKS)


@pytest.fixture(scope="module")
def session() -> Any:
    with requests.Session() as s:
        yield s


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_over_uvicorn_answers_within_its_schema(case: Case, live: LiveServer, session: Any) -> None:
    COUNT["live"] += 1; case.call_and_validate(base_url=live.url, session=session, checks=CHECKS)


def test_live_server_is_healthy_after_fuzzing(live: LiveServer) -> None:
    print("COUNT", COUNT)
    assert httpx.get(live.url + "/healthz", timeout=5).json() == {"status": "ok"}
