"""``AsyncClient``: ``Client``'s methods as coroutines; the same ``BaseClient`` flows, run with ``await``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from valgrad._base import DEFAULT_TIMEOUT, Backoff, Flow, Send
from valgrad.info import FunctionHandle, Health, OpSet
from valgrad.toolkit import BoundFunction, RemoteKinds, gradients_of

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(RemoteKinds):
    """An asyncio valgrad service client; see ``Client`` for the arguments and ``with_options``."""

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2,
                 backoff: Backoff | None = None, http_client: httpx.AsyncClient | None = None,
                 encoding: str = "msgpack") -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff,
                         encoding=encoding)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    async def _run(self, flow: Flow[T]) -> T:
        """Perform a flow's effects until it returns."""
        try:
            effect = next(flow)
            while True:
                if isinstance(effect, Send):
                    try:
                        response = await self._http.send(self._build(self._http, effect))
                    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                        effect = flow.throw(self._connection_error(exc, effect))
                        continue
                    effect = flow.send(response)
                else:
                    await anyio.sleep(effect.seconds)  # anyio: works under asyncio and trio, as httpx does
                    effect = flow.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- remote functions (each returns a coroutine; called inside a trace, the local result) -----------

    def value_and_gradients_function(
        self, f: Callable[..., Any], params: Any = None, unconnected_gradients: str = "none"
    ) -> BoundFunction[Coroutine[Any, Any, tuple[Any, list[Any]]]]:
        """Return ``async g(*args, dy=None) -> (value, [gradients])``, evaluated by the service; ``g.batch``."""
        return self._function("gradients", f, params, unconnected_gradients)

    def gradients_function(self, f: Callable[..., Any], params: Any = None,
                           unconnected_gradients: str = "none") -> BoundFunction[Coroutine[Any, Any, list[Any]]]:
        """Return ``async g(*args, dy=None) -> [gradients]``, evaluated by the service; ``g.batch``."""
        return self._function("gradients", f, params, unconnected_gradients, pick=gradients_of)

    def value_and_jvp_function(self, f: Callable[..., Any], params: Any = None,
                               unconnected_gradients: str = "none") -> BoundFunction[Coroutine[Any, Any, Any]]:
        """Return ``async g(*args, tangents) -> (value, jvp)``, evaluated by the service."""
        return self._function("jvp", f, params, unconnected_gradients)

    def value_and_jacobian_function(self, f: Callable[..., Any], params: Any = None,
                                    unconnected_gradients: str = "none") -> BoundFunction[Coroutine[Any, Any, Any]]:
        """Return ``async g(*args) -> (value, jacobian)``, evaluated by the service."""
        return self._function("jacobian", f, params, unconnected_gradients)

    def hessian_function(self, f: Callable[..., Any], params: Any = None,
                         unconnected_gradients: str = "none") -> BoundFunction[Coroutine[Any, Any, Any]]:
        """Return ``async g(*args) -> (value, [grad_i], [[H_ij]])``, evaluated by the service."""
        return self._function("hessian", f, params, unconnected_gradients)

    def hvp_function(self, f: Callable[..., Any], params: Any = None,
                     unconnected_gradients: str = "none") -> BoundFunction[Coroutine[Any, Any, Any]]:
        """Return ``async g(*args, vectors) -> (value, [grad_i], [hvp_i])``, evaluated by the service."""
        return self._function("hvp", f, params, unconnected_gradients)

    # -- lower level --------------------------------------------------------------------------

    async def value_and_gradients(self, function: Any, args: Sequence[Any] | Mapping[str, Any], params: Any = None,
                                  dy: Any = None, unconnected_gradients: str = "none") -> tuple[Any, list[Any]]:
        """Evaluate a JSON graph, an expression, a ``FunctionHandle`` or a Python function once."""
        return await self._run(self._value_and_gradients(function, args, params, dy, unconnected_gradients))

    async def register(self, function: Any) -> FunctionHandle:
        """Register a JSON graph, an expression or a Python function (traced for its named parameters)."""
        return await self._run(self._register(function))

    async def get_function(self, function_id: str) -> FunctionHandle:
        """A registered function, its canonical JSON graph as ``.function``."""
        return await self._run(self._get_function(function_id))

    async def ops(self) -> OpSet:
        """The service's op set."""
        return await self._run(self._ops())

    async def health(self) -> Health:
        """The service's liveness answer."""
        return await self._run(self._health())

    # -- lifetime -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool, unless the httpx client was injected (its owner closes it)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
