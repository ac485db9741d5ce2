"""A hostile-input corpus: every row is answered as the table says, quickly, in bounded memory, and harmlessly.

Each row is one request, the status and problem ``code`` it must get (or the
exact JSON of a valid answer), and budgets of seconds and MiB. Rows run
in-process (TestClient; the process's resident memory sampled while the
row runs, so NumPy's buffers count too) and over real HTTP against
``valgrad serve`` (time per row; the server's resident memory over repeated
passes of the corpus). After every row ``/healthz`` and the seed request must
still succeed. The corpus app requires an API key and takes bodies up to
16 MiB, so the 200,000-node chain fits and an oversized body stays cheap.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import orjson
import pytest
from app_support import TestClient, assert_problem, make_client

from tests.support import SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, LiveServer, serve, time_budget

URL = "/v1/value-and-gradients"
KEY = "corpus-key"
JSON = {"content-type": "application/json"}
AUTH = {"X-API-Key": KEY, **JSON}
MAX_BODY = 16 << 20
SETTINGS = {"api_keys": [KEY], "max_body_bytes": MAX_BODY}
ENV = {"VALGRAD_API_KEYS": KEY, "VALGRAD_MAX_BODY_BYTES": str(MAX_BODY), "VALGRAD_ACCESS_LOG": "false"}
CHAIN = 200_000  # the default node limit: a chain of exactly this many nodes is allowed
MiB = 1 << 20


@dataclass(frozen=True)
class Row:
    name: str
    body: Callable[[], bytes]
    status: int
    code: str | None = None  # the problem code; None for a valid request
    expect: Any = None  # the exact JSON answer of a valid request
    path: str = URL
    headers: Mapping[str, str] = field(default_factory=lambda: AUTH)
    chunked: bool = False  # send without Content-Length, in 1 MiB chunks
    seconds: float = 3.0  # answered within this on a quiet machine (a time_budget), in-process and over HTTP
    mib: float = 64.0  # growth of the in-process app's peak resident memory while answering
    slow: bool = False  # seconds to build and answer: in `make test`, not `make check`


def js(obj: Any) -> Callable[[], bytes]:
    return lambda: orjson.dumps(obj)


ZEROS_256x256 = {"dtype": "float64", "shape": [256, 256],
                 "data": base64.b64encode(bytes(8 * 256 * 256)).decode("ascii")}


def raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def call(function: Any, args: Any = tuple(SEED_ARGS), **extra: Any) -> Callable[[], bytes]:
    return js({"function": function, "args": list(args) if isinstance(args, tuple) else args, **extra})


def expr(text: str | list[str], *inputs: str) -> dict[str, Any]:
    return {"inputs": list(inputs or ["x"]), "expression": text}


def graph(*nodes: dict[str, Any], outputs: Any = "a") -> dict[str, Any]:
    return {"inputs": ["x"], "nodes": list(nodes), "outputs": outputs}


def node(nid: str, op: str, *args: Any, **attrs: Any) -> dict[str, Any]:
    return {"id": nid, "op": op, "args": list(args), **({"attrs": attrs} if attrs else {})}


@cache
def chain(n: int) -> bytes:
    """n nodes: n0 = x + x, then n_k = n_{k-1} + x; the value is (n + 1) x and the gradient n + 1."""
    nodes = [node("n0", "add", "x", "x")] + [node(f"n{k}", "add", f"n{k - 1}", "x") for k in range(1, n)]
    return orjson.dumps({"function": {"inputs": ["x"], "nodes": nodes, "outputs": f"n{n - 1}"}, "args": [0.5]})


def oversized() -> bytes:
    return b'{"function": ' + b" " * MAX_BODY + b"}"


def deep(depth: int) -> bytes:
    return b'{"function": {"inputs": ["x"], "expression": "x"}, "args": [' + b"[" * depth + b"]" * depth + b"]}"


UNKNOWN_ID = "sha256:" + "0" * 64
LIST_OUT = expr(["x", "x * y"], "x", "y")

ROWS: list[Row] = [
    # the body itself
    Row("malformed JSON", raw(b'{"function": {"inputs": ["x"], '), 400, "invalid_json"),
    Row("invalid UTF-8", raw(b'{"function": {"inputs": ["x"], "expression": "x\xff"}, "args": [1]}'),
        400, "invalid_json"),
    Row("100,000-deep nested array", raw(b"[" * 100_000 + b"]" * 100_000), 413, "json_too_deep"),
    Row("100,000-deep nested args", lambda: deep(100_000), 413, "json_too_deep"),
    Row("body over the limit with Content-Length", oversized, 413, "payload_too_large", mib=96),
    Row("body over the limit, chunked", oversized, 413, "payload_too_large", chunked=True, mib=96),
    # graphs
    Row("200,000-node chain within limits", lambda: chain(CHAIN), 200,
        expect={"value": (CHAIN + 1) * 0.5, "gradients": [CHAIN + 1.0], "params": ["x"]}, seconds=15, mib=512,
        slow=True),
    Row("200,001-node chain over the node limit", lambda: chain(CHAIN + 1), 413, "payload_too_large",
        seconds=10, mib=256, slow=True),
    Row("forward reference", call(graph(node("a", "add", "x", "b"), node("b", "negative", "x")), [1]),
        422, "unknown_reference"),
    Row("self reference (a cycle)", call(graph(node("a", "add", "x", "a")), [1]), 422, "unknown_reference"),
    Row("duplicate ids", call(graph(node("a", "negative", "x"), node("a", "negative", "x")), [1]),
        422, "invalid_graph"),
    Row("node id shadows an input", call(graph(node("x", "negative", "x"), outputs="x"), [1]), 422, "invalid_graph"),
    Row("unknown op", call(graph(node("a", "frobnicate", "x")), [1]), 422, "unknown_op"),
    Row("wrong arity", call(graph(node("a", "add", "x")), [1]), 422, "wrong_arity"),
    Row("attrs of the wrong type", call(graph(node("a", "sum", "x", keepdims="yes")), [[1]]), 422, "invalid_attrs"),
    Row("unknown attrs", call(graph(node("a", "sum", "x", bogus=1)), [[1]]), 422, "invalid_attrs"),
    Row("matmul shape mismatch", call(expr("x @ y", "x", "y"), [[[1, 2]], [[1, 2]]]), 422, "shape_mismatch"),
    Row("reshape shape mismatch", call(expr("reshape(x, shape=[4])"), [[1, 2, 3]]), 422, "shape_mismatch"),
    Row("broadcast_to an enormous shape", call(expr("sum(broadcast_to(x, shape=[100000, 100000]))"), [1]),
        413, "payload_too_large"),
    Row("reshape to an enormous shape", call(expr("reshape(x, shape=[-1, 100000, 100000])"), [[1, 2]]),
        422, "shape_mismatch"),
    # NumPy's greedy path makes 'a,b,...->' cheap (sums first); this one's middle VJP is 256**4 on any path.
    Row("einsum with an absurd contraction",
        call(expr("einsum('ab,bc,cd->', x, y, x)", "x", "y"), {"x": ZEROS_256x256, "y": ZEROS_256x256}),
        422, "too_expensive"),
    Row("einsum with an absurd output", call(expr("einsum('a,b,c,d->abcd', x, x, x, x)"), [[1.0] * 100]),
        413, "payload_too_large"),
    Row("einsum with more operands than NumPy takes",
        call(expr("einsum('" + ",".join("a" * 64) + "->a', " + ", ".join(["x"] * 64) + ")"), [[1.0]]),
        422, "wrong_arity"),
    Row("concatenate of 30,000 inputs", call(graph(node("a", "concatenate", *["x"] * 30_000, axis=None)), [[1.0]]),
        422, "too_expensive"),
    Row("stack of 30,000 inputs", call(expr("sum(stack([" + ", ".join(["x"] * 30_000) + "]))"), [1.0]),
        422, "too_expensive", slow=True),
    Row("getitem out of bounds", call(expr("x[5]"), [[1, 2, 3]]), 422, "shape_mismatch"),
    Row("take out of bounds", call(expr("take(x, indices=[7], axis=0)"), [[1, 2, 3]]), 422, "shape_mismatch"),
    # tensors
    Row("ragged nested list argument", call(expr("x"), [[[1, 2], [3]]]), 422, "invalid_args"),
    Row("ragged nested list constant", call(graph(node("a", "add", "x", [[1, 2], [3]])), [1]), 422, "invalid_graph"),
    Row("string where a number belongs", call(SEED, [1, "two"]), 422, "invalid_args"),
    Row("boolean where a number belongs", call(SEED, [True, 3]), 422, "invalid_args"),
    Row("boolean constant", call(graph(node("a", "add", "x", True)), [1]), 422, "invalid_graph"),
    Row("string in dy", call(SEED, dy="big"), 422, "invalid_dy"),
    Row("binary tensor with an enormous shape",
        call(expr("x"), [{"dtype": "float64", "shape": [2**32, 2**32], "data": ""}]), 413, "payload_too_large"),
    # expressions
    Row("__import__ in an expression", call(expr("__import__('os').system('true')"), [1]), 422, "invalid_expression"),
    Row("attribute access", call(expr("x.__class__.__bases__"), [1]), 422, "invalid_expression"),
    Row("lambda", call(expr("(lambda: x)()"), [1]), 422, "invalid_expression"),
    Row("comprehension", call(expr("sum([t for t in x])"), [[1]]), 422, "invalid_expression"),
    Row("9**9**9**9 is power nodes, not a big integer", call(expr("x * 9**9**9**9"), [2]), 200,
        expect={"value": "Infinity", "gradients": ["Infinity"], "params": ["x"]}),
    Row("10,000 nested parentheses", call(expr("(" * 10_000 + "x" + ")" * 10_000), [1]), 422, "invalid_expression"),
    Row("100,000 unary minus signs", call(expr("-" * 99_990 + "x"), [1]), 422, "invalid_expression"),
    Row("a 1 MB expression", call(expr("x+" * 500_000 + "x"), [1]), 413, "payload_too_large"),
    Row("NUL in an expression", call(expr("x\x00"), [1]), 422, "invalid_expression"),
    # params
    Row("params mixed", call(SEED, params=[0, "y"]), 422, "invalid_params"),
    Row("params unknown", call(SEED, params=["q"]), 422, "invalid_params"),
    Row("params out of range", call(SEED, params=[2]), 422, "invalid_params"),
    Row("params negative out of range", call(SEED, params=[-3]), 422, "invalid_params"),
    Row("params duplicated repeat the gradient", call(SEED, params=["x", "x"]), 200,
        expect={"value": SEED_VALUE, "gradients": [SEED_GRADIENTS[0]] * 2, "params": ["x", "x"]}),
    Row("params a single name (shorthand)", call(SEED, params="y"), 200,
        expect={"value": SEED_VALUE, "gradients": SEED_GRADIENTS[1:], "params": ["y"]}),
    Row("params an object", call(SEED, params={"y": 1}), 422, "invalid_params"),
    Row("params a float", call(SEED, params=1.0), 422, "invalid_params"),
    # dy
    Row("dy with the wrong count", call(LIST_OUT, dy=[1.0]), 422, "invalid_dy"),
    Row("dy with the wrong shape", call(SEED, dy=[1.0, 2.0]), 422, "invalid_dy"),
    # args
    Row("args missing", call(SEED, [2]), 422, "invalid_args"),
    Row("args extra", call(SEED, [2, 3, 4]), 422, "invalid_args"),
    Row("args misnamed", call(SEED, {"x": 2, "z": 3}), 422, "invalid_args"),
    Row("args not a list or object", call(SEED, 5), 422, "invalid_args"),
    # functions and keys
    Row("unknown function id", js({"args": SEED_ARGS}), 404, "unknown_function",
        path=f"/v1/functions/{UNKNOWN_ID}/value-and-gradients"),
    Row("bad API key", call(SEED), 401, "unauthorized", headers={"X-API-Key": "guess", **JSON}),
    Row("missing API key", call(SEED), 401, "unauthorized", headers=JSON),
    # non-finite numbers
    Row("NaN and Infinity as strings", call(expr("x * y", "x", "y"), ["NaN", "Infinity"]), 200,
        expect={"value": "NaN", "gradients": ["Infinity", "NaN"], "params": ["x", "y"]}),
    Row("-Infinity as a string", call(expr("x * y", "x", "y"), ["-Infinity", 2]), 200,
        expect={"value": "-Infinity", "gradients": [2.0, "-Infinity"], "params": ["x", "y"]}),
    Row("NaN as a bare token", raw(b'{"function": {"inputs": ["x"], "expression": "x"}, "args": [NaN]}'),
        400, "invalid_json"),
    Row("Infinity as a bare token", raw(b'{"function": {"inputs": ["x"], "expression": "x"}, "args": [-Infinity]}'),
        400, "invalid_json"),
]
IDS = [r.name for r in ROWS]


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), MiB):
        yield data[start:start + MiB]


def check_answer(row: Row, response: httpx.Response) -> None:
    if row.code is None:
        assert response.status_code == row.status, response.text[:500]
        assert response.json() == row.expect
    else:
        assert_problem(response, row.status, row.code)
    for leak in ("Traceback", "/work/", '.py"', "site-packages"):
        assert leak not in response.text, response.text[:500]


def check_still_serving(http: Any) -> None:
    assert http.get("/healthz").status_code == 200
    seed = http.post(URL, json={"function": SEED, "args": SEED_ARGS}, headers=AUTH)
    assert seed.status_code == 200 and seed.json() == SEED_ANSWER


def test_corpus_names_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


@pytest.fixture(scope="module")
def corpus_client() -> Iterator[TestClient]:
    with make_client(**SETTINGS) as c:
        yield c


class PeakRSS:
    """Samples this process's resident memory every millisecond; ``growth`` is the peak over the start, in MiB."""

    def __init__(self) -> None:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> float:
        return (self.peak - self.base) / MiB


