"""Swagger UI and ReDoc from assets bundled in ``app/static`` (no CDN: the docs work offline)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from app.openapi import SEED_GRAPH
from app.route_support import service_of

router = APIRouter(include_in_schema=False)
TITLE = "valgrad"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the schema at /openapi.json.

    The registered-function operations' examples name TF's seed (``app.openapi.SEED_GRAPH``), so the page
    puts it in this replica's cache (an O(1) insert of a graph built at import: no parsing, no evaluation
    slot, nothing written to the shared store): "Try it out" then answers 200 on every operation. Holding it
    from startup instead would make the seed's first registration answer 200 rather than 201.
    """
    service_of(request).functions.intern(SEED_GRAPH)
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json", title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{root}/static/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/swagger-ui/favicon-32x32.png",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc for the schema at /openapi.json (system fonts: no Google Fonts request)."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}/openapi.json", title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{root}/static/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}/static/swagger-ui/favicon-32x32.png", with_google_fonts=False,
    )
