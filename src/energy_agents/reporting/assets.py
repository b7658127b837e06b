"""The dashboard's charts in the batch HTML report, so that a batch run and a live run read alike.

``report.write_html`` calls :func:`write_report_assets`: it writes the per-step series of each
run as ``series.json`` next to ``report.html`` (and the same data as ``series.js``, a plain
script file, because browsers refuse ``fetch()`` on pages opened from disk), copies the
dashboard's chart code and style into ``assets/``, and returns the HTML to put in the page.
The page then has no inline script (it works under a CSP with ``script-src 'self'``) and needs
no network. No Flask here: the report is written without the server.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

STATIC_DIR = Path(__file__).parents[1] / "server" / "web" / "static" / "dashboard"
"""The dashboard's own files (read as data: the report imports nothing of the server)."""
REPORT_ASSETS = ("charts.js", "report.js", "dashboard.css")
ASSETS_DIR = "assets"
SERIES_JSON = "series.json"
SERIES_JS = "series.js"

OPERATION_COLUMNS = (
    "price_day_ahead",
    "import_kwh",
    "export_kwh",
    "p2p_kwh",
    "burned_ct",
    "burn_rate_ct_per_kwh",
)
"""Columns drawn for the main run (the first that is not the baseline), besides SOC."""

BASELINE_RUN = "none"

PANELS = (
    ("tokens", "Tokens spent vs the no-control baseline (cumulative)", True),
    ("soc", "Storage state of charge", False),
    ("prices", "Prices", False),
    ("grid", "Grid import / export", False),
    ("p2p", "P2P volume", False),
    ("burned", "CT burned", False),
    ("burn_rate", "Burn rate applied (lever)", False),
)
"""(chart key of charts.js, caption, wide) in page order: the dashboard's panels."""


def copy_report_assets(out_dir: Path) -> list[Path]:
    """Copy the chart code and style into ``out_dir/assets``; returns the copied files."""
    dest = Path(out_dir) / ASSETS_DIR
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in REPORT_ASSETS:  # a plain copy (no shutil: it imports bz2 and lzma, ~5 ms)
        (dest / name).write_bytes((STATIC_DIR / name).read_bytes())
        copied.append(dest / name)
    return copied


def rounded(values: np.ndarray, digits: int) -> list[float]:
    """``[round(v, digits) for v in values]`` (Python's correctly rounded ``round``) for finite
    ``values``, vectorized where that is provably the same float: ``k = rint(v * 10**digits)``
    is the integer Python rounds to unless ``v * 10**digits`` lies within its rounding error of
    a half-integer (or ``k`` would not be exact), and ``k / 10**digits`` is then the double
    nearest the decimal, as Python's result is. The other entries go through ``round``."""
    scale = 10.0**digits
    scaled = values * scale
    k = np.rint(scaled)
    margin = np.abs(scaled) * 2.0**-50  # several times the product's rounding error
    safe = (np.abs(scaled - k) < 0.5 - margin) & (np.abs(values) < 2.0**52 / scale)
    out = (k / scale).tolist()
    if not safe.all():
        for i in np.flatnonzero(~safe).tolist():
            out[i] = round(float(values[i]), digits)
    return out


def _clean(values: Any, digits: int = 5) -> list[float | None]:
    arr = np.asarray(values, float)
    finite = np.isfinite(arr)
    if finite.all():
        return list(rounded(arr, digits))
    out: list[float | None] = list(rounded(np.where(finite, arr, 0.0), digits))
    for i in np.flatnonzero(~finite).tolist():
        out[i] = None
    return out


def _timestamps(values: Any) -> list[str]:
    """``YYYY-MM-DD HH:MM:SS`` of each time (datetime64 at once, other values one by one)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return [t.replace("T", " ") for t in np.datetime_as_string(arr, unit="s").tolist()]
    return [str(t).replace("T", " ")[:19] for t in values]


def series_data(frames: Mapping[str, Any], title: str = "") -> dict[str, Any]:
    """The runs as charts.js reads them. ``frames``: run name -> per-step DataFrame (columns of
    ``report.steps_table``, or a DataFrame of them). Every run carries its tokens spent; the main run (the first that is
    not ``none``, else the first) also carries its prices, grid exchange, P2P, burn and SOC."""
    names = list(frames)
    main = next((n for n in names if n != BASELINE_RUN), names[0] if names else None)
    runs = []
    for name in names:
        frame = frames[name]
        run: dict[str, Any] = {
            "name": name,
            "role": "baseline" if name == BASELINE_RUN else "strategy",
            "step": [int(s) for s in np.asarray(frame["step"]).tolist()],
            "timestamp": _timestamps(frame["timestamp"]),
            "tokens_spent_ct": _clean(frame["tokens_spent_ct"]),
        }
        if name == main:
            for col in OPERATION_COLUMNS:
                if col in frame:
                    run[col] = _clean(frame[col])
            run["soc"] = {c[4:]: _clean(frame[c]) for c in frame if str(c).startswith("soc_")}
        runs.append(run)
    if main is not None and main != names[0]:  # charts.js shows the first strategy run in detail
        runs.sort(key=lambda r: r["name"] != main)
    return {"title": title, "runs": runs}


def write_report_series(frames: Mapping[str, Any], out_dir: Path, title: str = "") -> list[Path]:
    """Write ``series.json`` and ``series.js`` (same data) into ``out_dir``."""
    out_dir = Path(out_dir)
    text = json.dumps(series_data(frames, title), separators=(",", ":"), allow_nan=False)
    json_path = out_dir / SERIES_JSON
    json_path.write_text(text + "\n", encoding="utf-8")
    js_path = out_dir / SERIES_JS
    # JSON is a JavaScript expression; "</" cannot end a script file, but keep it inert anyway
    js_path.write_text(
        "window.ENERGY_REPORT_SERIES = " + text.replace("</", "<\\/") + ";\n", encoding="utf-8"
    )
    return [json_path, js_path]


@dataclass(frozen=True)
class ReportCharts:
    """HTML fragments for report.html: ``head`` (style and scripts), ``charts`` (the panels)."""

    head: str
    charts: str


def report_charts_html() -> ReportCharts:
    a = ASSETS_DIR
    head = (
        f'<link rel="stylesheet" href="{a}/dashboard.css">\n'
        f'<script src="{a}/charts.js" defer></script>\n'
        f'<script src="{SERIES_JS}" defer></script>\n'
        f'<script src="{a}/report.js" defer></script>\n'
    )
    figures = "".join(
        f'<figure class="chart{" wide" if wide else ""}" data-panel="{key}">'
        f"<figcaption>{html.escape(caption)}"
        + (' <span id="report-saving" class="note"></span>' if key == "tokens" else "")
        + f'</figcaption><canvas data-chart="{key}"></canvas></figure>'
        for key, caption, wide in PANELS
    )
    charts = (
        '<section id="report-charts" class="card charts" hidden>'
        "<h2>Simulation over time</h2>"
        f'<div class="chart-grid">{figures}</div></section>\n'
    )
    return ReportCharts(head=head, charts=charts)


def write_report_assets(frames: Mapping[str, Any], out_dir: Path, title: str = "") -> ReportCharts:
    """Series files + assets into ``out_dir``; returns the HTML fragments for the page."""
    write_report_series(frames, out_dir, title)
    copy_report_assets(out_dir)
    return report_charts_html()
