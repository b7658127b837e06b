"""Writing batch results: per-step table, ``kpis.json``, plots and an HTML report (I/O lives here,
not in the core)."""

from __future__ import annotations

import html
import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..runner.record import steps_table
from ..sim.community import Community
from ..sim.kpis import KPI_LABELS

if TYPE_CHECKING:
    import pandas as pd

StepsTable = Mapping[str, np.ndarray]
"""The per-step table as columns (name -> array, in table order); a ``pd.DataFrame`` of the
same columns is accepted wherever a table is (both index by column name and iterate names)."""


def steps_frame(community: Community) -> pd.DataFrame:
    """:func:`steps_table` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(steps_table(community))


_PANDAS_TYPES = {"i": "int64", "f": "float64", "b": "bool", "M": "datetime"}


def _pandas_version() -> str:
    """pandas' installed version without importing pandas or ``importlib.metadata`` (about
    15 ms): the name of the ``pandas-VERSION.dist-info`` folder beside the package."""
    spec = importlib.util.find_spec("pandas")
    if spec is not None and spec.origin:
        for info in Path(spec.origin).parents[1].glob("pandas-*.dist-info"):
            return info.name.removeprefix("pandas-").removesuffix(".dist-info")
    from importlib.metadata import version

    return version("pandas")


def _pandas_metadata(table: StepsTable) -> bytes:
    """The schema metadata ``DataFrame.to_parquet(index=False)`` writes (pyarrow's
    ``pandas_compat``), so that ``pd.read_parquet`` restores the same dtypes (``timestamp`` as
    ``datetime64[s]``; parquet itself stores it in ms) and the file is the same to the byte."""
    import pyarrow as pa

    columns = []
    for name, values in table.items():
        dtype = np.asarray(values).dtype
        kind = _PANDAS_TYPES.get(dtype.kind, str(dtype))
        columns.append({"name": name, "field_name": name, "pandas_type": kind,
                        "numpy_type": str(dtype), "metadata": None})  # fmt: skip
    meta = {"index_columns": [], "column_indexes": [], "columns": columns, "attributes": {},
            "creator": {"library": "pyarrow", "version": pa.__version__},
            "pandas_version": _pandas_version()}  # fmt: skip
    return json.dumps(meta).encode("utf8")


def _arrow(values: np.ndarray) -> Any:
    """A numpy column as a ``pyarrow.Array`` on the same buffer (``pa.array`` would import
    pandas to check for pandas types); int, float, bool and ``datetime64`` columns."""
    import pyarrow as pa

    v = np.ascontiguousarray(values)
    if v.dtype.kind == "M":
        arrow_type = pa.timestamp(np.datetime_data(v.dtype)[0])
        v = v.view(np.int64)
    elif v.dtype.kind == "b":
        arrow_type = pa.bool_()
        v = np.packbits(v, bitorder="little")
    else:
        arrow_type = pa.from_numpy_dtype(v.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(v)])


def write_steps(table: StepsTable | pd.DataFrame, out: Path, fmt: str = "parquet") -> Path:
    """``steps.parquet`` (pyarrow, without pandas) or ``steps.csv`` (pandas) in ``out``."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = out / "steps.parquet"
        cols = {k: np.asarray(v) for k, v in table.items()}
        arrow = pa.Table.from_arrays([_arrow(v) for v in cols.values()], names=list(cols))
        pq.write_table(arrow.replace_schema_metadata({b"pandas": _pandas_metadata(cols)}), path)
    else:
        import pandas as pd

        path = out / "steps.csv"
        pd.DataFrame(table).to_csv(path, index=False)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(data: Any, path: Path) -> Path:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    path.write_text(json.dumps(clean(data), indent=2, default=_json_default) + "\n")
    return path


def format_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if key in ("savings_capture", "self_sufficiency", "self_consumption"):
        return f"{100 * value:.1f}%"
    if key == "citylearn_cost_ratio":
        return f"{value:.3f}"
    if key == "wall_s":
        return f"{value:.2f}"
    return f"{value:,.2f}"


