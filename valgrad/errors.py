"""Errors the valgrad SDK raises; no raw httpx exception ever reaches the caller.

Service errors are RFC 9457 problem details; each ``APIStatusError`` carries
their ``code``, ``detail``, ``pointer`` and ``status`` (also ``status_code``),
the ``response`` and its ``request_id`` (the ``X-Request-ID`` header: quote it
when reporting a problem). A 422 is also a ``ValueError``, so ``except
ValueError`` behaves as with TensorFlow and the local API. An
``APIConnectionError`` names the ``method`` and ``url`` it tried.

    ValgradError                    base of everything below; also raised for an empty or malformed base URL
    └── APIError                    something went wrong talking to the service
        ├── APIStatusError          the service answered with a 4xx/5xx status (other statuses)
        │   ├── BadRequestError             400: the body is not valid JSON or not an object
        │   ├── AuthenticationError         401: the API key is missing or wrong
        │   ├── NotFoundError               404: no such route or function on this replica
        │   ├── PayloadTooLargeError        413: the body or a tensor exceeds the service's limits
        │   ├── UnprocessableEntityError    422: invalid function, args, params or dy (also a ValueError)
        │   ├── RateLimitError              429: the service is shedding load; retried first
        │   ├── ServiceUnavailableError     503: the service is overloaded or not ready; retried first
        │   └── InternalServerError         other 5xx: a bug or a failing proxy; retried first
        ├── APIConnectionError      no HTTP response: connection refused, reset, DNS, protocol error
        │   └── APITimeoutError     the request timed out (connect, read, write or pool)
        └── APIResponseError        a 2xx response the SDK cannot read (not JSON, malformed tensors)
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "ValgradError",
    "error_for_response",
    "status_error_class",
]


class ValgradError(Exception):
    """Base of every SDK error."""


class APIError(ValgradError):
    """A failed exchange with the service."""


class APIStatusError(APIError):
    """The service answered with an error status; fields come from its problem details."""

    def __init__(self, status: int, code: str, detail: str, pointer: str | None = None,
                 problem: dict[str, Any] | None = None, *, response: httpx.Response | None = None) -> None:
        where = f" (at {pointer})" if pointer else ""
        super().__init__(f"{status} {code}: {detail}{where}")
        self.status = self.status_code = status
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.problem = problem or {}
        self.response = response  # None only for an item of a batch answer (its own problem object)
        self.request_id: str | None = response.headers.get("x-request-id") if response is not None else None


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401."""


class NotFoundError(APIStatusError):
    """404."""


class PayloadTooLargeError(APIStatusError):
    """413; its message says what an SDK user can do (``detail`` stays the service's)."""

    def __init__(self, status: int, code: str, detail: str, pointer: str | None = None,
                 problem: dict[str, Any] | None = None, *, response: httpx.Response | None = None) -> None:
        super().__init__(status, code, detail, pointer, problem, response=response)
        # The service's advice to JSON clients (send base64) is what the SDK already does.
        message = str(self).replace("; send tensors in base64 (about 1.4x smaller than lists) or split the request", "")
        self.args = (f"{message}; the SDK already sends arrays as base64: split the call into smaller ones, or raise "
                     "the service's limits (VALGRAD_MAX_BODY_BYTES, VALGRAD_MAX_TENSOR_ELEMENTS, "
                     "VALGRAD_MAX_REQUEST_ELEMENTS)",)


class UnprocessableEntityError(APIStatusError, ValueError):
    """422; a ValueError like the local API's input errors."""


class RateLimitError(APIStatusError):
    """429."""


class ServiceUnavailableError(APIStatusError):
    """503."""


class InternalServerError(APIStatusError):
    """5xx other than 503."""


class APIConnectionError(APIError):
    """No response arrived from ``url``."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIResponseError(APIError):
    """A success response the SDK cannot decode."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The one status → exception class mapping."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return InternalServerError if status >= 500 else APIStatusError


def error_for_response(response: httpx.Response) -> APIStatusError:
    """The typed error for an error response, read from its problem details (or its text if it has none)."""
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict):
            problem = body
    except ValueError:  # not JSON, e.g. an HTML page from a proxy
        pass
    status = response.status_code
    code = problem.get("code")
    detail = problem.get("detail") or problem.get("title")
    if not isinstance(detail, str):
        detail = response.text.strip()[:200] or response.reason_phrase or "no detail"
    pointer = problem.get("pointer")
    return status_error_class(status)(
        status,
        code if isinstance(code, str) else f"http_{status}",
        detail,
        pointer if isinstance(pointer, str) else None,
        problem,
        response=response,
    )