@pytest.mark.parametrize("row", [pytest.param(r, marks=pytest.mark.slow) if r.slow else r for r in ROWS], ids=IDS)
def test_hostile_row_in_process(corpus_client: TestClient, row: Row) -> None:
    body = row.body()
    content: Any = chunks(body) if row.chunked else body
    with PeakRSS() as memory, time_budget(row.seconds):
        response = corpus_client.post(row.path, content=content, headers=dict(row.headers))
    check_answer(row, response)
    assert memory.growth < row.mib, f"{row.name}: resident memory grew {memory.growth:.0f} MiB"
    check_still_serving(corpus_client)


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(env=ENV, log=tmp_path_factory.mktemp("corpus") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def corpus_http(corpus_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=corpus_server.url, timeout=60) as http:
        yield http


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) / 1024


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.slow
def test_hostile_row_over_http(corpus_http: httpx.Client, row: Row) -> None:
    body = row.body()
    content: Any = chunks(body) if row.chunked else body
    with time_budget(row.seconds):
        response = corpus_http.post(row.path, content=content, headers=dict(row.headers))
    check_answer(row, response)
    check_still_serving(corpus_http)


@pytest.mark.slow
def test_corpus_leaves_server_memory_bounded(corpus_server: LiveServer, corpus_http: httpx.Client) -> None:
    """Run the corpus twice more: the second pass must not grow the server (nothing kept per request)."""
    pid = corpus_server.process.pid
    for row in ROWS:
        if not row.chunked:
            corpus_http.post(row.path, content=row.body(), headers=dict(row.headers))
    after_first = rss_mib(pid)
    for row in ROWS:
        if not row.chunked:
            corpus_http.post(row.path, content=row.body(), headers=dict(row.headers))
    after_second = rss_mib(pid)
    assert after_second < after_first * 1.10 + 16, (after_first, after_second)
    check_still_serving(corpus_http)


