"""Optional API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

With ``VALGRAD_API_KEYS`` empty the service is open. Keys are compared with
``hmac.compare_digest`` against every configured key (no early exit), so the
time taken does not reveal how much of a guess was right. The security
schemes declared here also document the headers in the OpenAPI schema.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.deps import SettingsDep
from app.errors import UnauthorizedError

__all__ = ["require_api_key"]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                        description="an API key from VALGRAD_API_KEYS (only when the server sets keys)")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer",
                     description="an API key from VALGRAD_API_KEYS as a bearer token (only when the server sets keys)")


def _matches(presented: str, keys: list[str]) -> bool:
    given = presented.encode()
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key.encode())
    return ok


async def require_api_key(
    settings: SettingsDep,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """Let the request through when keys are off or one of its headers holds a valid key."""
    keys = settings.api_keys
    if not keys:
        return
    presented = api_key if api_key else (bearer.credentials if bearer else None)
    if not presented:
        raise UnauthorizedError("this server requires an API key: send 'Authorization: Bearer <key>' "
                                "or 'X-API-Key: <key>'")
    if not _matches(presented, keys):
        raise UnauthorizedError("the API key is not valid")
