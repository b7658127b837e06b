"""``energy-agents compare`` end to end on three days of the committed CityLearn fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli_simulate import REQUIRED_KPI_KEYS

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "citylearn_mini"
GOLDEN = ROOT / "tests" / "golden" / "compare_citylearn_mini_3days.json"
STRATEGIES = ("none", "seed", "weighted", "learned", "mpc", "optimal")
KPI_KEYS = (*REQUIRED_KPI_KEYS, "savings_capture", "forecast_mae_kwh")


def test_compare_table_report_and_golden_values(tmp_path):
    out = tmp_path / "cmp"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "energy_agents.cli",
            "compare",
            "--scenario",
            f"citylearn:{FIXTURE}",
            "--days",
            "3",
            "--strategies",
            ",".join(STRATEGIES),
            "--no-progress",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for name in STRATEGIES:
        assert any(line.startswith(name + " ") for line in done.stdout.splitlines()), name
    rows = json.loads((out / "comparison.json").read_text())
    assert set(STRATEGIES) <= set(rows)
    for name in STRATEGIES:
        for key in KPI_KEYS:
            assert key in rows[name], (name, key)
        assert rows[name]["max_energy_balance_error_kwh"] < 1e-9
        assert rows[name]["max_token_conservation_error_ct"] < 1e-9
    bound = rows["optimal (LP bound)"]["objective_value"]  # ``cost``: tokens spent
    # The perfect-foresight bound is below every strategy; without flexible load the optimal
    # plan replays exactly in the simulator.
    for name in STRATEGIES:
        assert rows[name]["objective_value"] == pytest.approx(rows[name]["tokens_spent_ct"])
        assert rows[name]["tokens_spent_ct"] >= bound - 1e-6
    assert rows["optimal"]["tokens_spent_ct"] == pytest.approx(bound, abs=1e-6)
    assert rows["none"]["savings_capture"] == 0.0
    assert rows["optimal"]["savings_capture"] == pytest.approx(1.0)
    c_none = rows["none"]["tokens_spent_ct"]
    for name in STRATEGIES:
        expected = (c_none - rows[name]["tokens_spent_ct"]) / (c_none - bound)
        assert rows[name]["savings_capture"] == pytest.approx(expected)
    golden = json.loads(GOLDEN.read_text())
    for name, values in golden.items():
        assert rows[name]["tokens_spent_ct"] == pytest.approx(
            values["tokens_spent_ct"], rel=1e-6
        ), name
    for name in ("report.html", "series.json"):
        assert (out / name).stat().st_size > 0
    # Static PNGs only with --png: without it matplotlib is never imported (issue 12, speed).
    assert not list(out.glob("*.png"))
    assert "png-plots" not in (out / "report.html").read_text()
