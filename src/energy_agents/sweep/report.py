"""The sweep's report: ``report.html`` with the per-case KPI table and two plots, savings
capture by strategy and dataset, and run time by strategy and dataset (mean over the cases of
each pair, whiskers from the lowest to the highest case)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..reporting import report


def _grouped_bars(frame: pd.DataFrame, column: str, ylabel: str, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = frame.dropna(subset=[column])
    stats = data.groupby(["scenario", "strategy"])[column].agg(["mean", "min", "max"])
    datasets = list(dict.fromkeys(data["scenario"]))
    strategies = list(dict.fromkeys(data["strategy"]))
    width = 0.8 / max(1, len(strategies))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(datasets) * max(1, len(strategies)) / 2), 4))
    for j, strategy in enumerate(strategies):
        xs, means, lo, hi = [], [], [], []
        for i, dataset in enumerate(datasets):
            if (dataset, strategy) in stats.index:
                s = stats.loc[(dataset, strategy)]
                xs.append(i + (j - (len(strategies) - 1) / 2) * width)
                means.append(s["mean"])
                lo.append(s["mean"] - s["min"])
                hi.append(s["max"] - s["mean"])
        ax.bar(xs, means, width, yerr=[lo, hi], capsize=3, label=strategy)
    ax.set_xticks(range(len(datasets)), datasets, rotation=15)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if strategies:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(frame: pd.DataFrame, out: Path, title: str, notes: list[str]) -> Path:
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame.iloc[0:0]
    images: list[Path] = []
    if len(ok) and "savings_capture" in ok:
        images.append(
            _grouped_bars(
                ok,
                "savings_capture",
                "savings capture [-]",
                "Savings capture against the perfect-foresight bound",
                out / "savings_capture.png",
            )
        )
    if len(ok) and "case_s" in ok:
        images.append(
            _grouped_bars(
                ok, "case_s", "run time per case [s]", "Run time (load, baseline, run, bound)",
                out / "run_time.png",
            )
        )  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for rec in frame.to_dict("records"):
        kpis = {k: (None if _missing(v) else v) for k, v in rec.items()}
        rows[str(rec["label"])] = kpis
    return report.write_html(title, rows, images, out, notes)


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