def kpi_table(rows: Mapping[str, Mapping[str, Any]], keys: Sequence[str] | None = None) -> str:
    """A plain-text table: one row per run (strategy), one column per KPI."""
    labels = [(k, lab) for k, lab in KPI_LABELS if keys is None or k in keys]
    labels = [(k, lab) for k, lab in labels if any(k in r for r in rows.values())]
    header = ["strategy", *[lab for _, lab in labels]]
    body = [[name, *[format_value(k, r.get(k)) for k, _ in labels]] for name, r in rows.items()]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=False))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in body:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=False))
            )
        )
    return "\n".join(lines)


def plot_runs(tables: Mapping[str, StepsTable | pd.DataFrame], out: Path) -> list[Path]:
    """PNG plots: cumulative tokens spent per run, prices, import/export, SOC, P2P and CT burned.
    The first table is the one whose prices/SOC are shown in detail."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = {k: pd.DataFrame(v) for k, v in tables.items()}
    paths: list[Path] = []
    first_name, first = next(iter(frames.items()))
    x = pd.to_datetime(first["timestamp"])

    fig, ax = plt.subplots(figsize=(10, 4))
    for name, frame in frames.items():
        ax.plot(pd.to_datetime(frame["timestamp"]), frame["tokens_spent_ct"].cumsum(), label=name)
    ax.set_ylabel("cumulative tokens spent [CT]")
    ax.set_title("Tokens spent vs the no-control baseline")
    ax.legend()
    fig.tight_layout()
    paths.append(_save(fig, out / "tokens_spent.png"))

    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    axes[0].step(x, first["price_day_ahead"], where="post")
    axes[0].set_ylabel("day-ahead [CT/kWh]")
    axes[0].set_title(f"{first_name}: prices, grid exchange, storage, P2P and burn")
    axes[1].plot(x, first["import_kwh"], label="import")
    axes[1].plot(x, -first["export_kwh"], label="export (negative)")
    axes[1].set_ylabel("grid [kWh/step]")
    axes[1].legend()
    for col in [c for c in first.columns if c.startswith("soc_")]:
        axes[2].plot(x, first[col], label=col[4:])
    axes[2].set_ylabel("SOC [-]")
    axes[2].set_ylim(-0.02, 1.02)
    if any(c.startswith("soc_") for c in first.columns):
        axes[2].legend()
    axes[3].plot(x, first["p2p_kwh"], label="P2P [kWh]")
    axes[3].plot(x, first["burned_ct"], label="CT burned")
    axes[3].legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    paths.append(_save(fig, out / "operation.png"))
    plt.close("all")
    return paths


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=90)
    return path


def write_html(
    title: str,
    rows: Mapping[str, Mapping[str, Any]],
    images: Sequence[Path],
    out: Path,
    notes: Sequence[str] = (),
    frames: Mapping[str, StepsTable | pd.DataFrame] | None = None,
) -> Path:
    """A self-contained page (no CDN, no inline script): KPI table and the plots next to it.

    With ``frames`` (run name -> per-step table, as given to ``plot_runs``) the page also draws
    the dashboard's charts from ``series.json``/``series.js`` written next to it, with the chart
    code copied into ``assets/`` (``reporting.assets``); the PNGs stay as the fallback."""
    labels = [(k, lab) for k, lab in KPI_LABELS if any(k in r for r in rows.values())]
    head = "".join(f"<th>{html.escape(lab)}</th>" for _, lab in labels)
    body = "".join(
        "<tr><td>"
        + html.escape(name)
        + "</td>"
        + "".join(f"<td>{html.escape(format_value(k, r.get(k)))}</td>" for k, _ in labels)
        + "</tr>"
        for name, r in rows.items()
    )
    imgs = "".join(
        f'<p><img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}"></p>' for p in images
    )
    head_extra, charts = "", ""
    if frames:
        from .assets import write_report_assets

        fragments = write_report_assets(frames, out, title)
        head_extra, charts = fragments.head, fragments.charts
        if imgs:  # PNGs are written only with --png
            imgs = f'<details id="png-plots" open><summary>Static plots (PNG)</summary>{imgs}</details>'

    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
{head_extra}</head><body class="report"><h1>{html.escape(title)}</h1>
<table class="kpis"><thead><tr><th>strategy</th>{head}</tr></thead><tbody>{body}</tbody></table>
<ul class="notes">{note_html}</ul>{charts}{imgs}</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
