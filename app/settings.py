"""Service settings: one pydantic-settings class read from ``VALGRAD_*`` environment variables.

Lists (API keys, CORS origins) are comma-separated, e.g.
``VALGRAD_API_KEYS=key1,key2``. Each of the engine's limits (``engine.Limits``) is a
setting of the same name, derived from its one definition there; the
limits are built from these settings once per app (``Settings.limits``), so
every check in a request uses the same frozen numbers.
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, create_model, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine import DEFAULT_LIMITS, Limits
from engine.compiled import Settings as TierSettings

__all__ = ["Settings"]

_MiB = 1 << 20


def _default_concurrency() -> int:
    # Evaluations are NumPy-bound: a couple per core keeps cores busy while one thread waits on memory.
    return 2 * (os.cpu_count() or 1)


class _Settings(BaseSettings):
    """Everything the service can be configured with; each field is ``VALGRAD_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VALGRAD_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="interface `valgrad serve` binds to (0.0.0.0 in a container)")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port `valgrad serve` listens on")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes per container")
    log_level: str = Field(default="info", description="log level of the service's JSON logs")
    access_log: bool = Field(default=True, description="write one JSON access-log line per request")

    max_body_bytes: int = Field(default=64 * _MiB, ge=0, description="largest request body, in bytes")
    max_request_elements: int = Field(default=DEFAULT_LIMITS.max_tensor_elements, ge=1,
                                      description="elements summed over all tensors (args and dy) of one request")
    # ... and one field per engine limit (max_nodes, max_flops, ...), added from ``engine.Limits`` below

    registry_max_functions: int = Field(default=1024, ge=1, description="functions held in the in-memory cache")
    registry_max_bytes: int = Field(default=64 * _MiB, ge=1, description="bytes of canonical JSON held in the cache")
    function_store: str = Field(default="", description="Redis URL (redis://host:port/db, rediss:// for TLS) of a "
                                                        "function store shared by all replicas, so a function "
                                                        "registered on one is served by any; empty = none. An "
                                                        "accelerator only: when it is down, replicas answer from "
                                                        "their own cache")
    function_store_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=0,
                                            description="seconds a shared function outlives its last registration "
                                                        "or lookup (0: no expiry; then bound the store with Redis's "
                                                        "maxmemory and an LRU policy)")
    function_store_timeout_seconds: float = Field(default=0.25, gt=0,
                                                  description="connect and reply timeout of one store call; past it "
                                                              "the store is skipped, with backoff, as if absent")

    max_concurrency: int = Field(default_factory=_default_concurrency, ge=1,
                                 description="evaluations running at once (worker threads)")
    max_queue: int = Field(default=64, ge=0, description="requests waiting for a free evaluation slot; "
                                                          "beyond slots + queue, requests get 503 at once")
    inline_max_flops: int = Field(default=10_000, ge=0,
                                  description="evaluations of small functions (at most 64 nodes, 8 KiB bodies) "
                                              "estimated under this many FLOPs run on the event loop, without a "
                                              "thread hop; 0 sends every evaluation to a worker thread")
    inline_budget_seconds: float = Field(default=0.002, ge=0,
                                         description="event-loop time small evaluations may take per loop "
                                                     "iteration; past it they go to a worker, so probes and other "
                                                     "requests keep their turn")
    eval_processes: bool = Field(default=True,
                                 description="run evaluations that are not tiny in worker processes, which the "
                                             "deadline and the memory cap need; false runs them in threads")
    eval_timeout_seconds: float = Field(default=30.0, gt=0,
                                        description="hard deadline of one evaluation in a worker; past it the "
                                                    "worker is killed and the client gets 422 deadline_exceeded")
    eval_warm_start: bool = Field(default=True,
                                  description="start the first evaluation worker process at startup (readiness "
                                              "waits for it), so the first request after a (re)start does not")
    compiled_enabled: bool = Field(default=True,
                                   description="compile hot plans into fused kernels (numba, when installed) in "
                                               "the worker processes; the NumPy interpreter runs until then and "
                                               "stays the reference")
    compiled_threshold: int = Field(default=20, ge=1,
                                    description="evaluations of one (function, params, argument shapes) in a worker "
                                                "before it is compiled, in the background")
    compiled_threads: int = Field(default=0, ge=0,
                                  description="threads per fused kernel (0: the cores divided by "
                                              "VALGRAD_MAX_CONCURRENCY, so workers do not oversubscribe)")
    compiled_cache_dir: str = Field(default="", description="directory for compiled kernels, shared by workers "
                                                            "and restarts (empty: memory only)")
    eval_memory_bytes: int = Field(default=2 << 30, ge=0,
                                   description="address space one evaluation may add to its worker; past it, 422 "
                                               "out_of_memory (0: no cap)")
    max_inflight_body_bytes: int = Field(default=256 * _MiB, ge=0,
                                         description="request-body bytes being received or held at once over all "
                                                     "requests; past it, 503 with Retry-After before reading more")
    body_timeout_seconds: float = Field(default=30.0, gt=0,
                                        description="time to receive a whole request body; past it, 408 "
                                                    "request_timeout and the connection is closed")
    header_timeout_seconds: float = Field(default=10.0, gt=0,
                                          description="time from a connection's first byte (or its last response) "
                                                      "to a complete request head; past it the connection is closed")
    keep_alive_seconds: int = Field(default=5, ge=1, le=30,
                                    description="idle time after a response before a kept-alive connection closes")
    max_connections: int = Field(default=4096, ge=16,
                                 description="open connections per server process; past it the oldest one still "
                                             "sending its request head is closed, else the new one")
    retry_after_seconds: int = Field(default=1, ge=0, description="Retry-After sent with a 503 when shedding load")

    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="accepted API keys (comma-separated); empty = no authentication")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS (comma-separated; * for any); empty = no CORS")

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [item.strip() for item in v.split(",") if item.strip()]
        return v

    @property
    def tier(self) -> TierSettings:
        """The compiled tier's settings for each evaluation worker."""
        threads = self.compiled_threads or max(1, (os.cpu_count() or 1) // self.max_concurrency)
        return TierSettings(enabled=self.compiled_enabled, threshold=self.compiled_threshold, threads=threads,
                                 cache_dir=self.compiled_cache_dir or None)

    @property
    def limits(self) -> Limits:
        """The engine's limits for these settings."""
        return Limits(**{f.name: getattr(self, f.name) for f in fields(Limits)})


# Every engine limit is a setting of the same name (VALGRAD_MAX_NODES, ...), spelled once, in engine.limits.
_LIMITS: dict[str, Any] = {f.name: (int, Field(default=f.default, ge=f.metadata["min"], description=f.metadata["doc"]))
                           for f in fields(Limits)}
if TYPE_CHECKING:  # to type checkers, the class above (the limits are read through ``limits``)
    Settings = _Settings
else:
    Settings = create_model("Settings", __base__=_Settings, __module__=__name__, __doc__=_Settings.__doc__,
                            **_LIMITS)
