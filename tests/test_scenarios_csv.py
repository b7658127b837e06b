"""The plain-CSV scenario format: a round trip and the refusals of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim.params import ScenarioError

STEPS = 48


def write_folder(folder: Path, n_members: int = 3, with_optional: bool = True):
    """Write a tiny scenario in the CSV format; return the scenario written."""
    s = tiny_scenario(seed=4, n_members=n_members, n_steps=STEPS)
    folder.mkdir(parents=True, exist_ok=True)
    ts = pd.date_range(s.start, periods=STEPS, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    rows = pd.DataFrame(
        {
            "timestamp": np.repeat(ts, n_members),
            "member": np.tile(np.array(s.member_names), STEPS),
            "load_kwh": s.load_kwh.ravel(),
            "pv_kwh": s.pv_kwh.ravel(),
        }
    )
    rows.to_csv(folder / "timeseries.csv", index=False)
    if with_optional:
        mb = s.member_batteries
        pd.DataFrame(
            {
                "member": s.member_names,
                "battery_kwh": mb.capacity_kwh,
                "battery_kw": mb.power_kw,
                "battery_efficiency": 0.95,
                "flexible_share": 0.2,
            }
        ).to_csv(folder / "members.csv", index=False)
        p = s.prices
        pd.DataFrame(
            {
                "timestamp": ts,
                "day_ahead": p.day_ahead,
                "imbalance_buy": p.imbalance_buy,
                "imbalance_sell": p.imbalance_sell,
                "feed_in": p.feed_in,
            }
        ).to_csv(folder / "prices.csv", index=False)
        pd.DataFrame(
            {"name": ["storage_A", "storage_B"], "capacity_kwh": [20.0, 10.0], "power_kw": [5, 5]}
        ).to_csv(folder / "storages.csv", index=False)
        pd.DataFrame({"timestamp": ts, "temp_air_c": np.linspace(10, 20, STEPS)}).to_csv(
            folder / "weather.csv", index=False
        )
    return s


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "mydata"
    write_folder(path)
    return path


def test_round_trip(folder):
    ref = tiny_scenario(seed=4, n_members=3, n_steps=STEPS)
    s = load_scenario(f"csv:{folder}")
    assert s.member_names == ref.member_names
    assert s.start == ref.start
    assert s.dt_h == 1.0
    assert_allclose(s.load_kwh, ref.load_kwh)
    assert_allclose(s.pv_kwh, ref.pv_kwh)
    assert_allclose(s.prices.day_ahead, ref.prices.day_ahead)
    assert_allclose(s.prices.feed_in, ref.prices.feed_in)
    assert_allclose(s.member_batteries.capacity_kwh, ref.member_batteries.capacity_kwh)
    assert_allclose(s.member_batteries.eta_charge, 0.95)
    assert_allclose(s.flexible_share, 0.2)
    assert s.community_storages.names == ("storage_A", "storage_B")
    assert_allclose(s.community_storages.capacity_kwh, [20, 10])
    assert_allclose(s.weather["temp_air_c"], np.linspace(10, 20, STEPS))


def test_row_order_does_not_matter(folder):
    path = folder / "timeseries.csv"
    df = pd.read_csv(path).sample(frac=1.0, random_state=1)
    df.to_csv(path, index=False)
    s = load_scenario(f"csv:{folder}")
    ref = tiny_scenario(seed=4, n_members=3, n_steps=STEPS)
    assert_allclose(s.load_kwh[:, np.argsort(s.member_names)], ref.load_kwh)


def test_timeseries_file_path_and_options(folder):
    s = load_scenario(
        f"csv:{folder / 'timeseries.csv'}",
        members=2,
        days=1,
        community_storage=False,
        flexible_share=0.5,
    )
    assert s.n_members == 2 and s.n_steps == 24
    assert s.community_storages.n == 0
    assert_allclose(s.flexible_share, 0.5)


def test_only_timeseries_uses_defaults(tmp_path):
    write_folder(tmp_path, with_optional=False)
    s = load_scenario(f"csv:{tmp_path}")
    assert_array_equal(s.member_batteries.capacity_kwh, 0)
    assert s.community_storages.n == 0
    assert set(np.unique(s.prices.day_ahead)) <= {0.20, 0.30, 0.45}
    assert any("prices.csv not found" in n for n in s.notes)
    s2 = load_scenario(f"csv:{tmp_path}", community_storage=True)
    assert s2.community_storages.names == ("storage_A", "storage_B")


def test_quarter_hour_steps(tmp_path):
    ts = pd.date_range("2024-01-01", periods=8, freq="15min").strftime("%Y-%m-%d %H:%M")
    pd.DataFrame({"timestamp": ts, "member": "a", "load_kwh": 0.1, "pv_kwh": 0.0}).to_csv(
        tmp_path / "timeseries.csv", index=False
    )
    s = load_scenario(f"csv:{tmp_path}")
    assert s.dt_h == 0.25 and s.n_steps == 8


def test_runs_through_engine(folder):
    run = run_batch(load_scenario(f"csv:{folder}"), "none")
    assert run.kpis["max_energy_balance_error_kwh"] < 1e-9
    assert run.kpis["max_token_conservation_error_ct"] < 1e-6


# ----------------------------------------------------------------------------- bad input
def _edit(path: Path, edit) -> None:
    df = pd.read_csv(path)
    df = edit(df)
    df.to_csv(path, index=False)


def test_missing_folder():
    with pytest.raises(ScenarioError, match="/no/such/place"):
        load_scenario("csv:/no/such/place")


def test_missing_timeseries(tmp_path):
    (tmp_path / "members.csv").write_text("member\na\n")
    with pytest.raises(ScenarioError, match=r"timeseries\.csv: file not found"):
        load_scenario(f"csv:{tmp_path}")


def test_missing_column(folder):
    _edit(folder / "timeseries.csv", lambda d: d.drop(columns="pv_kwh"))
    with pytest.raises(ScenarioError, match=r"timeseries\.csv: missing column 'pv_kwh'"):
        load_scenario(f"csv:{folder}")


def test_nan_value(folder):
    def edit(d):
        d.loc[5, "load_kwh"] = np.nan
        return d

    _edit(folder / "timeseries.csv", edit)
    with pytest.raises(ScenarioError, match=r"timeseries\.csv: column 'load_kwh', line 7"):
        load_scenario(f"csv:{folder}")


def test_not_a_number(folder):
    def edit(d):
        d["pv_kwh"] = d["pv_kwh"].astype(object)
        d.loc[2, "pv_kwh"] = "lots"
        return d

    _edit(folder / "timeseries.csv", edit)
    with pytest.raises(ScenarioError, match=r"column 'pv_kwh', line 4: 'lots'"):
        load_scenario(f"csv:{folder}")


def test_negative_battery_capacity(folder):
    def edit(d):
        d.loc[1, "battery_kwh"] = -5
        return d

    _edit(folder / "members.csv", edit)
    with pytest.raises(
        ScenarioError, match=r"members\.csv: column 'battery_kwh', line 3.*negative"
    ):
        load_scenario(f"csv:{folder}")


def test_negative_storage_capacity(folder):
    _edit(folder / "storages.csv", lambda d: d.assign(capacity_kwh=[-1.0, 5.0]))
    with pytest.raises(ScenarioError, match=r"storages\.csv: column 'capacity_kwh'"):
        load_scenario(f"csv:{folder}")


def test_missing_member_row(folder):
    _edit(folder / "timeseries.csv", lambda d: d.drop(index=10))
    with pytest.raises(ScenarioError, match=r"timeseries\.csv: member .* has no row at timestamp"):
        load_scenario(f"csv:{folder}")


def test_duplicate_row(folder):
    _edit(folder / "timeseries.csv", lambda d: pd.concat([d, d.iloc[[4]]]))
    with pytest.raises(ScenarioError, match="more than one row"):
        load_scenario(f"csv:{folder}")


def test_prices_wrong_length(folder):
    _edit(folder / "prices.csv", lambda d: d.iloc[:30])
    with pytest.raises(ScenarioError, match=r"prices\.csv: 30 rows, expected 48"):
        load_scenario(f"csv:{folder}")


def test_prices_order_violated(folder):
    _edit(folder / "prices.csv", lambda d: d.assign(feed_in=1.0))
    with pytest.raises(ScenarioError, match=r"prices\.csv: prices\.feed_in"):
        load_scenario(f"csv:{folder}")


def test_unknown_member(folder):
    _edit(folder / "members.csv", lambda d: d.assign(member=["member_000", "member_001", "zed"]))
    with pytest.raises(
        ScenarioError, match=r"members\.csv: column 'member', line 4: unknown member 'zed'"
    ):
        load_scenario(f"csv:{folder}")


def test_unknown_member_column(folder):
    _edit(folder / "members.csv", lambda d: d.assign(battery_size=1.0))
    with pytest.raises(ScenarioError, match=r"members\.csv: unknown column 'battery_size'"):
        load_scenario(f"csv:{folder}")


def test_uneven_steps(folder):
    def edit(d):
        d = d[d["timestamp"] != "2024-06-01T05:00:00"]
        return d

    _edit(folder / "timeseries.csv", edit)
    with pytest.raises(
        ScenarioError, match=r"timeseries\.csv: column 'timestamp': steps must be equally"
    ):
        load_scenario(f"csv:{folder}")


def test_bad_timestamp(folder):
    def edit(d):
        d.loc[0, "timestamp"] = "yesterday"
        return d

    _edit(folder / "timeseries.csv", edit)
    with pytest.raises(ScenarioError, match=r"timeseries\.csv: column 'timestamp'"):
        load_scenario(f"csv:{folder}")


def test_bad_efficiency(folder):
    _edit(folder / "members.csv", lambda d: d.assign(battery_efficiency=1.2))
    with pytest.raises(ScenarioError, match=r"members\.csv: column 'battery_efficiency'"):
        load_scenario(f"csv:{folder}")
