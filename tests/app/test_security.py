"""No request is ever run as Python, and no error body tells a client about the server's insides.

Three angles: the sources of ``engine`` and ``app`` contain no dynamic
execution, deserialisation or process spawning at all (checked on their
syntax trees); payloads that would create a file if anything evaluated them
are refused and the file never appears, in-process and over uvicorn; and a
failing request of every kind — every code of the problem table, server-side
failures included — answers with a problem body free of tracebacks, source
paths and file names.
"""

from __future__ import annotations

import ast
import base64
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_support import TestClient, make_client

import app.service
from app.errors import PROBLEMS, ServiceError
from engine.errors import LimitError, OutputTypeError, TracingError
from tests.support import ROOT, SEED, SEED_ARGS, LiveServer

URL = "/v1/value-and-gradients"
SOURCES = sorted(p for package in ("engine", "app") for p in (ROOT / package).rglob("*.py"))
# Builtins that run code or reach functions by name, attribute calls that run, load or spawn, and modules that do.
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__", "execfile", "breakpoint", "globals", "locals"}
FORBIDDEN_ATTRIBUTES = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execve"), ("os", "spawnv"),
                        ("os", "fork"), ("importlib", "import_module"), ("builtins", "eval"), ("builtins", "exec"),
                        ("np", "load"), ("numpy", "load"), ("np", "fromfile"), ("yaml", "load")}
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib",
                     "subprocess", "ctypes", "code", "codeop", "runpy", "pty", "importlib", "multiprocessing"}
# Audited exceptions: (file, name) -> why it is safe.
ALLOWED = {
    ("app/main.py", "importlib"): "importlib.metadata reads the installed version, nothing else",
    ("app/allocator.py", "ctypes"): "glibc's mallopt at start-up (arenas, trim and mmap thresholds); no request data "
                                 "reaches it",
    ("app/allocator.py", "ctypes.CDLL"): "the process's own C library, for those mallopt calls",
    ("engine/compiled/cache.py", "exec"): "the compiled tier's generated kernel source: only registry rule "
                                          "templates, slot numbers and repr(float) constants reach it, never client "
                                          "text (tests/engine/compiled: test_generated_source_holds_no_client_text)",
    ("engine/compiled/cache.py", "compile"): "the same generated kernel source, compiled before exec",
    ("engine/compiled/cache.py", "importlib"): "loads a generated kernel module back from the on-disk kernel cache",
    ("engine/compiled/__init__.py", "importlib"): "importlib.util.find_spec: is numba installed (nothing is loaded)",
    ("app/pool.py", "multiprocessing"): "the evaluation worker processes (forkserver) and their shared-memory "
                                        "regions; nothing is pickled across them: jobs and answers are JSON "
                                        "headers and raw float bytes (app/transfer.py)",
}


