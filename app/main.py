"""The FastAPI app: ``create_app(settings)`` wires settings, middleware, error handlers and routers.

``app.main:app`` is the app built from the ``VALGRAD_*`` environment, for ``uvicorn app.main:app``,
``fastapi run`` and gunicorn; it is built on first access, so importing this module has no side effects.

Middleware, outermost first: access (request id, log, metrics, last-resort
500) -> CORS (when configured) -> API keys (when configured) -> body limits
(size, shared budget) -> routes. Shutdown stops the evaluation
worker processes. Everything else lives in the module its name says.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app.access import AccessMiddleware, configure_logging
from app.allocator import tune_allocator
from app.auth import ApiKeyMiddleware
from app.body_limit import BodyLimitMiddleware
from app.errors import install_error_handlers
from app.function_cache import FunctionCache
from app.metrics import Metrics
from app.msgpack_wire import FormatMiddleware
from app.openapi import install_openapi
from app.routes import derivatives, docs, functions, gradients, health, ops, playground
from app.service import Service
from app.settings import Settings
from app.store import open_store

__all__ = ["app", "create_app"]  # noqa: F822 - ``app`` is built on first access (__getattr__)

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """\
Gradient-as-a-service: send a function (a JSON graph or a text expression) and its arguments, get back
its value and its gradients with respect to the chosen parameters, as TensorFlow's
`value_and_gradients_function` returns them.

Tensors are numbers, nested lists (non-finite values as the strings `"NaN"`, `"Infinity"`,
`"-Infinity"`) or binary objects `{"dtype", "shape", "data"}` (base64 of little-endian bytes).
Errors are RFC 9457 problem details with a stable `code`.
"""
TAGS = [
    {"name": "gradients", "description": "One-shot evaluation: the function travels with its arguments."},
    {"name": "functions", "description": "Registered functions: content-addressed, cached per replica."},
    {"name": "ops", "description": "The op set functions are written in."},
    {"name": "health", "description": "Probes and metrics (never behind API keys)."},
]


def _version() -> str:
    try:
        return metadata.version("valgrad")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; ``settings`` default to the ``VALGRAD_*`` environment."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    tune_allocator()  # before any evaluation thread exists
    store = open_store(settings.function_store, settings.function_store_ttl_seconds,
                       settings.function_store_timeout_seconds, settings.registry_max_bytes)
    cache = FunctionCache(settings.registry_max_functions, settings.registry_max_bytes, store)
    metrics = Metrics(cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ops.op_set()  # build the op list once, before the first request
        app.state.service.slots.bind()
        await anyio.to_thread.run_sync(app.state.service.open, settings.eval_warm_start)  # before ready
        app.state.ready = True
        yield
        app.state.ready = False  # readiness fails while draining, so load balancers stop sending
        await anyio.to_thread.run_sync(service.close)  # the app's own (tests may swap app.state.service)
        if store is not None:
            store.close()

    app = FastAPI(title="valgrad", version=_version(), description=DESCRIPTION, openapi_tags=TAGS,
                  docs_url=None, redoc_url=None, separate_input_output_schemas=False, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.service = service = Service(settings, cache, metrics)
    app.state.ready = False
    install_error_handlers(app)
    for module in (functions, gradients, derivatives, ops, health, docs, playground):  # in order: hot ones first
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(playground.TrailingSlash)  # innermost: /v1/x/ is /v1/x, never a bodiless 307
    app.add_middleware(FormatMiddleware)  # JSON or MessagePack, for app.wire
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       budget=settings.max_inflight_body_bytes, retry_after=settings.retry_after_seconds)
    if settings.api_keys:
        app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After", "ETag", "Location"])
    app.add_middleware(AccessMiddleware, metrics=metrics, log_requests=settings.access_log)
    install_openapi(app)
    return app


@functools.cache
def _environment_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    """``app``: the service as the environment configures it, built once on first access (PEP 562)."""
    if name == "app":
        return _environment_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Lists ``app`` too, so ``fastapi run`` finds it."""
    return sorted({*vars(sys.modules[__name__]), "app"})
