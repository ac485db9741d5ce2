"""`make bench` writes what it prints also as JSON and draws its ratio tables: checked on a tiny fake report."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]  # bench/ is a folder of the checkout, not an installed package

FAKE = "\n".join([
    "## Engine: time per call (ratio to the NumPy forward pass)", "",
    "| workload | NumPy forward | valgrad local | JAX (jit) | target |",
    "|---|---|---|---|---|",
    "| seed f(2, 3) | 0.3 µs | 27.1 µs (78.08×) | — | local ≤ 50 µs |",
    "| elementwise | 12.50 ms | 30.00 ms (2.40×) | — | ≤ 2.5× |", "",
    "## Batches", "",
    "| request | evaluations/s | ratio |", "|---|---|---|",
    "| single | 1,200 | 1.0× |", "| batches of 1,000 | 24000 | 20.0× |", "",
    "Target: ≥ 10×.",
])


@pytest.fixture
def report(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench.report")


def test_cells_parse_into_seconds_ratios_and_numbers(report: ModuleType) -> None:
    assert report.parse_cell("27.1 µs (78.08×)") == {"text": "27.1 µs (78.08×)", "seconds": pytest.approx(27.1e-6),
                                                     "ratio": 78.08}
    assert report.parse_cell("1,200") == {"text": "1,200", "number": 1200.0}
    assert report.parse_cell("20.0×")["ratio"] == 20.0
    assert report.parse_cell("—") == {"text": "—"}


def test_json_holds_every_table(report: ModuleType, tmp_path: Path) -> None:
    write_outputs = importlib.import_module("bench.__main__").write_outputs
    doc = report.document([{"name": "engine", "elapsed_seconds": 1.5, "markdown": FAKE}])
    write_outputs(doc, tmp_path / "r" / "latest.json", None)
    data = json.loads((tmp_path / "r" / "latest.json").read_text(encoding="utf-8"))
    assert data["machine"]["python"] and data["date"]
    (section,) = data["sections"]
    engine, batches = section["tables"]
    assert engine["columns"][2] == "valgrad local" and engine["values"][1][2]["ratio"] == 2.4
    assert batches["title"] == "Batches" and batches["values"][1][1]["number"] == 24000
    assert section["notes"] == ["Target: ≥ 10×."] and section["markdown"] == FAKE


@pytest.mark.slow  # importing matplotlib and drawing take over a second
def test_chart_draws_the_ratio_tables(report: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    chart = importlib.import_module("bench.chart")
    doc = report.document([{"name": "engine", "elapsed_seconds": 1.5, "markdown": FAKE}])
    panels = chart.ratio_tables(doc)
    assert [list(p["series"]) for p in panels] == [["valgrad local"], ["ratio"]]
    assert chart.draw(doc, tmp_path / "bench.png") == tmp_path / "bench.png"
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