def _calls_and_imports(path: Path) -> Iterator[tuple[str, int]]:
    """Forbidden calls and imports in a source file: (what, line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_BUILTINS:
                yield func.id, node.lineno
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
                    (func.value.id, func.attr) in FORBIDDEN_ATTRIBUTES or func.value.id in FORBIDDEN_MODULES):
                yield f"{func.value.id}.{func.attr}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    yield alias.name.split(".")[0], node.lineno
        elif (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
              and node.module.split(".")[0] in FORBIDDEN_MODULES):
            yield node.module.split(".")[0], node.lineno


def test_sources_never_execute_deserialise_or_spawn() -> None:
    found = []
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        found += [f"{rel}:{line}: {name}" for name, line in _calls_and_imports(path) if (rel, name) not in ALLOWED]
    assert not found, "dynamic execution, deserialisation or process spawning in the service:\n" + "\n".join(found)
    assert len(SOURCES) > 30  # the scan saw the packages


def test_the_scan_finds_what_it_forbids(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text("import pickle\nfrom subprocess import run\nimport os, re\neval('1')\nos.system('true')\n"
                      "np.load('f')\nre.compile('x')\njson.loads('1')\n", encoding="utf-8")
    assert sorted(_calls_and_imports(source)) == [("eval", 4), ("np.load", 6), ("os.system", 5), ("pickle", 1),
                                                   ("subprocess", 2)]


def test_the_expression_parser_only_parses() -> None:
    """engine/expr.py builds nodes from ``ast.parse`` output; it never compiles or evaluates the tree."""
    source = (ROOT / "engine" / "expr.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    parse_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                   and n.func.attr == "parse" and isinstance(n.func.value, ast.Name) and n.func.value.id == "ast"]
    assert len(parse_calls) == 1
    modes = [kw.value for kw in parse_calls[0].keywords if kw.arg == "mode"]
    assert [m.value for m in modes if isinstance(m, ast.Constant)] == ["eval"]  # one expression
    assert "literal_eval" not in source


class Exploit:
    """Pickles into a call that creates ``path``: harmless unless someone unpickles it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def payloads(marker: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, path, body): requests that would create ``marker`` if any part of them were run as code."""
    touch = f"open('{marker}', 'w').write('pwned')"
    shell = f"__import__('os').system('touch {marker}')"
    exprs = [shell, touch, f"exec(\"{touch}\")", f"eval(\"{touch}\")", f"[{touch} for _ in [1]]",
             f"(lambda: {touch})()", "x.__class__.__mro__[-1].__subclasses__()", "breakpoint()",
             f"globals()['__builtins__']['open']('{marker}', 'w')", f"f\"{{{touch}}}\"", f"sum(x, axis={touch})",
             f"x[{touch}]", f"einsum({touch}, x)", f"__builtins__.open('{marker}', 'w')", "sum.__globals__",
             f"x if {touch} else x", f"(y := {touch})", f"x + {touch}", f"linalg.inv(x, a={touch})"]
    out = [(f"expression {e[:40]}", URL, {"function": {"inputs": ["x"], "expression": e}, "args": [[1.0]]})
           for e in exprs]
    node = {"id": "a", "op": "sum", "args": ["x"]}
    graphs: list[dict[str, Any]] = [
        {**node, "op": op} for op in ("eval", "exec", "__import__", "os.system", "builtins.open", "numpy.load",
                                      "np.save", "__class__", "sum.__globals__")]
    graphs += [{**node, "attrs": {"axis": shell}}, {**node, "op": "einsum", "attrs": {"subscripts": touch}},
               {**node, "args": ["x", {"value": shell}]}, {**node, "op": "add", "args": ["x", shell]}]
    out += [(f"graph node {g['op']} {str(g.get('attrs', g['args']))[:30]}", URL,
             {"function": {"inputs": ["x"], "nodes": [g], "outputs": "a"}, "args": [[1.0]]}) for g in graphs]
    pickled = base64.b64encode(pickle.dumps(Exploit(marker))).decode()
    more: list[tuple[str, str, dict[str, Any]]] = [
        ("input named like code", URL, {"function": {"inputs": [shell], "expression": "x"}, "args": [1.0]}),
        ("pickled object tensor", URL, {"function": SEED, "args": [{"dtype": "object", "shape": [], "data": pickled},
                                                                   2.0]}),
        ("pickled bytes as float64", URL, {"function": SEED, "args": [{"dtype": "float64", "shape": [7],
                                                                       "data": pickled}, 2.0]}),
        ("params as code", URL, {"function": SEED, "args": SEED_ARGS, "params": [shell]}),
        ("arg names as code", URL, {"function": SEED, "args": {"__class__": 2, shell: 3}}),
        ("encoding as code", URL, {"function": SEED, "args": SEED_ARGS, "encoding": "pickle"}),
        ("function id as code", f"/v1/functions/{shell}/value-and-gradients", {"args": SEED_ARGS}),
        ("register code", "/v1/functions", {"function": {"inputs": ["x"], "expression": shell}}),
    ]
    return out + more


def _send_all(post: Callable[..., httpx.Response], marker: str) -> None:
    for name, path, body in payloads(marker):
        r = post(path, json=body)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json", name
    assert not os.path.exists(marker), "a request payload was executed"


def test_code_payloads_are_refused_and_never_run_in_process(client: TestClient, tmp_path: Path) -> None:
    _send_all(client.post, str(tmp_path / "pwned"))


@pytest.mark.slow
def test_code_payloads_are_refused_and_never_run_over_uvicorn(live: LiveServer, tmp_path: Path) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        _send_all(http.post, str(tmp_path / "pwned"))


# --- error bodies -------------------------------------------------------------------------------------------

LEAKS = ("Traceback", 'File "', str(ROOT), "/work/", '.py"', ".py'", ".py:", "site-packages", "engine.", "app.",
         "<module>", "0x7f")
SECRET = f'Traceback (most recent call last):\n  File "{ROOT}/engine/api.py", line 1, in <module>'


def _raise(exc: BaseException) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc
    return fail


def _failures() -> list[tuple[str, dict[str, Any], Callable[..., Any] | None, str]]:
    """(code, request, a patch of the evaluation to raise, settings name): one failing request per problem code.

    Server-side failures (the patches) carry a traceback and source paths in their messages: those must stay in
    the log. Engine errors carry messages written for clients, so their patches use ordinary ones.
    """
    fn = {"inputs": ["x"], "expression": "x"}
    json_ct = {"content-type": "application/json"}
    one = {"json": {"function": fn, "args": [1.0]}}
    return [
        ("invalid_json", {"content": b"{nope", "headers": json_ct}, None, "open"),
        ("bad_request", {"content": b"{}", "headers": {**json_ct, "content-length": "12x"}}, None, "open"),
        ("unauthorized", {"json": {"function": SEED, "args": SEED_ARGS}, "headers": {"X-API-Key": "nope"}}, None,
         "keys"),
        ("not_found", {"path": "/v1/" + "nothing" * 20}, None, "open"),
        ("unknown_function", {"path": "/v1/functions/sha256:" + "ab" * 32 + "/value-and-gradients",
                              "json": {"args": [1.0]}}, None, "open"),
        ("method_not_allowed", {"method": "PUT"}, None, "open"),
        ("payload_too_large", {"content": b" " * 5000, "headers": json_ct}, None, "small"),
        ("limit_exceeded", one, _raise(LimitError("over a limit")), "open"),
        ("json_too_deep", {"content": b"[" * 5000 + b"]" * 5000, "headers": json_ct}, None, "open"),
        ("unsupported_media_type", {"content": b"{}", "headers": {"content-type": "text/x-python"}}, None, "open"),
        ("invalid_request", {"json": {"function": fn, "args": [1.0], "extra": 1}}, None, "open"),
        ("invalid_graph", {"json": {"function": {"inputs": 3, "nodes": [], "outputs": "x"}, "args": []}}, None, "open"),
        ("unknown_op", {"json": {"function": {"inputs": ["x"], "nodes": [{"id": "a", "op": "os.system", "args": ["x"]}],
                                              "outputs": "a"}, "args": [1.0]}}, None, "open"),
        ("unknown_reference", {"json": {"function": {"inputs": ["x"], "nodes": [
            {"id": "a", "op": "add", "args": ["x", "__file__"]}], "outputs": "a"}, "args": [1.0]}}, None, "open"),
        ("wrong_arity", {"json": {"function": {"inputs": ["x"], "expression": "add(x)"}, "args": [1.0]}}, None, "open"),
        ("invalid_attrs", {"json": {"function": {"inputs": ["x"], "expression": "sum(x, axis='__file__')"},
                                    "args": [[1.0]]}}, None, "open"),
        ("invalid_expression", {"json": {"function": {"inputs": ["x"], "expression": "__file__.x"}, "args": [1.0]}},
         None, "open"),
        ("shape_mismatch", {"json": {"function": {"inputs": ["x", "y"], "expression": "x @ y"},
                                     "args": [[1.0, 2.0], [1.0]]}}, None, "open"),
        ("invalid_args", {"json": {"function": fn, "args": ["__file__"]}}, None, "open"),
        ("invalid_params", {"json": {"function": fn, "args": [1.0], "params": ["__file__"]}}, None, "open"),
        ("invalid_dy", {"json": {"function": fn, "args": [1.0], "dy": [1.0, 2.0]}}, None, "open"),
        ("too_expensive", {"json": {"function": {"inputs": ["x"], "expression": "x @ x"},
                                    "args": [[[1.0] * 40] * 40]}}, None, "cheap"),
        ("linalg_error", {"json": {"function": {"inputs": ["x"], "expression": "linalg.inv(x)"},
                                   "args": [[[0.0, 0.0], [0.0, 0.0]]]}}, None, "open"),
        ("tracing_error", one, _raise(TracingError("no value in a trace")), "open"),
        ("internal_error", one, _raise(RuntimeError(SECRET)), "open"),
        ("internal_error", one, _raise(KeyError(f"{ROOT}/app/service.py")), "open"),
        ("internal_error", one, _raise(ZeroDivisionError()), "open"),
        ("out_of_memory", one, _raise(MemoryError(SECRET)), "open"),
        ("deadline_exceeded", one, _raise(ServiceError("past the deadline", code="deadline_exceeded")), "open"),
        ("invalid_output", one, _raise(OutputTypeError("output 0 is bool: it has no derivative")), "open"),
        ("request_timeout", one, _raise(ServiceError("the body came too slowly", code="request_timeout")), "open"),
        ("overloaded", one, None, "busy"),
        ("not_ready", {"method": "GET", "path": "/readyz"}, None, "unstarted"),
    ]


SETTINGS: dict[str, dict[str, Any]] = {
    "open": {}, "keys": {"api_keys": ["k"]}, "small": {"max_body_bytes": 4096}, "cheap": {"max_flops": 1000},
    "busy": {"max_concurrency": 1, "max_queue": 0}, "unstarted": {},
}
FAILURES = _failures()


@pytest.mark.parametrize(("code", "request_", "failure", "settings"), FAILURES,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FAILURES)])
def test_error_bodies_never_echo_tracebacks_or_paths(code: str, request_: dict[str, Any],
                                                     failure: Callable[..., Any] | None, settings: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if failure is not None:
        monkeypatch.setattr(app.service, "prepare", failure)
    c = make_client(**SETTINGS[settings])
    kwargs = dict(request_)
    method, path = kwargs.pop("method", "POST"), kwargs.pop("path", URL)
    if settings == "unstarted":  # the lifespan never ran: not ready
        r = c.request(method, path, **kwargs)
    else:
        with c:
            if settings == "busy":
                c.app.state.service.slots.admitted = 1  # type: ignore[attr-defined]  # the only slot is taken
            r = c.request(method, path, **kwargs)
    assert r.status_code == PROBLEMS[code].status and r.json()["code"] == code, r.text
    assert r.headers["content-type"] == "application/problem+json"
    for leak in LEAKS:
        assert leak not in r.text, f"{code}: {leak!r} in {r.text}"


def test_every_problem_code_is_checked_for_leaks() -> None:
    assert {f[0] for f in FAILURES} == set(PROBLEMS)
