"""Draw ``compare.py``'s figures: a PNG bar chart of tasks/s per broker, one bar per system.

Reads the JSON that ``compare.py --json`` wrote, so a chart can be redrawn without running again:

    python benchmarks/plot.py compare.json throughput.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

COLORS = {"arame": "#c0392b", "dramatiq": "#2980b9", "celery": "#7f8c8d"}


def draw(figures: dict[str, Any], path: Path) -> None:
    """Grouped bars of the median rate per broker and system, whiskers from min to max.

    Args:
        figures: what ``compare.py`` writes with ``--json`` (its ``summary`` and ``counts``).
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display; must come before pyplot is imported
    import matplotlib.pyplot as plt

    rows = [r for r in figures["summary"] if r["section"] == "throughput"]
    rows.sort(key=lambda r: list(COLORS).index(r["system"]))
    workload = figures["counts"]
    brokers = list(dict.fromkeys(r["broker"] for r in rows))
    fig, ax = plt.subplots(figsize=(2.6 + 2.0 * len(brokers), 4.5), dpi=120)
    width = 0.8 / max(sum(r["broker"] == b for r in rows) for b in brokers)  # one width for all bars
    labelled: set[str] = set()
    for j, broker in enumerate(brokers):
        # Centre each broker's bars on its tick: the peers have no bars on the SQL brokers.
        here = [r for r in rows if r["broker"] == broker]
        for i, row in enumerate(here):
            _bar(ax, j + (i - (len(here) - 1) / 2) * width, row, width, row["system"] not in labelled)
            labelled.add(row["system"])
    ax.set_xticks(range(len(brokers)), brokers)
    _decorate(ax, workload)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _decorate(ax: Any, workload: dict[str, Any]) -> None:
    """Title, axis label and legend."""
    ax.set_ylabel("tasks/s (steady, 10-90 % mark)")
    ax.set_title(
        f"Worker throughput, one write() per task, arame's results in PostgreSQL\n"
        f"n={workload['n']:,} published first, one default worker, "
        f"median of {workload['repeat']} interleaved runs, whiskers min-max",
        fontsize=9,
    )
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(y=0.08)  # room for the values above the whiskers


def _bar(ax: Any, x: float, row: dict[str, Any], width: float, label: bool) -> None:
    """One bar with its min-max whisker and its value."""
    median = row["rate"]
    ax.bar(x, median, width, color=COLORS[row["system"]], label=row["system"] if label else None)
    spread = [[median - row["rate_min"]], [row["rate_max"] - median]]
    ax.errorbar(x, median, yerr=spread, fmt="none", ecolor="black", capsize=3, linewidth=1)
    ax.annotate(
        f"{median:.0f}",
        (x, row["rate_max"]),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        fontsize=7,
    )


def main() -> None:
    """Redraw a chart from a JSON file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", type=Path, help="the file compare.py --json wrote")
    p.add_argument("png", type=Path, help="the chart to write")
    args = p.parse_args()
    draw(json.loads(args.json.read_text()), args.png)


if __name__ == "__main__":
    main()
