"""`python -m bench [section ...]`: run the benchmark sections and print one Markdown report.

Progress goes to stderr; the report also goes to ``bench/results/latest.json``
(tables, parsed seconds and ratios, date, machine) and its ratio tables to a
chart, ``docs/bench.png``, which the README embeds.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any

from bench import report

SECTIONS = {"engine": "bench.engine_bench", "derivatives": "bench.derivatives", "compiled": "bench.compiled",
            "transport": "bench.transport",
            "http": "bench.http_bench", "sdk": "bench.sdk_bench", "batch": "bench.batch_bench"}


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", help=f"sections to run (default all): {', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, default=report.RESULTS / "latest.json", help="JSON report path")
    parser.add_argument("--chart", type=Path, default=report.CHART, help="chart path (PNG)")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    chosen = args.sections or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    sections: list[dict[str, Any]] = []
    for k, name in enumerate(chosen, 1):
        t0 = time.monotonic()
        with report.step(f"section {k}/{len(chosen)}: {name}"):
            markdown = importlib.import_module(SECTIONS[name]).run()
        print(markdown, flush=True)
        print()
        sections.append({"name": name, "elapsed_seconds": round(time.monotonic() - t0, 2), "markdown": markdown})
    write_outputs(report.document(sections), args.json, None if args.no_chart else args.chart)
    return 0


def write_outputs(doc: dict[str, Any], json_path: Path, chart_path: Path | None) -> None:
    """Write the JSON report and, when matplotlib is installed, the chart; say where on stderr."""
    report.progress(f"wrote {report.write_json(doc, json_path)}")
    if chart_path is None:
        return
    try:
        from bench.chart import draw
        drawn = draw(doc, chart_path)
    except ImportError:
        report.progress("no chart: matplotlib is not installed (pip install -e '.[bench]')")
        return
    report.progress(f"wrote {drawn}" if drawn else "no chart: no ratio table in this run")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
