"""The function cache: LRU by count and by canonical bytes, content-addressed, thread-safe."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from app_support import TestClient, assert_problem

from app.function_cache import FunctionCache
from engine.graph import load_function
from engine.ir import Graph


def g(k: int) -> Graph:
    return load_function({"inputs": ["x"], "expression": f"x * {k}"})


def test_count_bound_evicts_least_recently_used() -> None:
    reg = FunctionCache(max_functions=2, max_bytes=10**6)
    a, b, c = g(1), g(2), g(3)
    reg.intern(a), reg.intern(b)
    assert reg.get(a.id) is a  # a is now the most recently used
    reg.intern(c)
    assert b.id not in reg and a.id in reg and c.id in reg
    assert reg.stats().evictions == 1 and reg.stats().functions == 2


def test_byte_bound_evicts_until_it_fits() -> None:
    graphs = [g(k) for k in range(5)]
    size = len(graphs[0].canonical)
    reg = FunctionCache(max_functions=100, max_bytes=size * 3)
    for graph in graphs:
        reg.intern(graph)
    assert [x.id in reg for x in graphs] == [False, False, True, True, True]
    assert reg.stats().bytes <= size * 3


def test_interning_returns_the_held_graph() -> None:
    reg = FunctionCache(10, 10**6)
    first, again = g(7), g(7)
    assert reg.intern(first) == (first, True)
    assert reg.intern(again) == (first, False)


def test_graph_larger_than_the_cache_is_not_held() -> None:
    reg = FunctionCache(10, 10)
    graph = g(1)
    assert not reg.fits(graph) and reg.intern(graph) == (graph, False) and reg.stats().functions == 0


def test_hits_and_misses_are_counted() -> None:
    reg = FunctionCache(10, 10**6)
    graph = g(1)
    reg.intern(graph)
    reg.get(graph.id), reg.get("sha256:nope"), reg.get("sha256:nope")
    stats = reg.stats()
    assert (stats.hits, stats.misses, stats.functions) == (1, 2, 1)


def test_source_alias_is_dropped_with_its_function() -> None:
    reg = FunctionCache(max_functions=1, max_bytes=10**6)
    a, b = g(1), g(2)
    reg.intern(a)
    reg.remember_source(b"source-a", a)
    assert reg.by_source(b"source-a") is a
    reg.intern(b)  # evicts a
    assert reg.by_source(b"source-a") is None and reg.by_source(b"unknown") is None


def test_concurrent_interning_keeps_bounds() -> None:
    reg = FunctionCache(max_functions=8, max_bytes=10**6)
    graphs = [g(k) for k in range(40)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda x: (reg.intern(x), reg.get(x.id)), graphs * 5))
    stats = reg.stats()
    assert stats.functions == 8 and stats.bytes == sum(len(x.canonical) for x in graphs if x.id in reg)


@pytest.mark.parametrize("endpoint", ["register", "one-shot"])
def test_http_cache_evicts_oldest_function(client_with: Callable[..., TestClient], endpoint: str) -> None:
    c = client_with(registry_max_functions=2)
    ids = []
    for k in range(3):
        f = {"inputs": ["x"], "expression": f"x * {k + 2}"}
        if endpoint == "register":
            ids.append(c.post("/v1/functions", json={"function": f}).json()["id"])
        else:
            assert c.post("/v1/value-and-gradients", json={"function": f, "args": [1]}).status_code == 200
            ids.append(c.post("/v1/functions", json={"function": f}).json()["id"])
    assert_problem(c.get(f"/v1/functions/{ids[0]}"), 404, "unknown_function")
    assert all(c.get(f"/v1/functions/{i}").status_code == 200 for i in ids[1:])
    # the evicted function comes back when resent whole, as the SDK does after a 404
    f0 = {"inputs": ["x"], "expression": "x * 2"}
    assert c.post("/v1/value-and-gradients", json={"function": f0, "args": [1]}).json()["value"] == 2.0
    assert c.get(f"/v1/functions/{ids[0]}").status_code == 200
