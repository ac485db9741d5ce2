"""What routes take from the request: the app's service and the raw JSON body.

Plain helpers called by the routes, not FastAPI dependencies: each
dependency costs FastAPI tens of microseconds per request, more than a
small evaluation, and these need nothing but the request. Tests swap the
service by assigning ``app.state.service``.
"""

from __future__ import annotations

from fastapi import Request

from app.errors import UnsupportedMediaTypeError
from app.msgpack_wire import is_msgpack
from app.service import Service

__all__ = ["read_body", "service_of"]


def service_of(request: Request) -> Service:
    """The app's evaluation service."""
    service: Service = request.app.state.service
    return service


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request) -> bytes:
    """The request body, unparsed (parsing happens once, in the service); JSON or MessagePack media types."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not (_is_json(content_type) or is_msgpack(content_type)):
        raise UnsupportedMediaTypeError(f"the body must be JSON or MessagePack: send 'Content-Type: "
                                        f"application/json' or 'application/msgpack' (got {content_type[:60]!r})")
    return await request.body()
