"""scipy.optimize driven by a valgrad service: value and gradient in one call, Hessian-vector products for ``hessp``.

    python examples/scipy_optimize.py [URL]        # default $VALGRAD_URL, else http://127.0.0.1:8000

Each objective is a plain NumPy function. ``value_and_gradients_function``
gives ``minimize(..., jac=True)`` the value and the gradient of one request;
``hvp_function`` gives ``trust-ncg`` its ``hessp(x, p)``. The functions are
traced once per signature and registered, so each iteration sends only ``x``
(and ``p``); the data the logistic loss closes over travels once, inside the
traced graph (and a change to it retraces: see ``valgrad.fingerprint``).
Passing ``valgrad`` itself as the ``client`` runs the same code locally.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, minimize

import valgrad


def rosenbrock(x: Any) -> Any:
    """The Rosenbrock function in any dimension: minimum 0 at (1, ..., 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def logistic_problem(n: int = 200, d: int = 5, seed: int = 0) -> tuple[Any, np.ndarray]:
    """An L2-regularised logistic-regression loss over synthetic data, and a starting point."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d))
    labels = (features @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) > 0).astype(np.float64)

    def loss(w: Any) -> Any:
        z = features @ w
        return np.mean(np.logaddexp(0.0, z) - labels * z) + 0.01 * np.sum(w * w)

    return loss, np.zeros(d)


def solve(client: Any, f: Any, x0: np.ndarray, method: str) -> OptimizeResult:
    """``minimize(f, x0, method)`` with value+gradient (and HVPs for trust-ncg) from ``client``'s functions."""
    value_and_gradients = client.value_and_gradients_function(f)
    hvp = client.hvp_function(f)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, (grad,) = value_and_gradients(x)
        return float(value), np.asarray(grad)

    def hessp(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.asarray(hvp(x, vectors=p)[2][0])

    options = {"gtol": 1e-10} if method == "trust-ncg" else {"gtol": 1e-10, "ftol": 1e-15}
    return minimize(fun, x0, jac=True, hessp=hessp if method == "trust-ncg" else None, method=method,
                    options=options)


def main(url: str | None = None) -> None:
    loss, w0 = logistic_problem()
    with valgrad.Client(url) as client:
        for name, f, x0 in (("rosenbrock-10d", rosenbrock, np.full(10, -1.0)), ("logistic", loss, w0)):
            for method in ("trust-ncg", "L-BFGS-B"):
                remote, local = solve(client, f, x0, method), solve(valgrad, f, x0, method)
                gap = float(np.max(np.abs(remote.x - local.x)))
                print(f"{name:15} {method:10} f={remote.fun:.3e} nit={remote.nit:4} |x - x_local|={gap:.1e}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
