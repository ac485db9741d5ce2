"""``valgrad serve``: run the service under uvicorn with uvloop and httptools; ``valgrad settings``: list settings.

uvloop and httptools matter: with the plain asyncio loop, ``--workers 2``
delays every keep-alive response by about 40 ms (uvicorn issue #3149).
With several workers, Prometheus multiprocess mode is switched on so
``/metrics`` on any worker reports all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import shutil
import tempfile
from collections.abc import Sequence

from app.access import log_config
from app.metrics import MULTIPROC_ENV
from app.settings import Settings

__all__ = ["main", "settings_table"]


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="valgrad", description="valgrad: gradient-as-a-service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service (settings: VALGRAD_* environment variables)")
    serve.add_argument("--host", default=settings.host, help=f"interface to bind (default {settings.host})")
    serve.add_argument("--port", type=int, default=settings.port, help=f"TCP port (default {settings.port})")
    serve.add_argument("--workers", type=int, default=settings.workers,
                       help=f"worker processes (default {settings.workers})")
    serve.add_argument("--log-level", default=settings.log_level, help=f"log level (default {settings.log_level})")
    commands.add_parser("settings", help="print the VALGRAD_* environment variables as a Markdown table")
    return parser


def settings_table() -> str:
    """Every setting as a Markdown row: variable, default, meaning (the README's table)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = ",".join(default) if isinstance(default, list) else str(default)
        if name == "max_concurrency":
            shown = "2 x CPU count"
        rows.append(f"| `VALGRAD_{name.upper()}` | {f'`{shown}`' if shown else '(none)'} | {field.description} |")
    return "\n".join(rows)


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (connections are file descriptors); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Run uvicorn on ``app.main:create_app`` until interrupted.

    The protocol class adds a request-head deadline and a connection cap to uvicorn's httptools one
    (``app.protocol``); idle kept-alive connections close after ``VALGRAD_KEEP_ALIVE_SECONDS``.
    """
    import uvicorn

    settings = Settings()
    fds = raise_fd_limit()
    if settings.max_connections + 256 > fds:
        logging.getLogger("valgrad").warning("VALGRAD_MAX_CONNECTIONS=%d is close to the open-file limit %d; "
                                             "raise `ulimit -n`", settings.max_connections, fds)

    own_dir = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        own_dir = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="valgrad-metrics-")
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http="app.protocol:BoundedHttpToolsProtocol", access_log=False,
                    log_config=log_config(log_level), log_level=log_level.lower(), proxy_headers=True,
                    server_header=False, timeout_keep_alive=settings.keep_alive_seconds)
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``valgrad`` command."""
    args = _parser(Settings()).parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port, args.workers, args.log_level)
    elif args.command == "settings":
        print(settings_table())


if __name__ == "__main__":
    main()
