"""Where compiled kernels live on disk, optionally: generated modules shared by processes and restarts.

On disk, a region's module is written once under a name that hashes its
source, and numba's own cache (``cache=True``) keeps the machine code next to
it, so a restarted worker or a sibling process that generates the same source
loads it instead of compiling. Writes go through a temporary file and an
atomic rename, so concurrent writers never expose a half-written module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["load_source"]

V = TypeVar("V")


def load_source(source: str, cache_dir: str | None) -> dict[str, Any]:
    """The namespace of a generated module: imported from ``cache_dir`` (written if new), else exec'd."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    name = f"valgrad_kernel_{digest}"
    if cache_dir is None:
        namespace: dict[str, Any] = {"__name__": name}
        exec(compile(source, f"<{name}>", "exec"), namespace)  # our own generated text, never user input
        return namespace
    directory = Path(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load generated kernel module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache re-imports a kernel's module by name when it loads machine code
    spec.loader.exec_module(module)
    return vars(module)