# Regressions found by the corpus, pinned beyond their rows' status and code.
def test_syntax_errors_without_a_position_name_no_column(corpus_client: TestClient) -> None:
    r = corpus_client.post(URL, headers=AUTH, json={"function": expr("x\x00"), "args": [1]})
    detail = assert_problem(r, 422, "invalid_expression")["detail"]
    assert "null bytes" in detail and "None" not in detail


def test_einsum_beyond_numpys_operand_limit_is_refused_statically(corpus_client: TestClient) -> None:
    """It reached NumPy and came back as a 500 ("too many operands")."""
    ops = ", ".join(["x"] * 32)
    r = corpus_client.post(URL, headers=AUTH, json={"function": expr(f"einsum('{','.join('a' * 32)}->a', {ops})"),
                                                    "args": [[1.0]]})
    body = assert_problem(r, 422, "wrong_arity", "/function/nodes/0")
    assert "at most 31 operands" in body["detail"]
    ok = corpus_client.post(URL, headers=AUTH, json={"function": expr(f"einsum('{','.join('a' * 31)}->a', "
                                                                       + ", ".join(["x"] * 31) + ")"),
                                                     "args": [[2.0]]})
    assert ok.status_code == 200 and ok.json()["value"] == [2.0**31]


@pytest.mark.parametrize("op", ["concatenate", "stack"])
def test_variadic_fan_in_is_priced_by_the_flop_limit(op: str) -> None:
    """30,000 inputs took minutes in the backward pass (each VJP sees all inputs): now n**2 counts as work."""
    with make_client(max_flops=10**8) as c:  # 10**8 / 1000 per step: 316 inputs at most
        for n, status in ((300, 200), (330, 422)):
            body = {"function": {"inputs": ["x"], "nodes": [node("a", op, *["x"] * n), node("s", "sum", "a")],
                                 "outputs": "s"}, "args": [[1.0]]}
            with time_budget(2):
                r = c.post(URL, json=body)
            assert r.status_code == status, r.text
            if status == 200:
                assert r.json() == {"value": float(n), "gradients": [[float(n)]], "params": ["x"]}
            else:
                assert r.json()["code"] == "too_expensive"
