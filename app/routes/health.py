"""Liveness, readiness and metrics: open even when API keys are set."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from app.errors import ServiceError
from app.openapi import responses
from app.schemas import Health
from app.wire import JSONBytes

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", summary="Liveness", response_model=Health,
            responses=responses(Health))
async def healthz() -> JSONBytes:
    """The process is serving requests."""
    return JSONBytes(b'{"status":"ok"}')


@router.get("/readyz", operation_id="readyz", summary="Readiness", response_model=Health,
            responses=responses(Health, 503))
async def readyz(request: Request) -> JSONBytes:
    """The app has started (op set loaded) and is not shutting down: it can take traffic."""
    if not request.app.state.ready:
        raise ServiceError("the server is starting or shutting down", code="not_ready")
    return JSONBytes(b'{"status":"ready"}')


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
            response_description="Prometheus text exposition format")
async def metrics(request: Request) -> Response:
    """Request counts and latency by route and status, evaluation time, nodes run, cache size, hits and misses."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
