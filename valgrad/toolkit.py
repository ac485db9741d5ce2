"""Remote functions of every kind and batches, written once for ``Client`` and ``AsyncClient``.

``Client.<kind>_function`` returns a ``BoundFunction``: a call runs the
``_call`` flow through the client's ``_run`` (so it returns the result for
``Client`` and an awaitable for ``AsyncClient``), unless its arguments are
traced by an enclosing derivative, in which case the local engine runs it and
the enclosing trace records it (nesting). ``.batch`` sends many calls as
``POST .../batch/value-and-gradients`` requests, one per traced signature and
chunk, and splits a chunk the service refuses as too expensive.
``.with_options`` gives the same function (its traces and registrations)
through a client with other timeouts or retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import httpx

from valgrad._base import NOT_GIVEN, BaseClient, Flow, NotGiven
from valgrad.errors import APIResponseError, UnprocessableEntityError, status_error_class
from valgrad.remote import Entry, Item, RemoteFunction

__all__ = ["BATCH_MAX_BYTES", "BATCH_MAX_ITEMS", "BoundFunction", "RemoteKinds", "gradients_of"]

BATCH_MAX_ITEMS = 1000  # calls per request (the service takes up to 10,000)
BATCH_MAX_BYTES = 8 << 20  # body bytes per request (the service's default limit is 64 MiB)
BATCH_PATH = "batch/value-and-gradients"
R = TypeVar("R")


class RemoteKinds(BaseClient):
    """The remote-function factory and the batch flow; subclasses provide ``_run`` (sync or async)."""

    def _run(self, flow: Flow[Any]) -> Any:
        raise NotImplementedError

    def _function(self, kind: str, f: Callable[..., Any], params: Any, unconnected_gradients: str,
                  pick: Callable[[Any], Any] | None = None) -> BoundFunction[Any]:
        """The callable ``<kind>_function`` returns; ``pick`` takes the part of each result it gives back."""
        return BoundFunction(self, RemoteFunction(f, params, unconnected_gradients, kind), pick)

    def _batch(self, remote: RemoteFunction, calls: Sequence[Any], return_exceptions: bool, max_items: int,
               max_bytes: int) -> Flow[list[Any]]:
        results: list[Any] = [None] * len(calls)
        groups, errors = remote.batch_items(calls)
        for i, error in errors.items():
            results[i] = error
        for entry, items in groups:
            for chunk in _chunks(items, max_items, max_bytes):
                yield from self._batch_chunk(remote, entry, chunk, results)
        if not return_exceptions:
            for r in results:
                if isinstance(r, Exception):
                    raise r
        return results

    def _batch_chunk(self, remote: RemoteFunction, entry: Entry, chunk: list[Item], results: list[Any]) -> Flow[None]:
        body: dict[str, Any] = {"requests": [b for _, b, _ in chunk], "encoding": "base64"}
        if remote.unconnected_gradients != "none":
            body["unconnected_gradients"] = remote.unconnected_gradients
        try:
            payload = yield from self._send(entry, body, BATCH_PATH)
        except UnprocessableEntityError as e:
            if e.code != "too_expensive" or e.pointer != "/requests" or len(chunk) < 2:
                raise
            half = len(chunk) // 2  # admitted by total cost: two halves may each fit
            yield from self._batch_chunk(remote, entry, chunk[:half], results)
            yield from self._batch_chunk(remote, entry, chunk[half:], results)
            return
        answers = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(answers, list) or len(answers) != len(chunk):
            raise APIResponseError(f"expected {len(chunk)} batch results, got {answers!r:.80}")
        for (i, _, _), answer in zip(chunk, answers, strict=True):
            results[i] = _item(remote, entry, answer)


class BoundFunction(Generic[R]):
    """A remote function bound to a client: ``g(*args)``, ``g.batch(calls)``, ``g.with_options(timeout=...)``.

    Calls return the result (``Client``) or a coroutine (``AsyncClient``), unless their
    arguments are traced by an enclosing derivative: then the local engine runs the
    call and the enclosing trace records it (nesting).
    """

    def __init__(self, client: RemoteKinds, remote: RemoteFunction, pick: Callable[[Any], Any] | None) -> None:
        self._client, self._remote, self._pick = client, remote, pick
        self.__doc__ = f"Remote {remote.kind.path} of {getattr(remote.f, '__name__', 'f')}."

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        if self._remote.nested(args, kwargs):
            local = self._remote.local(args, kwargs)
            result: R = local if self._pick is None else self._pick(local)
        else:
            result = self._client._run(self._picked(self._client._call(self._remote, args, kwargs)))
        return result

    def batch(self, calls: Sequence[Any], return_exceptions: bool = False, max_items: int = BATCH_MAX_ITEMS,
              max_bytes: int = BATCH_MAX_BYTES) -> Any:
        """Results of many calls (tuples of arguments) in order, sent as batch requests (value and gradients)."""
        flow = self._client._batch(self._remote, calls, return_exceptions, max_items, max_bytes)
        return self._client._run(self._picked_each(flow))

    def with_options(self, *, timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
                     max_retries: int | NotGiven = NOT_GIVEN) -> BoundFunction[R]:
        """This function through ``client.with_options(...)``, keeping its traces and registrations."""
        client = self._client.with_options(timeout=timeout, max_retries=max_retries)
        return BoundFunction(client, self._remote, self._pick)

    def _picked(self, flow: Flow[Any]) -> Flow[Any]:
        result = yield from flow
        return result if self._pick is None else self._pick(result)

    def _picked_each(self, flow: Flow[list[Any]]) -> Flow[list[Any]]:
        results = yield from flow
        pick = self._pick
        return results if pick is None else [r if isinstance(r, Exception) else pick(r) for r in results]


def gradients_of(result: tuple[Any, list[Any]]) -> list[Any]:
    """The gradients of a value-and-gradients result: what ``gradients_function`` gives back."""
    return result[1]


def _item(remote: RemoteFunction, entry: Entry, answer: Any) -> Any:
    """One batch result: decoded as a call's, or the exception its problem object describes."""
    problem = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(problem, dict):
        return remote.decode(entry.spec, answer)
    status = problem["status"] if isinstance(problem.get("status"), int) else 422
    return status_error_class(status)(status, str(problem.get("code", f"http_{status}")),
                                      str(problem.get("detail", "")), problem.get("pointer"), problem)


def _chunks(items: list[Item], max_items: int, max_bytes: int) -> list[list[Item]]:
    """Consecutive runs of at most ``max_items`` items and ``max_bytes`` bytes (an item over it goes alone)."""
    chunks: list[list[Item]] = []
    size = 0
    for item in items:
        if not chunks or len(chunks[-1]) >= max_items or (size + item[2] > max_bytes and chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item[2] + 1
    return chunks
