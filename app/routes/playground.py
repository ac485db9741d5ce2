"""The playground at ``/``: a page that calls the service's own API, and one trailing-slash rule.

The page (``app/static/playground/``) is static: its JavaScript only sends
requests to the API and draws what comes back, so every number on it is the
service's. ``TrailingSlash`` answers ``/v1/value-and-gradients/`` as
``/v1/value-and-gradients`` (Starlette would answer a 307 with an empty body,
which a POST client rarely follows).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).resolve().parent.parent / "static" / "playground" / "index.html"


@router.get("/")
async def playground(request: Request) -> HTMLResponse:
    """The playground page; asset URLs follow the app's root path (behind a path-prefix proxy)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    html = PAGE.read_text(encoding="utf-8").replace("{{root}}", root)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


class TrailingSlash:
    """Route ``/path/`` as ``/path`` (not ``/`` itself): the same answer instead of a redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
            if isinstance(scope.get("raw_path"), bytes):
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
