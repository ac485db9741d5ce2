"""``Client``: the synchronous valgrad service client; all logic lives in ``BaseClient``'s flows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from valgrad._base import DEFAULT_TIMEOUT, Backoff, Flow, Send
from valgrad.remote import FunctionHandle
from valgrad.toolkit import RemoteKinds

__all__ = ["Client"]

T = TypeVar("T")


class Client(RemoteKinds):
    """A valgrad service at ``base_url`` (or ``$VALGRAD_URL``, else ``http://127.0.0.1:8000``).

    ``api_key`` defaults to ``$VALGRAD_API_KEY``.

    ``timeout`` applies per request (default 60 s, or the injected ``http_client``'s
    own); failed requests are retried ``max_retries`` times as ``backoff`` says.
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
                                     unconnected_gradients: str = "none") -> Callable[..., tuple[Any, list[Any]]]:
        """Return ``g(*args, dy=None) -> (value, [gradients])``, evaluated by the service; ``g.batch(calls)``."""
        g: Callable[..., tuple[Any, list[Any]]] = self._function("gradients", f, params, unconnected_gradients)
        return g

    def gradients_function(self, f: Callable[..., Any], params: Any = None,
                           unconnected_gradients: str = "none") -> Callable[..., list[Any]]:
        """Return ``g(*args, dy=None) -> [gradients]``, evaluated by the service; ``g.batch(calls)``."""
        inner = self.value_and_gradients_function(f, params, unconnected_gradients)

        def decorated(*args: Any, **kwargs: Any) -> list[Any]:
            return inner(*args, **kwargs)[1]

        def batch(calls: Sequence[Any], return_exceptions: bool = False, **chunking: int) -> list[Any]:
            """Gradients of many calls in order, sent as batch requests."""
            results = inner.batch(calls, return_exceptions, **chunking)  # type: ignore[attr-defined]
            return [r if isinstance(r, Exception) else r[1] for r in results]

        decorated.batch = batch  # type: ignore[attr-defined]
        return decorated

    def value_and_jvp_function(self, f: Callable[..., Any], params: Any = None,
                               unconnected_gradients: str = "none") -> Callable[..., tuple[Any, Any]]:
        """Return ``g(*args, tangents) -> (value, jvp)``, evaluated by the service."""
        g: Callable[..., tuple[Any, Any]] = self._function("jvp", f, params, unconnected_gradients)
        return g

    def value_and_jacobian_function(self, f: Callable[..., Any], params: Any = None,
                                    unconnected_gradients: str = "none") -> Callable[..., tuple[Any, Any]]:
        """Return ``g(*args) -> (value, jacobian)``, evaluated by the service."""
        g: Callable[..., tuple[Any, Any]] = self._function("jacobian", f, params, unconnected_gradients)
        return g

    def hessian_function(self, f: Callable[..., Any], params: Any = None,
                         unconnected_gradients: str = "none") -> Callable[..., tuple[Any, list[Any], Any]]:
        """Return ``g(*args) -> (value, [grad_i], [[H_ij]])``, evaluated by the service."""
        g: Callable[..., tuple[Any, list[Any], Any]] = self._function("hessian", f, params, unconnected_gradients)
        return g

    def hvp_function(self, f: Callable[..., Any], params: Any = None,
                     unconnected_gradients: str = "none") -> Callable[..., tuple[Any, list[Any], list[Any]]]:
        """Return ``g(*args, vectors) -> (value, [grad_i], [hvp_i])``, evaluated by the service."""
        g: Callable[..., tuple[Any, list[Any], list[Any]]] = self._function("hvp", f, params, unconnected_gradients)
        return g

    # -- lower level ----------------------------------------------------------------------------

    def value_and_gradients(self, function: Any, args: Sequence[Any] | Mapping[str, Any], params: Any = None,
                            dy: Any = None, unconnected_gradients: str = "none") -> tuple[Any, list[Any]]:
        """Evaluate a JSON graph, an expression, a ``FunctionHandle`` or a Python function once."""
        return self._run(self._value_and_gradients(function, args, params, dy, unconnected_gradients))

    def register(self, function: Any) -> FunctionHandle:
        """Register a JSON graph, an expression or a Python function (traced for its named parameters)."""
        return self._run(self._register(function))

    def get_function(self, function_id: str) -> Any:
        """The canonical JSON graph of a registered function."""
        return self._run(self._get_function(function_id))

    def ops(self) -> Any:
        """The service's op set."""
        return self._run(self._ops())

    def health(self) -> Any:
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
