"""The dashboard blueprint and the report's chart assets, without a browser (fast)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flask import Flask

from energy_agents.reporting import assets as dashboard_assets
from energy_agents.reporting import report
from energy_agents.server.web import dashboard
from energy_agents.sim.kpis import KPI_LABELS

STATIC = dashboard.STATIC_DIR


@pytest.fixture
def client():
    app = Flask("dashboard-test")
    app.register_blueprint(dashboard.bp)
    return app.test_client()


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/"])
def test_page_served_with_strict_csp(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    csp = csp_directives(resp.headers["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]
    assert csp["default-src"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    page = resp.get_data(as_text=True)
    assert 'src="/dashboard/static/dashboard.js"' in page
    assert "__API_BASE__" not in page and "__STATIC__" not in page


def test_assets_served_with_csp_and_types(client):
    for name, mime in (
        ("charts.js", "text/javascript"),
        ("dashboard.js", "text/javascript"),
        ("dashboard.css", "text/css"),
    ):
        resp = client.get(f"/dashboard/static/{name}")
        assert resp.status_code == 200, name
        assert resp.mimetype == mime, name
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        resp.close()


def test_page_template_is_not_served_raw(client):
    assert client.get("/dashboard/static/index.html").status_code == 404


def test_page_has_no_inline_script_style_or_external_resource():
    page = (STATIC / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S):
        assert tag.strip() == "", "inline script"
    assert all("src=" in t for t in re.findall(r"<script\b[^>]*>", page))
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", page), "inline event handler"
    assert "style=" not in page and "<style" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "external resource"


def test_scripts_never_parse_data_as_html():
    for name in ("charts.js", "dashboard.js", "report.js"):
        code = (STATIC / name).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, f"{name} uses {sink}"
        assert "new Function" not in code
        assert "http://" not in code and "https://" not in code


def test_page_names_the_five_agents_and_kpi_labels(client):
    page = client.get("/dashboard").get_data(as_text=True)
    m = re.search(r'<meta name="energy-kpi-labels" content="([^"]*)"', page)
    assert m is not None
    labels = json.loads(m.group(1).replace("&quot;", '"'))
    assert [tuple(x) for x in labels] == list(KPI_LABELS)
    for name in ("token_economist", "storage_optimizer", "grid_trader"):
        assert name in page


def _frame(n: int, spent: float, storages=("storage_A",)) -> pd.DataFrame:
    steps = np.arange(n)
    data = {
        "step": steps,
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="h"),
        "tokens_spent_ct": np.full(n, spent),
        "price_day_ahead": np.linspace(0.2, 0.4, n),
        "import_kwh": np.ones(n),
        "export_kwh": np.zeros(n),
        "p2p_kwh": np.full(n, 0.5),
        "burned_ct": np.full(n, 0.1),
        "burn_rate_ct_per_kwh": np.full(n, 0.02),
    }
    for s in storages:
        data[f"soc_{s}"] = np.full(n, 0.5)
    data["load_kwh"] = np.full(n, np.nan)  # not drawn; NaN must not break the JSON
    return pd.DataFrame(data)


def test_series_data_main_run_first_and_baseline_tokens_only():
    frames = {"none": _frame(5, 2.0), "weighted": _frame(5, 1.5)}
    data = dashboard_assets.series_data(frames, "t")
    assert [r["name"] for r in data["runs"]] == ["weighted", "none"]
    main, base = data["runs"]
    assert main["role"] == "strategy" and base["role"] == "baseline"
    assert main["tokens_spent_ct"] == [1.5] * 5
    assert main["soc"] == {"storage_A": [0.5] * 5}
    assert main["timestamp"][1] == "2024-01-01 01:00:00"
    assert "price_day_ahead" in main and "price_day_ahead" not in base
    json.dumps(data, allow_nan=False)


def test_write_html_with_frames_writes_series_and_assets(tmp_path: Path):
    frames = {"weighted": _frame(24, 1.0), "none": _frame(24, 2.0)}
    rows = {"none": {"tokens_spent_ct": 48.0}, "weighted": {"tokens_spent_ct": 24.0}}
    png = tmp_path / "tokens_spent.png"
    png.write_bytes(b"\x89PNG")
    path = report.write_html("t <b>", rows, [png], tmp_path, ["n"], frames=frames)
    page = path.read_text()
    for name in ("assets/charts.js", "assets/report.js", "assets/dashboard.css", "series.js"):
        assert (tmp_path / name).is_file(), name
        assert f'"{name}"' in page
    series = json.loads((tmp_path / "series.json").read_text())
    assert [r["name"] for r in series["runs"]] == ["weighted", "none"]
    js = (tmp_path / "series.js").read_text()
    assert js.startswith("window.ENERGY_REPORT_SERIES = {")
    assert re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S) == ["", "", ""]
    assert 'id="png-plots"' in page and 'src="tokens_spent.png"' in page
    assert "t &lt;b&gt;" in page
    for key in ("tokens", "soc", "prices", "grid", "p2p", "burned", "burn_rate"):
        assert f'data-chart="{key}"' in page


def test_write_html_without_frames_is_unchanged_static_page(tmp_path: Path):
    path = report.write_html("t", {"none": {"tokens_spent_ct": 1.0}}, [], tmp_path)
    page = path.read_text()
    assert "<script" not in page
    assert not (tmp_path / "series.json").exists()


def test_served_by_the_server_app(tmp_path: Path):
    """The AI Manager's app factory mounts the dashboard; the JSON API keeps its own headers."""
    from energy_agents.server import ServerConfig, create_app

    app = create_app(ServerConfig(database=str(tmp_path / "db.sqlite")))
    c = app.test_client()
    page = c.get("/dashboard")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert c.get("/dashboard/static/charts.js").status_code == 200
    assert c.get("/dashboard/static/index.html").status_code == 404
    api = c.get("/messages")
    assert api.status_code == 200 and api.is_json
    for path in ("/series", "/decisions", "/kpis"):
        assert c.get(path).status_code == 200, path


def test_rounded_is_pythons_round_to_the_bit() -> None:
    # The series' vectorized rounding against round() itself, on values at and near the
    # half-way points where a vectorized rint(v * 1e5) alone would differ.
    import math

    from energy_agents.reporting.assets import rounded

    rng = np.random.default_rng(12)
    halves = (rng.integers(-(10**8), 10**8, 50_000) + 0.5) / 1e5
    cases = [
        rng.random(50_000) * 10.0 ** rng.integers(-9, 12, 50_000),
        halves,
        halves + rng.normal(size=50_000) * 1e-16,
        np.nextafter(halves, np.inf),
        np.array([0.0, -0.0, -1e-7, 5e-6, 2.5e-5, 4.6e10, -1e300, 2.0**52 / 1e5, 1e-320]),
    ]
    for values in cases:
        got = rounded(values, 5)
        want = [round(v, 5) for v in values.tolist()]
        assert [(math.copysign(1, g), g) for g in got] == [(math.copysign(1, w), w) for w in want]
