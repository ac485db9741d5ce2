"""A worker process runs what the server checked, and checks nothing again.

``app.worker._answer`` is what a worker process does with one job; here it runs in this process so that every
engine check can be made to fail loudly: the answers must still come back, equal to the server-side ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine.checking
import engine.derivatives
import engine.evaluation
import engine.graph
from app import kinds
from app.worker import LRUMirror, _answer
from engine import DEFAULT_LIMITS, load_function, prepare, prepare_check

FUNCTION = {"inputs": ["x", "w"], "expression": "sum(tanh(x * w)) + sum(x * x * w)"}
X, W = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -0.5])


def _refuse(*_: Any, **__: Any) -> Any:
    raise AssertionError("a worker ran a check its server had already run")


def _jobs() -> list[tuple[str, list[Any]]]:
    """Each job kind's payload, prepared (checked) as the server prepares it."""
    graph = load_function(FUNCTION)
    ev = prepare(graph, [X, W], ["x"], None, "none")
    kind = kinds.prepare_kind("hvp", graph, [X, W], None, [np.ones(3), np.zeros(3)], "zero", DEFAULT_LIMITS)
    check = prepare_check(graph, [X, W], None, directions=1)
    batch = [[[X, W], [0, 1], None], [[2 * X, W], [1], 2.0]]
    return [
        ("gradients", [ev.xs, ev.positions, ev.dy, ev.zeros]),
        ("hvp", [kind.target.args, kind.target.positions, kind.vectors, kind.zeros]),
        ("check", [check.evaluation.xs, check.evaluation.positions, 1e-6, 1e-5, 1e-6, 1]),
        ("batch", kinds.pack([batch, False])),
    ]


def test_a_worker_rebuilds_graphs_and_runs_jobs_without_checking_again(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = load_function(FUNCTION)
    jobs = _jobs()
    expected = [kinds.run(kind, graph, payload) for kind, payload in jobs]  # the server's own thread
    for module, name in [(engine.graph, "parse_graph"), (engine.graph, "load_expression"),
                         (engine.evaluation, "infer"), (engine.checking, "infer"), (engine.checking, "prepare"),
                         (engine.derivatives, "prepare"), (engine.evaluation, "load_function")]:
        monkeypatch.setattr(module, name, _refuse)
    held = LRUMirror()
    for (kind, payload), want in zip(jobs, expected, strict=True):
        canonical = None if held.get(graph.id) else graph.canonical.decode()
        answer = _answer([graph.id, canonical, kind, *payload], held, DEFAULT_LIMITS)
        assert answer[0] == "ok", answer
        assert repr(answer[1]) == repr(want), kind


def test_a_worker_asks_for_a_graph_it_does_not_hold() -> None:
    graph = load_function(FUNCTION)
    kind, payload = _jobs()[0]
    assert _answer([graph.id, None, kind, *payload], LRUMirror(), DEFAULT_LIMITS) == ["need_graph"]
