"""Optional API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` on everything under ``/v1/``.

With ``VALGRAD_API_KEYS`` empty the service is open and this middleware is
not installed at all. With keys set, every request whose path starts with
``/v1/`` must carry one; probes, metrics and docs stay open. One path rule
in one place means a new route cannot forget its check, and a pure ASGI
middleware costs a header scan, where a FastAPI dependency on every route
cost more than a small evaluation. Keys are compared with
``hmac.compare_digest`` against every configured key (no early exit), so the
time taken does not reveal how much of a guess was right. ``app.openapi``
documents ``SECURITY`` on every operation under ``PROTECTED_PREFIX``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import problem_response

__all__ = ["PROTECTED_PREFIX", "SECURITY", "SECURITY_SCHEMES", "ApiKeyMiddleware"]

PROTECTED_PREFIX = "/v1/"
SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "an API key from VALGRAD_API_KEYS (only when the server sets keys)"},
    "Bearer": {"type": "http", "scheme": "bearer",
               "description": "an API key from VALGRAD_API_KEYS as a bearer token (only when the server sets keys)"},
}
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}, {}]  # {}: keys are optional per server
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="valgrad"'}  # RFC 6750 section 3: name the scheme to use


def _presented_key(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The key from ``X-API-Key``, else from ``Authorization: Bearer`` (scheme case-insensitive)."""
    api_key = authorization = None
    for name, value in headers:
        if name == b"x-api-key" and api_key is None:
            api_key = bytes(value).strip()
        elif name == b"authorization" and authorization is None:
            authorization = bytes(value)
    if api_key:
        return api_key
    scheme, _, credentials = (authorization or b"").partition(b" ")
    return (credentials.strip() or None) if scheme.lower() == b"bearer" else None


class ApiKeyMiddleware:
    """401 ``unauthorized`` for a request under ``/v1/`` without one of ``keys``."""

    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    def _matches(self, presented: bytes) -> bool:
        ok = False
        for key in self.keys:
            ok |= hmac.compare_digest(presented, key)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            presented = _presented_key(scope["headers"])
            refusal = None
            if not presented:
                refusal = ("this server requires an API key: send 'Authorization: Bearer <key>' "
                           "or 'X-API-Key: <key>'")
            elif not self._matches(presented):
                refusal = "the API key is not valid"
            if refusal is not None:
                await problem_response("unauthorized", refusal, headers=_CHALLENGE)(scope, receive, send)
                return
        await self.app(scope, receive, send)
