"""The ratio tables of a bench run as one image: a panel per table, a group of bars per row.

Ratios span orders of magnitude (a scalar seed against NumPy's forward pass
is ~50 times, a large array ~2 times), so the axis is logarithmic with the
baseline, 1, marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ratio_tables(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Tables with at least one ratio, reduced to their labelled series: ``{title, rows, series}``."""
    out = []
    for section in doc["sections"]:
        for t in section["tables"]:
            columns = [j for j in range(1, len(t["columns"]))
                       if any("ratio" in row[j] for row in t["values"] if j < len(row))]
            if not columns:
                continue
            series = {t["columns"][j]: [row[j].get("ratio") if j < len(row) else None for row in t["values"]]
                      for j in columns}
            out.append({"title": t["title"], "rows": [r[0] for r in t["rows"]], "series": series})
    return out


def draw(doc: dict[str, Any], path: Path) -> Path | None:
    """Save the chart of ``doc``'s ratio tables to ``path`` (PNG); None when there is no ratio table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ratio_tables(doc)
    if not panels:
        return None
    heights = [1 + 0.35 * len(p["rows"]) * max(1, len(p["series"])) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        _panel(ax, panel)
    fig.suptitle(f"valgrad bench, {doc['date'][:10]}, {doc['machine']['cpus']} CPUs, "
                 f"Python {doc['machine']['python']} (lower is better)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _panel(ax: Any, panel: dict[str, Any]) -> None:
    rows, series = panel["rows"], panel["series"]
    width = 0.8 / len(series)
    for k, (name, ratios) in enumerate(series.items()):
        ys = [i + (k - (len(series) - 1) / 2) * width for i in range(len(rows))]
        bars = ax.barh(ys, [float("nan") if r is None else r for r in ratios], height=width, label=name)
        ax.bar_label(bars, labels=["" if r is None else f"{r:g}×" for r in ratios], fontsize=7, padding=2)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r if len(r) <= 38 else r[:36] + "…" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(panel["title"], fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", which="major", alpha=0.3)
