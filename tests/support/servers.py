"""The real service on 127.0.0.1 in a subprocess, for the tests and the benchmarks: one launcher.

A server runs ``python -m <command> --host 127.0.0.1 --port <port>`` from the checkout (by default
``python -m app.cli serve``, i.e. ``valgrad serve``; or e.g. ``uvicorn app.main:app``) with the
default settings plus the ones it is given: the caller's ``VALGRAD_*`` variables are not inherited,
so a developer's API keys or limits never change what a test sees.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
VALGRAD_SERVE = ("app.cli", "serve")
LOG_TAIL = 4000  # characters of a server's log shown when it fails


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, path: str = "/readyz", timeout: float = 60.0,
               alive: Callable[[], bool] = lambda: True) -> None:
    """Return once ``GET url+path`` answers 200; raise ``RuntimeError`` when ``alive()`` turns false or time is up."""
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{url} exited before {path} answered")
        try:
            last = httpx.get(url + path, timeout=5).status_code
            if last == 200:
                return
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{url}{path} did not answer 200 within {timeout:.0f} s (last: {last!r})")


class LiveServer:
    """One service process on 127.0.0.1, restartable on the same port; all it prints is appended to its log.

    ``launch`` and ``wait_ready`` are separate so that several servers start at once.
    """

    def __init__(self, *command: str, env: Mapping[str, str] | None = None, log: Path | None = None,
                 port: int | None = None, ready: str = "/readyz", timeout: float = 60.0) -> None:
        self.command = command or VALGRAD_SERVE
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("VALGRAD_")}, **(env or {})}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready, self.timeout = ready, timeout
        self.own_log = log is None
        if log is None:
            fd, name = tempfile.mkstemp(prefix="valgrad-server-", suffix=".log")
            os.close(fd)
            log = Path(name)
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process without waiting for it."""
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.command, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        """Wait until ``ready`` answers 200; if the process exits or time runs out, stop it and raise with its log."""
        process = self.process
        assert process is not None, "launch() first"
        try:
            wait_ready(self.url, self.ready, self.timeout, alive=lambda: process.poll() is None)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{' '.join(self.command)} on {self.url}: {exc}; its log:\n{self.log_tail()}") from None

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        """Terminate the process (kill it after 10 s); a stopped server can be started again on its port."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its log if it was a temporary one."""
        self.stop()
        if self.own_log:
            self.log_path.unlink(missing_ok=True)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self) -> str:
        return self.log()[-LOG_TAIL:]


@contextlib.contextmanager
def serve(*command: str, env: Mapping[str, str] | None = None, log: Path | None = None, ready: str = "/readyz",
          timeout: float = 60.0) -> Iterator[LiveServer]:
    """A ``LiveServer`` (``valgrad serve`` unless ``command`` says otherwise), ready, stopped afterwards.

    A failure inside the block carries the tail of the server's log as a note, so the server's side
    of a failed test is in its report.
    """
    server = LiveServer(*command, env=env, log=log, ready=ready, timeout=timeout)
    try:
        server.start()
        try:
            yield server
        except Exception as exc:
            exc.add_note(f"log of the server at {server.url}:\n{server.log_tail()}")
            raise
    finally:
        server.close()
