"""``AsyncClient``: ``Client``'s methods as coroutines; the same ``BaseClient`` flows, run with ``await``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from valgrad._base import DEFAULT_TIMEOUT, Backoff, BaseClient, Flow, Send
from valgrad.remote import FunctionHandle, RemoteFunction

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(BaseClient):
    """An asyncio valgrad service client; see ``Client`` for the arguments."""

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2,
                 backoff: Backoff | None = None, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff)
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
                        effect = flow.throw(self._connection_error(exc))
                        continue
                    effect = flow.send(response)
                else:
                    await anyio.sleep(effect.seconds)  # anyio: works under asyncio and trio, as httpx does
                    effect = flow.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- remote functions ---------------------------------------------------------------------

    def value_and_gradients_function(
        self, f: Callable[..., Any], params: Any = None, unconnected_gradients: str = "none"
    ) -> Callable[..., Coroutine[Any, Any, tuple[Any, list[Any]]]]:
        """Return ``async g(*args, dy=None) -> (value, [gradients])``, evaluated by the service."""
        remote = RemoteFunction(f, params, unconnected_gradients)

        async def decorated(*args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
            return await self._run(self._call(remote, args, kwargs))

        decorated.__doc__ = f"Remote value and gradients of {getattr(f, '__name__', 'f')}."
        return decorated

    def gradients_function(self, f: Callable[..., Any], params: Any = None,
                           unconnected_gradients: str = "none") -> Callable[..., Coroutine[Any, Any, list[Any]]]:
        """Return ``async g(*args, dy=None) -> [gradients]``, evaluated by the service."""
        inner = self.value_and_gradients_function(f, params, unconnected_gradients)

        async def decorated(*args: Any, **kwargs: Any) -> list[Any]:
            return (await inner(*args, **kwargs))[1]

        return decorated

    # -- lower level --------------------------------------------------------------------------

    async def value_and_gradients(self, function: Any, args: Sequence[Any] | Mapping[str, Any], params: Any = None,
                                  dy: Any = None, unconnected_gradients: str = "none") -> tuple[Any, list[Any]]:
        """Evaluate a JSON graph, an expression, a ``FunctionHandle`` or a Python function once."""
        return await self._run(self._value_and_gradients(function, args, params, dy, unconnected_gradients))

    async def register(self, function: Any) -> FunctionHandle:
        """Register a JSON graph, an expression or a Python function (traced for its named parameters)."""
        return await self._run(self._register(function))

    async def get_function(self, function_id: str) -> Any:
        """The canonical JSON graph of a registered function."""
        return await self._run(self._get_function(function_id))

    async def ops(self) -> Any:
        """The service's op set."""
        return await self._run(self._ops())

    async def health(self) -> Any:
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
