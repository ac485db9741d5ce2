"""`python -m bench [section ...]`: run the benchmark sections and print one Markdown report."""

from __future__ import annotations

import importlib
import sys

SECTIONS = {"engine": "bench.engine_bench", "derivatives": "bench.derivatives", "compiled": "bench.compiled",
            "transport": "bench.transport",
            "http": "bench.http_bench", "sdk": "bench.sdk_bench", "batch": "bench.batch_bench"}


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    for name in chosen:
        module = importlib.import_module(SECTIONS[name])
        print(module.run(), flush=True)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
