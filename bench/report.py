"""Progress on stderr, and the Markdown report also as JSON and as a chart of its ratio tables.

The sections keep returning Markdown (stdout stays the report people read);
this module parses their tables back into cells, seconds and ratios, so the
JSON and the chart always say exactly what the Markdown says.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CHART = Path(__file__).resolve().parent.parent / "docs" / "bench.png"
_START = time.monotonic()
_UNITS = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}
_TIME = re.compile(r"^([\d.]+) (µs|ms|s)\b")
_RATIO = re.compile(r"(?:^|\()([\d.]+)×\)?$")
_NUMBER = re.compile(r"^-?[\d,]*\.?\d+$")


def progress(message: str) -> None:
    """One line on stderr, stamped with the time since the run started (stdout stays the report)."""
    print(f"[bench {time.monotonic() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    """Announce ``label`` as it starts and as it ends, with its elapsed time."""
    progress(f"{label} ...")
    t0 = time.monotonic()
    yield
    progress(f"{label} done in {time.monotonic() - t0:.1f} s")


def parse_cell(text: str) -> dict[str, Any]:
    """A cell's text, and what it measures: ``seconds``, ``ratio`` or ``number`` when it says so."""
    out: dict[str, Any] = {"text": text}
    if m := _TIME.match(text):
        out["seconds"] = float(m[1]) * _UNITS[m[2]]
    if m := _RATIO.search(text):
        out["ratio"] = float(m[1])
    elif _NUMBER.match(text):
        out["number"] = float(text.replace(",", ""))
    return out


def _split(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_markdown(markdown: str) -> dict[str, Any]:
    """The tables of one section's Markdown, each under its latest heading; other lines become notes."""
    tables: list[dict[str, Any]] = []
    notes: list[str] = []
    title, lines = "", markdown.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k].strip()
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        elif line.startswith("|") and k + 1 < len(lines) and lines[k + 1].startswith("|---"):
            columns, rows = _split(line), []
            k += 2
            while k < len(lines) and lines[k].startswith("|"):
                rows.append(_split(lines[k]))
                k += 1
            tables.append({"title": title, "columns": columns, "rows": rows,
                           "values": [[parse_cell(c) for c in r] for r in rows]})
            continue
        elif line:
            notes.append(line)
        k += 1
    return {"tables": tables, "notes": notes}


def machine() -> dict[str, Any]:
    """What the numbers depend on: machine, Python, and the versions of the libraries compared."""
    versions = {}
    for name in ("numpy", "valgrad", "autograd", "torch", "jax", "numba", "fastapi", "uvicorn", "httpx"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def document(sections: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole run: date, machine facts, and each section's Markdown, tables and elapsed time."""
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "machine": machine(),
            "sections": [{**s, **parse_markdown(s["markdown"])} for s in sections]}


def write_json(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
