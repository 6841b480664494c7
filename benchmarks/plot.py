"""The benchmark plot: mint throughput per backend, and scaling with worker processes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from benchmarks._harness import Figure

_MINTS = (
    "mint (memory + HMAC)",
    "mint (SQLite)",
    "mint (PostgreSQL)",
    "mint (Redis)",
    "HTTP mint (memory)",
    "HTTP mint (SQLite)",
    "HTTP mint, async server (memory)",
    "HTTP mint, async server (Redis)",
)


def draw(figures: list[Figure], scaling: dict[str, dict[int, float]], path: Path, title: str) -> None:
    """Write a two-panel PNG to ``path``."""
    by_name = {figure.name: figure for figure in figures}
    names = [name for name in _MINTS if name in by_name]
    rates = [1e6 / sorted(by_name[name].subject_us)[len(by_name[name].subject_us) // 2] for name in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    bars = left.barh(names[::-1], rates[::-1], color="#3b7dd8")
    left.bar_label(bars, labels=[f"{rate:,.0f}/s" for rate in rates[::-1]], padding=3, fontsize=8)
    left.set_xscale("log")
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlim(right=max(rates) * 4)  # room for the largest bar's label
    left.set_xlabel("mints per second, one process (log scale)")
    left.set_title("Mint throughput by backend")
    for backend, series in scaling.items():
        counts = sorted(series)
        right.plot(counts, [series[c] for c in counts], marker="o", label=backend)
    right.set_xticks(sorted({c for series in scaling.values() for c in series}))
    right.set_xlabel("worker processes")
    right.set_ylabel("mints per second, all processes")
    right.set_title("Scaling with processes")
    right.legend()
    right.set_ylim(bottom=0)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
