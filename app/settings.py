"""Service settings: one pydantic-settings class read from ``VALGRAD_*`` environment variables.

Lists (API keys, CORS origins) are comma-separated, e.g.
``VALGRAD_API_KEYS=key1,key2``. The engine's limits are derived from these
settings once per app (``Settings.limits``), so every check in a request
uses the same frozen numbers.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine.limits import DEFAULT_LIMITS, Limits

__all__ = ["Settings"]

_MiB = 1 << 20


def _default_concurrency() -> int:
    # Evaluations are NumPy-bound: a couple per core keeps cores busy while one thread waits on memory.
    return 2 * (os.cpu_count() or 1)


class Settings(BaseSettings):
    """Everything the service can be configured with; each field is ``VALGRAD_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VALGRAD_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="interface `valgrad serve` binds to (0.0.0.0 in a container)")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port `valgrad serve` listens on")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes per container")
    log_level: str = Field(default="info", description="log level of the service's JSON logs")
    access_log: bool = Field(default=True, description="write one JSON access-log line per request")

    max_body_bytes: int = Field(default=64 * _MiB, ge=0, description="largest request body, in bytes")
    max_json_depth: int = Field(default=DEFAULT_LIMITS.max_json_depth, ge=1, description="deepest JSON nesting")
    max_nodes: int = Field(default=DEFAULT_LIMITS.max_nodes, ge=1, description="op nodes in one function")
    max_inputs: int = Field(default=DEFAULT_LIMITS.max_inputs, ge=1, description="inputs of one function")
    max_constant_elements: int = Field(default=DEFAULT_LIMITS.max_constant_elements, ge=0,
                                       description="elements over all constants of one function")
    max_tensor_elements: int = Field(default=DEFAULT_LIMITS.max_tensor_elements, ge=1,
                                     description="elements of any one tensor")
    max_request_elements: int = Field(default=DEFAULT_LIMITS.max_tensor_elements, ge=1,
                                      description="elements summed over all tensors (args and dy) of one request")
    max_total_elements: int = Field(default=DEFAULT_LIMITS.max_total_elements, ge=1,
                                    description="elements summed over every intermediate of one evaluation")
    max_flops: int = Field(default=DEFAULT_LIMITS.max_flops, ge=1, description="estimated FLOPs of one evaluation")
    max_expression_length: int = Field(default=DEFAULT_LIMITS.max_expression_length, ge=1,
                                       description="characters of one text expression")
    max_expression_depth: int = Field(default=DEFAULT_LIMITS.max_expression_depth, ge=1,
                                      description="nesting depth of one text expression")

    registry_max_functions: int = Field(default=1024, ge=1, description="functions held in the in-memory cache")
    registry_max_bytes: int = Field(default=64 * _MiB, ge=1, description="bytes of canonical JSON held in the cache")

    max_concurrency: int = Field(default_factory=_default_concurrency, ge=1,
                                 description="evaluations running at once (worker threads)")
    max_queue: int = Field(default=64, ge=0, description="requests waiting for a free evaluation slot; "
                                                          "beyond slots + queue, requests get 503 at once")
    inline_max_flops: int = Field(default=10_000, ge=0,
                                  description="evaluations of small functions (at most 64 nodes, 8 KiB bodies) "
                                              "estimated under this many FLOPs run on the event loop, without a "
                                              "thread hop; 0 sends every evaluation to a worker thread")
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
    def limits(self) -> Limits:
        """The engine's limits for these settings."""
        return Limits(
            max_nodes=self.max_nodes,
            max_inputs=self.max_inputs,
            max_constant_elements=self.max_constant_elements,
            max_tensor_elements=self.max_tensor_elements,
            max_total_elements=self.max_total_elements,
            max_flops=self.max_flops,
            max_expression_length=self.max_expression_length,
            max_expression_depth=self.max_expression_depth,
            max_json_depth=self.max_json_depth,
        )
