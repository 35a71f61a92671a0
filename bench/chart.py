"""The chart `make bench` writes next to its JSON: API/direct per row, with each row's goal.

Latency rows (ms) are better below 1 (the API as fast as CouchDB itself is 1), throughput rows better above 1;
each bar carries its goal as a black tick and is green when the goal is met, red when not, grey without one
(a goal that is not a ratio, such as messages per second, is written beside its bar).
matplotlib is the `bench` extra (`pip install -e '.[bench]'`); without it no chart is drawn.
`python -m bench.chart RESULTS.json [CHART.png]` draws the chart of a results file again."""
from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from .measure import Row

COLOURS = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}

def label(row: Row) -> str:
    direction = "lower is better" if row.lower_is_better else "higher is better"
    text = f"{row.scenario}: {row.measure}"
    return f"{text[:70]}{'...' if len(text) > 70 else ''} ({row.unit}, {direction})"


def charted(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.ratio is not None]


def draw(rows: list[Row], meta: dict[str, Any], path: Path) -> str | None:
    """Write the chart; None when written, else why not (matplotlib missing, nothing to draw)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    shown = charted(rows)
    if not shown:
        return "no row has a ratio"
    figure, axes = plt.subplots(figsize=(13, 0.42 * len(shown) + 1.8))
    positions = list(range(len(shown)))[::-1]
    ratios = [row.ratio for row in shown]
    axes.barh(positions, ratios, color=[COLOURS[row.met if row.goal else None] for row in shown], height=0.6)
    for position, row in zip(positions, shown):
        axes.text(row.ratio, position, f" {row.ratio:.2f}", va="center", fontsize=8)
        if row.goal and row.goal_ratio is None:
            axes.text(row.ratio, position - 0.3, f"  goal: {row.goal}", va="center", fontsize=7)
        if row.goal_ratio is not None:
            axes.plot([row.goal_ratio] * 2, [position - 0.42, position + 0.42], color="black", linewidth=2)
            sign = "<=" if row.lower_is_better else ">="
            axes.text(row.goal_ratio, position + 0.36, f"goal {sign} {row.goal_ratio:g}", fontsize=7, ha="center",
                      va="bottom")
    axes.axvline(1.0, color="#555555", linestyle="--", linewidth=1)
    axes.set_yticks(positions, [label(row) for row in shown], fontsize=8)
    axes.set_xlim(0, max(max(ratios), *(row.goal_ratio or 0 for row in shown)) * 1.15)
    axes.set_xlabel("API / CouchDB directly (1 = as fast as CouchDB itself); black ticks: goals")
    code = meta.get("code") or {}
    axes.set_title(f"kazoo-vm vs CouchDB directly: {meta.get('couchdb', '')}\n"
                   f"{meta.get('started', '')[:10]}, commit {code.get('commit', '?')}"
                   f"{' (quick)' if meta.get('quick') else ''}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None


def rows_of(document: dict[str, Any]) -> list[Row]:
    """The rows of a results file (report.write_json)."""
    names = {field.name for field in fields(Row)}
    return [Row(**{name: value for name, value in row.items() if name in names}) for row in document["rows"]]


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print("usage: python -m bench.chart RESULTS.json [CHART.png]", file=sys.stderr)
        return 2
    source = Path(argv[0])
    document = json.loads(source.read_text())
    target = Path(argv[1]) if len(argv) > 1 else source.with_suffix(".png")
    failed = draw(rows_of(document), document["meta"], target)
    print(failed or f"chart written to {target}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
