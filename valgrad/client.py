"""``Client``: the synchronous valgrad service client; all logic lives in ``BaseClient``'s flows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from valgrad._base import DEFAULT_TIMEOUT, Backoff, Flow, Send
from valgrad.info import FunctionHandle, Health, OpSet
from valgrad.toolkit import BoundFunction, RemoteKinds, gradients_of

__all__ = ["Client"]

T = TypeVar("T")


class Client(RemoteKinds):
    """A valgrad service at ``base_url`` (or ``$VALGRAD_URL``, else ``http://127.0.0.1:8000``).

    ``api_key`` defaults to ``$VALGRAD_API_KEY``.

    ``timeout`` applies per request (default 60 s, or the injected ``http_client``'s
    own); failed requests are retried ``max_retries`` times as ``backoff`` says.
    ``client.with_options(timeout=..., max_retries=...)`` overrides either for the calls
    made through it (``client.with_options(timeout=300).ops()``), sharing this client's
    connection pool; ``g.with_options(...)`` does the same for one remote function ``g``
    and keeps its traces and registrations.
    """

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2,
                 backoff: Backoff | None = None, http_client: httpx.Client | None = None,
                 encoding: str = "msgpack") -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff,
                         encoding=encoding)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)

    def _run(self, flow: Flow[T]) -> T:
        """Perform a flow's effects until it returns."""
        try:
            effect = next(flow)
            while True:
                if isinstance(effect, Send):
                    try:
                        response = self._http.send(self._build(self._http, effect))
                    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                        effect = flow.throw(self._connection_error(exc, effect))
                        continue
                    effect = flow.send(response)
                else:
                    time.sleep(effect.seconds)
                    effect = flow.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- remote functions (the TF-compatible surface and Version 2's kinds) -----------------------------

    def value_and_gradients_function(self, f: Callable[..., Any], params: Any = None,
                                     unconnected_gradients: str = "none") -> BoundFunction[tuple[Any, list[Any]]]:
        """Return ``g(*args, dy=None) -> (value, [gradients])``, evaluated by the service; ``g.batch(calls)``."""
        return self._function("gradients", f, params, unconnected_gradients)

    def gradients_function(self, f: Callable[..., Any], params: Any = None,
                           unconnected_gradients: str = "none") -> BoundFunction[list[Any]]:
        """Return ``g(*args, dy=None) -> [gradients]``, evaluated by the service; ``g.batch(calls)``."""
        return self._function("gradients", f, params, unconnected_gradients, pick=gradients_of)

    def value_and_jvp_function(self, f: Callable[..., Any], params: Any = None,
                               unconnected_gradients: str = "none") -> BoundFunction[tuple[Any, Any]]:
        """Return ``g(*args, tangents) -> (value, jvp)``, evaluated by the service."""
        return self._function("jvp", f, params, unconnected_gradients)

    def value_and_jacobian_function(self, f: Callable[..., Any], params: Any = None,
                                    unconnected_gradients: str = "none") -> BoundFunction[tuple[Any, Any]]:
        """Return ``g(*args) -> (value, jacobian)``, evaluated by the service."""
        return self._function("jacobian", f, params, unconnected_gradients)

    def hessian_function(self, f: Callable[..., Any], params: Any = None,
                         unconnected_gradients: str = "none") -> BoundFunction[tuple[Any, list[Any], Any]]:
        """Return ``g(*args) -> (value, [grad_i], [[H_ij]])``, evaluated by the service."""
        return self._function("hessian", f, params, unconnected_gradients)

    def hvp_function(self, f: Callable[..., Any], params: Any = None,
                     unconnected_gradients: str = "none") -> BoundFunction[tuple[Any, list[Any], list[Any]]]:
        """Return ``g(*args, vectors) -> (value, [grad_i], [hvp_i])``, evaluated by the service."""
        return self._function("hvp", f, params, unconnected_gradients)

    # -- lower level ----------------------------------------------------------------------------

    def value_and_gradients(self, function: Any, args: Sequence[Any] | Mapping[str, Any], params: Any = None,
                            dy: Any = None, unconnected_gradients: str = "none") -> tuple[Any, list[Any]]:
        """Evaluate a JSON graph, an expression, a ``FunctionHandle`` or a Python function once."""
        return self._run(self._value_and_gradients(function, args, params, dy, unconnected_gradients))

    def register(self, function: Any) -> FunctionHandle:
        """Register a JSON graph, an expression or a Python function (traced for its named parameters)."""
        return self._run(self._register(function))

    def get_function(self, function_id: str) -> FunctionHandle:
        """A registered function, its canonical JSON graph as ``.function``."""
        return self._run(self._get_function(function_id))

    def ops(self) -> OpSet:
        """The service's op set."""
        return self._run(self._ops())

    def health(self) -> Health:
        """The service's liveness answer."""
        return self._run(self._health())

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool, unless the httpx client was injected (its owner closes it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
