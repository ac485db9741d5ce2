"""Dependencies the routes declare with ``Annotated`` aliases: settings, the service, the raw body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.errors import UnsupportedMediaTypeError
from app.service import Service
from app.settings import Settings

__all__ = ["RawBody", "ServiceDep", "SettingsDep", "get_service", "get_settings", "read_body"]


def get_settings(request: Request) -> Settings:
    """The settings the app was created with (override in tests via ``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request) -> bytes:
    """The request body, unparsed (parsing happens once, in a worker thread); JSON media types only."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaTypeError(f"the body must be JSON: send 'Content-Type: application/json' "
                                        f"(got {content_type[:60]!r})")
    return await request.body()


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[Service, Depends(get_service)]
RawBody = Annotated[bytes, Depends(read_body)]
