"""TF r1.15's contract (DESIGN.md, bullet by bullet) for Python functions and for graphs, and the public surface."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from engine import (
    ArgumentError,
    Array,
    CotangentError,
    ParamsError,
    gradients_function,
    value_and_gradients,
    value_and_gradients_function,
)
from tests.support import SEED_ARGS, SEED_GRADIENTS, SEED_GRAPH, SEED_VALUE, seed


def local(params: Any = None, **kw: Any) -> Any:
    return lambda *args, **call: value_and_gradients_function(seed, params, **kw)(*args, **call)


def remote(params: Any = None, **kw: Any) -> Any:
    return lambda *args, **call: value_and_gradients(SEED_GRAPH, list(args), params, call.get("dy"), **kw)


BOTH = [pytest.param(local, id="local"), pytest.param(remote, id="graph")]
DX, DY = SEED_GRADIENTS


def values(grads: list[Any]) -> list[Any]:
    return [None if g is None else float(g) for g in grads]


def test_seed_example_runs_unchanged() -> None:
    f_val, (x_grad, y_grad) = value_and_gradients_function(seed)(2.0, 3.0)
    assert f_val.numpy() == 6.0 and x_grad.numpy() == 27.0 and y_grad.numpy() == -4.0


@pytest.mark.parametrize("make", BOTH)
@pytest.mark.parametrize(("params", "expected"), [
    (None, [DX, DY]),
    (["x", "y"], [DX, DY]),
    (["y", "x"], [DY, DX]),
    ([0, 1], [DX, DY]),
    ([1], [DY]),
    ([-1], [DY]),
    ([-2, -1], [DX, DY]),
    ("y", [DY]),
    (0, [DX]),
    (np.int64(1), [DY]),
    ((1, 0), [DY, DX]),
    ([], []),
    (["x", "x"], [DX, DX]),
    ([1, -1, 1], [DY, DY, DY]),
])
def test_params_select_and_order_gradients(make: Any, params: Any, expected: list[float]) -> None:
    value, grads = make(params)(*SEED_ARGS)
    assert float(value) == SEED_VALUE
    assert values(grads) == expected


@pytest.mark.parametrize("make", BOTH)
@pytest.mark.parametrize("params", [[0, "y"], ["x", 1], [1.0], [0, 1.0], [True], [None]])
def test_mixed_or_non_integer_params_raise_tf_message(make: Any, params: Any) -> None:
    with pytest.raises(ValueError) as info:
        make(params)(*SEED_ARGS)
    assert str(info.value) == f"params must be all strings or all integers; got {params!r}."
    assert isinstance(info.value, ParamsError)


def test_mixed_params_message_is_tfs_verbatim() -> None:
    with pytest.raises(ValueError, match=r"^params must be all strings or all integers; got \[0, 'y'\]\.$"):
        value_and_gradients_function(seed, params=[0, "y"])(*SEED_ARGS)


@pytest.mark.parametrize("make", BOTH)
@pytest.mark.parametrize(("params", "named", "listed"), [
    (["z"], "'z'", "x, y"),
    (["x", "nope"], "'nope'", "x, y"),
    ([2], "index 2", "0..1"),
    ([-3], "index -3", "-2..-1"),
])
def test_unknown_params_name_the_culprit_and_list_valid_ones(make: Any, params: Any, named: str, listed: str) -> None:
    with pytest.raises(ParamsError) as info:
        make(params)(*SEED_ARGS)
    assert named in info.value.message and listed in info.value.message


def test_param_left_to_its_default_is_not_differentiated() -> None:
    def f(x: Any, y: Any = 2.0) -> Any:
        return x * y

    value, grads = value_and_gradients_function(f)(3.0)
    assert float(value) == 6.0 and values(grads) == [2.0]
    with pytest.raises(ParamsError, match="'y' has no argument"):
        value_and_gradients_function(f, params=["y"])(3.0)


def test_params_by_index_work_for_uninspectable_functions() -> None:
    value, grads = value_and_gradients_function(np.multiply, params=[1])(2.0, 5.0)
    assert float(value) == 10.0 and values(grads) == [2.0]


@pytest.mark.parametrize(("f", "kind", "expected_value"), [
    (lambda x: x * 2, Array, 6.0),
    (lambda x: [x * 2, x * x], list, [6.0, 9.0]),
    (lambda x: (x * 2, x * x), tuple, (6.0, 9.0)),
    (lambda x: [x * 2], list, [6.0]),
    (lambda x: {"b": x * 2, "a": x * x}, dict, {"a": 9.0, "b": 6.0}),
    (lambda x: {"p": [x, x * x], "q": (x * 2,)}, dict, {"p": [3.0, 9.0], "q": (6.0,)}),
])
def test_value_keeps_the_structure_of_fs_output(f: Any, kind: type, expected_value: Any) -> None:
    value, _ = value_and_gradients_function(f)(3.0)
    assert type(value) is kind
    leaves = value.values() if isinstance(value, dict) else (value if isinstance(value, list | tuple) else [value])
    assert all(hasattr(leaf, "numpy") for leaf in leaves if not isinstance(leaf, list | tuple))
    assert repr(_floats(value)) == repr(expected_value)


def _floats(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _floats(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(_floats(t) for t in tree)
    return float(tree)


@pytest.mark.parametrize(("f", "expected"), [
    (lambda x: [x * 2, x * x], 2.0 + 6.0),
    (lambda x: {"b": x * 2, "a": x * x}, 8.0),
    (lambda x: np.stack([x, x * x]), 1.0 + 6.0),
    (lambda x: (x * np.ones(3), [x]), 3.0 + 1.0),
])
def test_the_sum_of_all_outputs_is_differentiated(f: Any, expected: float) -> None:
    _, (dx,) = value_and_gradients_function(f)(3.0)
    assert float(dx) == expected


def test_f_returning_none_is_refused_with_tfs_message() -> None:
    message = "Cannot differentiate a function that returns None; did you forget to return a value from f?"
    with pytest.raises(ValueError) as info:
        value_and_gradients_function(lambda x: None)(1.0)
    assert str(info.value) == message


@pytest.mark.parametrize("kwargs", [{"x": 1.0}, {"dy": 1.0, "y": 2.0}, {"params": [0]}])
def test_keyword_arguments_other_than_dy_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        value_and_gradients_function(seed)(*SEED_ARGS, **kwargs)
    assert str(info.value) == "Functions to be differentiated cannot receive keyword arguments."
    with pytest.raises(ValueError, match="cannot receive keyword arguments"):
        gradients_function(seed)(*SEED_ARGS, **kwargs)


@pytest.mark.parametrize(("f", "dy", "expected"), [
    (lambda x: x * x, 5.0, [30.0]),
    (lambda x: x * np.arange(3.0), [1.0, 2.0, 3.0], [0.0 + 2.0 + 6.0]),
    (lambda x: x * np.arange(3.0), 2.0, [2.0 * 3.0]),  # broadcast to the output's shape
    (lambda x: x * np.ones((2, 3)), [[1.0], [2.0]], [9.0]),
    (lambda x: [x * 2, x * x], [10.0, 1.0], [20.0 + 6.0]),
    (lambda x: (x * 2, x * x), (0.0, 1.0), [6.0]),
    (lambda x: {"b": x * 2, "a": x * x}, [1.0, 10.0], [6.0 + 20.0]),  # sorted keys: a, b
    (lambda x: {"b": x * 2, "a": x * x}, {"a": 0.0, "b": 1.0}, [2.0]),
])
def test_dy_weights_each_flattened_output(f: Any, dy: Any, expected: list[float]) -> None:
    plain, _ = value_and_gradients_function(f)(3.0)
    value, grads = value_and_gradients_function(f)(3.0, dy=dy)
    assert [float(np.sum(g)) for g in grads] == expected
    assert repr(_floats_any(value)) == repr(_floats_any(plain))  # dy never changes the value


def _floats_any(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _floats_any(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_floats_any(t) for t in tree]
    return np.asarray(tree).tolist()


@pytest.mark.parametrize(("f", "dy", "fragment"), [
    (lambda x: x * np.ones(3), [1.0, 2.0], "shape [2]"),
    (lambda x: x * np.ones((2, 3)), np.ones((3, 2)), "shape [3, 2]"),
    (lambda x: x * 2, [1.0, 2.0], "does not fit"),
    (lambda x: [x, x * 2], [1.0], "one cotangent per output"),
    (lambda x: [x, x * 2], [1.0, 2.0, 3.0], "dy has 3"),
    (lambda x: {"a": x}, {"a": 1.0, "b": 2.0}, "dy has 2"),
    (lambda x: x * 2, "abc", "numeric"),
    (lambda x: [x, x * 2], [1.0, np.ones(2)], "does not fit"),
])
def test_dy_of_wrong_count_or_shape_is_refused(f: Any, dy: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        value_and_gradients_function(f)(3.0, dy=dy)
    assert isinstance(info.value, CotangentError)


@pytest.mark.parametrize(("f", "args", "shapes"), [
    (lambda x, y: x + y, [np.ones(3), 1.0], [(3,), ()]),
    (lambda x, y: x * y, [np.ones((2, 1)), np.ones((1, 3))], [(2, 1), (1, 3)]),
    (lambda x, y: x - y, [np.ones((4, 2, 3)), np.ones(3)], [(4, 2, 3), (3,)]),
    (lambda x, y: x / y, [np.ones((2, 3)), np.ones((2, 1))], [(2, 3), (2, 1)]),
])
def test_gradients_have_each_arguments_shape(f: Any, args: list[Any], shapes: list[tuple[int, ...]]) -> None:
    _, grads = value_and_gradients_function(f)(*args)
    assert [g.shape for g in grads] == shapes


def test_broadcast_gradient_is_summed() -> None:
    _, (dx, dy) = value_and_gradients_function(lambda x, y: x * y)(np.full((2, 1), 2.0), np.arange(3.0))
    np.testing.assert_array_equal(dx, [[3.0], [3.0]])
    np.testing.assert_array_equal(dy, [4.0, 4.0, 4.0])


@pytest.mark.parametrize(("f", "args", "expected"), [
    (lambda x, y: x * 2, [1.0, np.ones(3)], [2.0, None]),
    (lambda x, y: y * 0, [1.0, 1.0], [None, 0.0]),  # multiplying by zero is connected
    (lambda x, y: x > y, [1.0, 2.0], [None, None]),  # comparisons carry no gradient
    (lambda x, y: np.ones(2), [1.0, 2.0], [None, None]),
])
def test_unconnected_params_get_none(f: Any, args: list[Any], expected: list[Any]) -> None:
    _, grads = value_and_gradients_function(f)(*args)
    assert [None if g is None else float(np.sum(g)) for g in grads] == expected


def test_unconnected_zero_gives_zeros_of_the_arguments_shape_and_dtype() -> None:
    f = value_and_gradients_function(lambda x, y: x * 2, unconnected_gradients="zero")
    _, (dx, dy) = f(1.0, np.ones((2, 3), np.float32))
    assert float(dx) == 2.0
    assert dy.shape == (2, 3) and dy.dtype == np.float32 and not dy.any() and hasattr(dy, "numpy")


def test_unconnected_gradients_must_be_none_or_zero() -> None:
    with pytest.raises(ValueError, match="'none' or 'zero'"):
        value_and_gradients_function(seed, unconnected_gradients="zeros")  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "dtype"), [
    ([2.0, 3.0], np.float64),
    ([2, 3], np.float64),
    ([np.array([1, 2]), np.int32(3)], np.float64),
    ([True, 3.0], np.float64),
    ([np.float32(2.0), np.ones(2, np.float32)], np.float32),
    ([np.ones((2, 2), np.float32), np.float32(3)], np.float32),
])
def test_arguments_become_float64_and_float32_stays(args: list[Any], dtype: Any) -> None:
    value, grads = value_and_gradients_function(seed)(*args)
    assert value.dtype == dtype
    assert [g.dtype for g in grads] == [dtype, dtype]


def test_integer_arguments_are_differentiated_as_floats() -> None:
    value, (dx,) = value_and_gradients_function(lambda x: x / 2)(3)
    assert float(value) == 1.5 and float(dx) == 0.5


@pytest.mark.parametrize("arg", ["abc", np.array(["a"]), 1 + 2j, object()])
def test_non_numeric_arguments_are_refused(arg: Any) -> None:
    with pytest.raises(ArgumentError, match="argument 0"):
        value_and_gradients_function(lambda x: x * 2)(arg)


def test_results_are_owned_numpy_arrays_with_numpy_method() -> None:
    x = np.ones(3)
    value, (dx,) = value_and_gradients_function(lambda x: x)(x)
    for r in (value, dx):
        assert isinstance(r, np.ndarray) and isinstance(r.numpy(), np.ndarray)
        assert type(r.numpy()) is np.ndarray
    dx[0] = 5.0  # the gradient is writable and aliases nothing the caller holds
    assert x[0] == 1.0


def test_gradients_function_returns_only_the_gradients() -> None:
    grads = gradients_function(seed, params=["y"])(*SEED_ARGS)
    assert values(grads) == [DY]


def test_non_param_arguments_reach_f_untouched_as_in_tf() -> None:
    seen: list[Any] = []

    def f(x: Any, n: Any, label: Any) -> Any:
        seen.extend([n, label])
        for _ in range(n):  # an int stays an int, so it can drive Python code
            x = x * 2
        return x

    value, grads = value_and_gradients_function(f, params=[0])(1.0, 3, "tag")
    assert seen == [3, "tag"] and type(seen[0]) is int
    assert float(value) == 8.0 and values(grads) == [8.0]


def test_params_are_float_tensors_even_when_given_as_ints() -> None:
    seen: list[Any] = []

    def f(x: Any) -> Any:
        seen.append(x.dtype)
        return x

    value_and_gradients_function(f)(np.arange(3))
    assert seen == [np.float64]


def test_python_control_flow_on_values_works_eagerly() -> None:
    def f(x: Any) -> Any:
        return x * x if x > 0 else -x

    assert values(gradients_function(f)(3.0)) == [6.0]
    assert values(gradients_function(f)(-3.0)) == [-1.0]


# -- graphs --------------------------------------------------------------------


@pytest.mark.parametrize("args", [[2.0, 3.0], (2, 3), {"x": 2.0, "y": 3.0}, {"y": 3, "x": 2}])
def test_graph_args_by_position_or_by_name(args: Any) -> None:
    value, grads = value_and_gradients(SEED_GRAPH, args)
    assert float(value) == SEED_VALUE and values(grads) == [DX, DY]
    assert hasattr(value, "numpy") and all(hasattr(g, "numpy") for g in grads)


@pytest.mark.parametrize(("args", "fragment", "pointer"), [
    ([2.0], "takes 2 argument(s) (x, y), got 1", "/args"),
    ([2.0, 3.0, 4.0], "got 3", "/args"),
    ({"x": 2.0}, "missing argument 'y'", "/args"),
    ({"x": 2.0, "y": 3.0, "z": 1.0}, "unknown argument 'z'", "/args/z"),
    ("xy", "a list (by position) or an object (by name)", "/args"),
    ([2.0, "abc"], "argument 1", "/args/1"),
])
def test_graph_args_that_do_not_fit_are_refused(args: Any, fragment: str, pointer: str) -> None:
    with pytest.raises(ArgumentError) as info:
        value_and_gradients(SEED_GRAPH, args)
    assert fragment in info.value.message and info.value.pointer == pointer


def test_graph_list_output_and_dy() -> None:
    graph = {"inputs": ["x"], "nodes": [{"id": "a", "op": "multiply", "args": ["x", 2.0]},
                                        {"id": "b", "op": "multiply", "args": ["x", "x"]}],
             "outputs": ["a", "b"]}
    value, (dx,) = value_and_gradients(graph, [3.0])
    assert isinstance(value, list) and [float(v) for v in value] == [6.0, 9.0] and float(dx) == 8.0
    value2, (dx2,) = value_and_gradients(graph, [3.0], dy=[10.0, 1.0])
    assert [float(v) for v in value2] == [6.0, 9.0] and float(dx2) == 26.0
    with pytest.raises(CotangentError, match="dy has 1"):
        value_and_gradients(graph, [3.0], dy=[1.0])


def test_graph_single_item_list_output_stays_a_list() -> None:
    graph = {"inputs": ["x"], "nodes": [{"id": "a", "op": "sin", "args": ["x"]}], "outputs": ["a"]}
    value, _ = value_and_gradients(graph, [0.0])
    assert isinstance(value, list) and len(value) == 1


def test_graph_unconnected_and_zero() -> None:
    graph = {"inputs": ["x", "y"], "nodes": [{"id": "a", "op": "exp", "args": ["x"]}], "outputs": "a"}
    assert value_and_gradients(graph, [0.0, np.ones(2)])[1][1] is None
    dy = value_and_gradients(graph, [0.0, np.ones(2)], unconnected_gradients="zero")[1][1]
    assert dy.shape == (2,) and not dy.any()


def test_graph_dtypes_follow_the_arguments() -> None:
    value, grads = value_and_gradients(SEED_GRAPH, [np.float32(2), np.ones(2, np.float32)])
    assert value.dtype == np.float32 and [g.dtype for g in grads] == [np.float32, np.float32]
    value, grads = value_and_gradients(SEED_GRAPH, [2, np.arange(2)])
    assert value.dtype == np.float64 and [g.dtype for g in grads] == [np.float64, np.float64]


def test_graph_dy_shape_is_checked() -> None:
    with pytest.raises(CotangentError, match="does not fit"):
        value_and_gradients(SEED_GRAPH, [np.ones(3), 1.0], dy=np.ones(2))
    _, grads = value_and_gradients(SEED_GRAPH, [np.ones(3), 1.0], dy=np.array([1.0, 0.0, 0.0]))
    assert float(np.sum(grads[0])) == 2.0  # d/dx (x**3 y - x y**2) at x=1, y=1 is 3 - 1, first element only


def test_graph_repeated_calls_reuse_cached_plans_without_changing_results() -> None:
    from engine.graph import load_function

    graph = load_function(SEED_GRAPH)
    first = [value_and_gradients(graph, SEED_ARGS, p) for p in (None, ["y"], None, ["y"])]
    assert [values(g) for _, g in first] == [[DX, DY], [DY], [DX, DY], [DY]]
    assert len(graph.plans) == 2


@pytest.mark.parametrize(("arg", "dtype"), [
    (np.ones(2, np.float16), np.float32),
    (np.ones(2, np.longdouble), np.float64),
    (np.uint8(3), np.float64),
])
def test_other_real_dtypes_become_float32_or_float64(arg: Any, dtype: Any) -> None:
    value, (dx,) = value_and_gradients_function(lambda x: x * 2)(arg)
    assert value.dtype == dtype and dx.dtype == dtype


def test_gradients_never_alias_the_callers_dy() -> None:
    dy = np.array([1.0, 2.0])
    _, (dx,) = value_and_gradients_function(lambda x: x)(np.zeros(2), dy=dy)
    dx[0] = 99.0
    assert dy[0] == 1.0


def test_dy_of_an_output_that_depends_on_no_param_is_still_checked() -> None:
    with pytest.raises(CotangentError, match="does not fit"):
        value_and_gradients_function(lambda x: [x, np.ones(2)])(1.0, dy=[1.0, np.ones(3)])


def test_engine_trace_is_the_function_and_no_module_shadows_it() -> None:
    import engine
    import engine.tracing

    assert callable(engine.trace) and engine.trace.__module__ == "engine.tracing"


def test_importing_any_engine_module_first_initialises_the_package() -> None:
    import subprocess
    import sys

    # Any ``import engine.<module>`` runs engine/__init__ first, so one fresh process checks the order;
    # a submodule that imported a name from the half-initialised package would fail here.
    script = "import engine.errors, engine; assert callable(engine.trace) and len(engine.OPS) > 50"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# -- the public surface and the gradient checker ----------------------------------


def test_public_surface_resolves() -> None:
    import engine

    assert all(getattr(engine, name) is not None for name in engine.__all__)
    assert issubclass(engine.ParamsError, ValueError) and issubclass(engine.TracingError, TypeError)
    assert "multiply" in engine.OPS and engine.Limits() == engine.DEFAULT_LIMITS


@pytest.mark.parametrize(("function", "args", "params"), [
    (seed, SEED_ARGS, None),
    (lambda x, w: {"a": np.tanh(x @ w), "b": [np.sum(w ** 2)]}, [np.ones((2, 3)) * 0.1, np.eye(3)[:, :2]], None),
    (lambda x, y: np.maximum(x, y) * np.sin(x), [np.array([0.3, -1.0]), 0.1], ["y"]),
    (lambda x, y: x * 2.0, [1.0, np.ones(2)], None),  # y unconnected: its derivative must be 0
    (SEED_GRAPH, [np.array([1.0, 2.0]), 3.0], None),
    ({"inputs": ["x", "y"], "expression": ["exp(x) / y", "x @ x"]}, [np.ones(3), 2.0], [-1]),
])
def test_check_grads_accepts_correct_gradients(function: Any, args: list[Any], params: Any) -> None:
    from engine import check_grads

    check_grads(function, args, params)


@pytest.mark.parametrize("function", [
    lambda x: np.where(x > 0, x, -x),  # at the kink the rule picks one side, central differences average
    {"inputs": ["x"], "expression": "where(x > 0, x, -x)"},
])
def test_check_grads_reports_a_gradient_that_differs_from_central_differences(function: Any) -> None:
    from engine import check_grads

    with pytest.raises(AssertionError, match="argument 0"):
        check_grads(function, [0.0])


def test_numpy_warnings_point_at_the_callers_line_once_each() -> None:
    import warnings

    g = value_and_gradients_function(lambda x: np.log(x) * np.sqrt(x))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g(np.array([-1.0, 0.0, 2.0]))
    assert caught and all(w.filename == __file__ for w in caught)
    assert len({str(w.message) for w in caught}) == len(caught)


def test_the_numpy_error_policy_of_a_graph_evaluation_is_the_callers() -> None:
    from engine.evaluation import prepare

    evaluation = prepare({"inputs": ["x"], "expression": "log(x)"}, [0.0])
    assert float(evaluation.run()[0]) == -np.inf  # NaN and inf are answers by default
    with pytest.raises(FloatingPointError):
        prepare({"inputs": ["x"], "expression": "log(x)"}, [0.0]).run(numpy_errors="raise")


def test_engine_messages_never_name_the_services_routes() -> None:
    from pathlib import Path

    import engine

    # the service adds its own hints (app.errors.PROBLEMS); the engine is also used with no service at all
    root = Path(engine.__file__).parent
    named = [str(p.relative_to(root)) for p in root.rglob("*.py") if "/v1/" in p.read_text(encoding="utf-8")]
    assert named == []
