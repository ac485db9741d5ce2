"""engine.check.check_vjp: accepts right VJPs, rejects wrong ones with a readable message, stays O(1) per argument."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.check import check_vjp

X = np.array([[0.3, -1.2, 2.0], [0.5, 0.1, -0.7]])
Y = np.array([1.5, -0.4, 0.8])


@pytest.mark.parametrize("fun,vjp,args", [
    (np.sin, lambda g, x: [g * np.cos(x)], [X]),
    (np.sin, lambda g, x: g * np.cos(x), [X]),  # one argument: a bare cotangent is accepted
    (lambda x, y: x * y, lambda g, x, y: [g * y, np.sum(g * x, axis=0)], [X, Y]),
    (lambda x: np.sum(x**3), lambda g, x: [g * 3 * x**2], [X]),
    (lambda x: 2.0 * x, lambda g, x: [2.0 * g], [1.5]),
    (lambda x, y: [x + y, x * y], lambda g, x, y: [g[0] + g[1] * y, g[0] + g[1] * x], [Y, Y[::-1]]),
])
def test_correct_vjp_passes(fun: Any, vjp: Any, args: list[Any]) -> None:
    check_vjp(fun, vjp, args)


@pytest.mark.parametrize("fun,vjp,args,message", [
    (lambda x, y: x * y, lambda g, x, y: [g * y, np.sum(g * y, axis=0)], [X, Y], "argument 1"),
    (np.sin, lambda g, x: [-g * np.cos(x)], [X], "argument 0"),
    (np.sin, lambda g, x: [np.sum(g * np.cos(x), axis=0)], [X], "shape"),
    (np.sin, lambda g, x: [g * np.cos(x), g], [X], "2 cotangents for 1 arguments"),
    (np.sqrt, lambda g, x: [g / (2 * np.sqrt(x))], [np.array([0.0, 1.0])], "<v, J u>"),
])
def test_wrong_vjp_raises_assertion_naming_the_argument(fun: Any, vjp: Any, args: list[Any], message: str) -> None:
    with np.errstate(all="ignore"), pytest.raises(AssertionError, match=message.replace("<", ".").replace(">", ".")):
        check_vjp(fun, vjp, args)


def test_message_shows_both_numbers() -> None:
    with pytest.raises(AssertionError) as info:
        check_vjp(lambda x: 3 * x, lambda g, x: [2 * g], [Y])
    text = str(info.value)
    assert "<vjp(v), u> =" in text and "<v, J u> =" in text
    analytic, numeric = (float(part.split("=")[1].split()[0]) for part in text.split(" but "))
    assert numeric == pytest.approx(1.5 * analytic)


def test_none_cotangent_is_skipped() -> None:
    check_vjp(lambda x, y: x * y, lambda g, x, y: [g * y, None], [X, Y])


def test_two_evaluations_per_checked_argument() -> None:
    calls: list[int] = []

    def fun(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        calls.append(1)
        return x * y * z

    check_vjp(fun, lambda g, x, y, z: [g * y * z, None, g * x * y], [Y, Y + 1, Y - 1])
    assert len(calls) == 1 + 2 * 2


def test_arguments_are_checked_in_float64() -> None:
    seen: list[np.dtype[Any]] = []

    def fun(x: np.ndarray) -> np.ndarray:
        seen.append(x.dtype)
        return np.exp(x)

    check_vjp(fun, lambda g, x: [g * np.exp(x)], [Y.astype(np.float32)])
    assert set(seen) == {np.dtype(np.float64)}


def test_seed_makes_the_check_reproducible() -> None:
    def run(seed: int) -> str:
        with pytest.raises(AssertionError) as info:
            check_vjp(np.sin, lambda g, x: [g], [X], seed=seed)
        return str(info.value)

    assert run(3) == run(3) != run(4)
