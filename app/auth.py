"""Optional API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

With ``VALGRAD_API_KEYS`` empty the service is open. Keys are compared with
``hmac.compare_digest`` against every configured key (no early exit), so the
time taken does not reveal how much of a guess was right.

``require_api_key`` reads the two headers itself rather than through
FastAPI's ``Security`` helpers: each dependency costs FastAPI tens of
microseconds per request, more than a small evaluation. The OpenAPI schema
still documents both schemes: ``app.openapi`` adds ``SECURITY`` to every
operation whose route depends on ``require_api_key``.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request

from app.errors import UnauthorizedError

__all__ = ["SECURITY", "SECURITY_SCHEMES", "require_api_key"]

SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "an API key from VALGRAD_API_KEYS (only when the server sets keys)"},
    "Bearer": {"type": "http", "scheme": "bearer",
               "description": "an API key from VALGRAD_API_KEYS as a bearer token (only when the server sets keys)"},
}
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}, {}]  # {}: keys are optional per server


def _matches(presented: str, keys: list[str]) -> bool:
    given = presented.encode()
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key.encode())
    return ok


def _presented_key(request: Request) -> str | None:
    """The key from ``X-API-Key``, else from ``Authorization: Bearer`` (scheme case-insensitive)."""
    headers = request.headers
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


async def require_api_key(request: Request) -> None:
    """Let the request through when keys are off or one of its headers holds a valid key."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    presented = _presented_key(request)
    if not presented:
        raise UnauthorizedError("this server requires an API key: send 'Authorization: Bearer <key>' "
                                "or 'X-API-Key: <key>'")
    if not _matches(presented, keys):
        raise UnauthorizedError("the API key is not valid")
