"""The optional shared function store (``VALGRAD_FUNCTION_STORE=redis://host:port/db``): an accelerator only.

Registration writes a function's canonical JSON under ``valgrad:function:<id>``
(``SET NX``, with a TTL that registration and reads refresh), and a replica
that lacks an id reads it from here before answering 404, so plain REST
clients can register once and call any replica. Nothing depends on it: every
call has short timeouts and no retries, and a failure opens a breaker
(backoff doubling from ``BACKOFF_BASE`` to ``BACKOFF_CAP`` seconds) during
which the store is skipped at once, so a replica then behaves as if there
were none. Each outage is logged once, when it starts, and once when the
store answers again; every outcome is counted (``stats``, in ``/metrics``).
Ids registered during an outage are written when it ends (at most
``PENDING_MAX`` ids and ``max_bytes`` bytes). Reads are validated by the caller (``FunctionCache.recall``):
a store is not trusted to hold valid graphs. Calls block, so they run in
worker threads, never on the event loop. Needs the ``redis`` package
(``hiredis`` makes its parser fast) only when a store is configured.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

__all__ = ["KEY_PREFIX", "FunctionStore", "StoreStats", "open_store"]

log = logging.getLogger("valgrad.store")
KEY_PREFIX = "valgrad:function:"
BACKOFF_BASE = 0.5  # seconds the store is skipped after a first failure, doubling per failed probe
BACKOFF_CAP = 10.0
PENDING_MAX = 1024  # ids registered during an outage, written when it ends
StoreStats = dict[str, int]  # "<op>_<result>" -> count, plus "up" (1 or 0)


class FunctionStore:
    """A Redis-protocol store of canonical functions; no method raises for the store's own failures."""

    def __init__(self, url: str, *, ttl_seconds: int, timeout: float, max_bytes: int, client: Any = None) -> None:
        self.url = _redact(url)
        self.ttl = ttl_seconds or None
        self.max_bytes = max_bytes
        self._redis = client if client is not None else _connect(url, timeout)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._failures = 0  # consecutive; > 0 while an outage lasts
        self._skip_until = 0.0
        self._pending: OrderedDict[str, bytes] = OrderedDict()
        self._pending_bytes = 0

    # -- the two operations ----------------------------------------------------------------

    def get(self, function_id: str) -> bytes | None:
        """The stored canonical JSON under ``function_id``, or None (absent, too large, or the store is down)."""
        if not self._usable("get"):
            return None
        try:
            key = KEY_PREFIX + function_id
            raw = self._redis.getex(key, ex=self.ttl) if self.ttl else self._redis.get(key)
        except Exception as e:  # redis errors, timeouts, and anything a broken reply raises
            self._failed("get", e)
            return None
        self._succeeded()
        if raw is None:
            self._count("get_miss")
            return None
        if not isinstance(raw, bytes) or len(raw) > self.max_bytes:
            self.invalid()
            return None
        self._count("get_hit")
        return raw

    def put(self, function_id: str, canonical: bytes) -> None:
        """Share a function (idempotent: an existing entry is kept, its TTL renewed); deferred while down."""
        if len(canonical) > self.max_bytes:
            self._count("put_too_large")
            return
        if not self._usable("put"):
            self._defer(function_id, canonical)
            return
        try:
            self._write(function_id, canonical)
        except Exception as e:
            self._failed("put", e)
            self._defer(function_id, canonical)
            return
        self._succeeded()

    def invalid(self) -> None:
        """Count a stored entry that failed validation (corrupted, foreign, or from a newer version)."""
        self._count("get_invalid")
        log.warning("function store %s holds an entry that is not a valid function; ignored", self.url)

    # -- state ---------------------------------------------------------------------------

    def stats(self) -> StoreStats:
        with self._lock:
            return {**self._counts, "up": int(self._failures == 0)}

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a broken pool is not worth a traceback at shutdown
            self._redis.close()

    def _write(self, function_id: str, canonical: bytes) -> None:
        key = KEY_PREFIX + function_id
        if self._redis.set(key, canonical, nx=True, ex=self.ttl):
            self._count("put_stored")
            return
        if self.ttl:
            self._redis.expire(key, self.ttl)
        self._count("put_exists")

    def _usable(self, op: str) -> bool:
        with self._lock:
            if self._failures and time.monotonic() < self._skip_until:
                self._counts[op + "_skipped"] = self._counts.get(op + "_skipped", 0) + 1
                return False
            return True

    def _failed(self, op: str, e: Exception) -> None:
        with self._lock:
            self._counts[op + "_error"] = self._counts.get(op + "_error", 0) + 1
            self._failures += 1
            first = self._failures == 1
            backoff = min(BACKOFF_BASE * 2 ** (self._failures - 1), BACKOFF_CAP)
            self._skip_until = time.monotonic() + backoff
        if first:
            log.warning("function store %s unreachable (%s: %s); serving from the local cache only, retrying "
                        "with backoff", self.url, type(e).__name__, str(e)[:200])

    def _succeeded(self) -> None:
        with self._lock:
            if not self._failures:
                return
            failures, self._failures = self._failures, 0
            pending, self._pending, self._pending_bytes = self._pending, OrderedDict(), 0
        log.warning("function store %s reachable again after %d failed attempt(s); sharing %d function(s) "
                    "registered meanwhile", self.url, failures, len(pending))
        for function_id, canonical in pending.items():
            self.put(function_id, canonical)

    def _defer(self, function_id: str, canonical: bytes) -> None:
        with self._lock:
            if function_id not in self._pending:
                self._pending_bytes += len(canonical)
            self._pending[function_id] = canonical
            self._pending.move_to_end(function_id)
            while len(self._pending) > PENDING_MAX or self._pending_bytes > self.max_bytes:
                self._pending_bytes -= len(self._pending.popitem(last=False)[1])

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + 1


def _connect(url: str, timeout: float) -> Any:
    """A pooled client with short timeouts and no retries of its own (the breaker above decides)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0), max_connections=64)


def _redact(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def open_store(url: str, ttl_seconds: int, timeout: float, max_bytes: int) -> FunctionStore | None:
    """The store ``url`` names, or None for an empty URL (no store)."""
    if not url:
        return None
    return FunctionStore(url, ttl_seconds=ttl_seconds, timeout=timeout, max_bytes=max_bytes)
