"""The CityLearn loader on the committed fixture (totals against the raw CSVs), its options,
its refusals of bad input, and the full dataset when ../shared is present."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario
from energy_agents.scenarios.citylearn import start_timestamp
from energy_agents.sim.params import ScenarioError

FIXTURE = Path(__file__).parent / "fixtures" / "citylearn_mini"
# The real datasets: ENERGY_AGENTS_DATA names the folder that holds them (default ../shared/data).
DATA = Path(
    os.environ.get("ENERGY_AGENTS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
FULL = DATA / "citylearn_challenge_2022_phase_1"
BUILDINGS = ("Building_1", "Building_2", "Building_4")
PV_KW = {"Building_1": 4.0, "Building_2": 4.0, "Building_4": 5.0}


@pytest.fixture(scope="module")
def mini():
    return load_scenario(f"citylearn:{FIXTURE}")


@pytest.fixture
def copy(tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(FIXTURE, dst)
    return dst


def _edit_schema(folder: Path, edit) -> None:
    path = folder / "schema.json"
    schema = json.loads(path.read_text())
    edit(schema)
    path.write_text(json.dumps(schema))


def test_fixture_is_small_and_attributed():
    total = sum(f.stat().st_size for f in FIXTURE.iterdir())
    assert total < 200_000
    readme = (FIXTURE / "README.md").read_text()
    assert "MIT" in readme and "Vazquez-Canteli" in readme and "b8bad314" in readme


def test_mini_shape_time_and_members(mini):
    assert mini.member_names == BUILDINGS
    assert mini.n_steps == 336
    assert mini.dt_h == 1.0
    assert mini.start == "2022-08-01T00:00:00"
    assert str(mini.timestamps()[-1]) == "2022-08-14T23:00:00"


def test_mini_totals_match_raw_csvs(mini):
    for i, name in enumerate(BUILDINGS):
        raw = pd.read_csv(FIXTURE / f"{name}.csv")
        assert len(raw) == 336
        assert_allclose(mini.load_kwh[:, i], raw["non_shiftable_load"].to_numpy())
        assert_allclose(mini.load_kwh[:, i].sum(), raw["non_shiftable_load"].sum())
        pv = raw["solar_generation"].to_numpy() * PV_KW[name] / 1000.0
        assert_allclose(mini.pv_kwh[:, i], pv)
        assert_allclose(mini.pv_kwh[:, i].sum(), pv.sum())
    price = pd.read_csv(FIXTURE / "pricing.csv")["electricity_pricing"].to_numpy()
    p = mini.prices
    assert_array_equal(p.day_ahead, price)
    assert_array_equal(p.imbalance_buy, price)
    assert_array_equal(p.imbalance_sell, price)
    assert_array_equal(p.feed_in, np.zeros(336))
    assert price.min() == 0.22 and price.max() == 0.54
    # the 0.54 peak is 16:00-21:00 under the hour-24 = 00:00 convention
    hours = mini.timestamps().astype("datetime64[h]").astype(int) % 24
    assert set(hours[price == 0.54]) == {16, 17, 18, 19, 20}


def test_mini_batteries_and_defaults(mini):
    mb = mini.member_batteries
    assert_allclose(mb.capacity_kwh, 6.4)
    assert_allclose(mb.power_kw, 5.0)
    assert_allclose(mb.eta_charge, 0.9)
    assert_allclose(mb.eta_discharge, 0.9)
    assert_allclose(mb.soc_init, 0.0)
    assert_allclose(mb.soc_min, 0.0)
    assert mini.community_storages.n == 0
    assert_allclose(mini.flexible_share, 0.0)


def test_mini_weather_and_notes(mini):
    raw = pd.read_csv(FIXTURE / "weather.csv")
    assert_allclose(mini.weather["temp_air_c"], raw["outdoor_dry_bulb_temperature"])
    assert_allclose(mini.weather["dni_w_m2"], raw["direct_solar_irradiance"])
    text = "\n".join(mini.notes)
    for word in ("dhw_demand", "cooling_demand", "heating_demand", "feed-in 0", "degradation"):
        assert word in text
    # The weather file's forecast columns are named as not used (the 2022 files hold the
    # realized weather hours later there: perfect foresight).
    forecasts = [c for c in raw.columns if "_predicted_" in c]
    assert len(forecasts) == 12
    assert f"weather: {len(forecasts)} forecast columns (*_predicted_*) not used" in text


def test_unknown_weather_columns_are_named(copy):
    raw = pd.read_csv(copy / "weather.csv")
    raw["wind_speed"] = 3.0
    raw.to_csv(copy / "weather.csv", index=False)
    notes = "\n".join(load_scenario(f"citylearn:{copy}").notes)
    assert "weather: columns not used: wind_speed" in notes


def test_options_storage_flex_members_days():
    s = load_scenario(
        f"citylearn:{FIXTURE}", community_storage=True, flexible_share=0.2, members=2, days=2
    )
    assert s.member_names == BUILDINGS[:2]
    assert s.n_steps == 48
    assert s.community_storages.names == ("storage_A", "storage_B")
    assert_allclose(s.flexible_share, 0.2)
    with pytest.raises(ScenarioError, match="members=4"):
        load_scenario(f"citylearn:{FIXTURE}", members=4)


def test_schema_file_path_accepted():
    s = load_scenario(f"citylearn:{FIXTURE / 'schema.json'}")
    assert s.n_members == 3


def test_runs_through_engine_with_balance(mini):
    run = run_batch(mini.head(72), "none")
    assert run.kpis["max_energy_balance_error_kwh"] < 1e-9
    assert run.kpis["max_token_conservation_error_ct"] < 1e-6
    assert run.kpis["steps"] == 72


def test_start_timestamp_convention():
    month = np.array([7, 8, 8])
    hour = np.array([24, 1, 2])
    assert start_timestamp(month, hour, 1.0) == ("2022-08-01T00:00:00", None)
    # a year boundary: December rows, then January
    month = np.array([12] * 3 + [1])
    hour = np.array([22, 23, 24, 1])
    assert start_timestamp(month, hour, 1.0)[0] == "2022-12-31T22:00:00"
    start, note = start_timestamp(np.array([3, 3]), np.array([5, 6]), 1.0)
    assert start == "2022-03-01T05:00:00" and note


def test_include_false_and_start_step(copy):
    def edit(schema):
        schema["buildings"]["Building_2"]["include"] = False
        schema["simulation_start_time_step"] = 24
        schema["simulation_end_time_step"] = 71

    _edit_schema(copy, edit)
    s = load_scenario(f"citylearn:{copy}")
    assert s.member_names == ("Building_1", "Building_4")
    assert s.n_steps == 48
    assert s.start == "2022-08-02T00:00:00"
    raw = pd.read_csv(copy / "Building_4.csv")["non_shiftable_load"].to_numpy()[24:72]
    assert_allclose(s.load_kwh[:, 1], raw)
    assert any("include=false" in n for n in s.notes)


def test_missing_pricing_falls_back_to_flat_tariff(copy):
    (copy / "pricing.csv").unlink()
    s = load_scenario(f"citylearn:{copy}")
    assert_allclose(s.prices.day_ahead, 0.30)
    assert any("pricing.csv not found" in n for n in s.notes)


def test_autosized_devices_sized_or_named(copy):
    # The battery is autosized (scenarios/autosize.py); the PV has neither an EPW file nor a
    # location for the weather CSV, so it cannot be, and the notes say so.
    def edit(schema):
        b = schema["buildings"]["Building_1"]
        b["electrical_storage"] = {"type": "Battery", "autosize": True, "attributes": {}}
        b["pv"] = {"type": "PV", "autosize": True, "attributes": {}}

    _edit_schema(copy, edit)
    s = load_scenario(f"citylearn:{copy}")
    assert s.member_batteries.capacity_kwh[0] > 0
    assert s.pv_kwh[:, 0].sum() == 0
    assert any("Building_1: electrical_storage autosized" in n for n in s.notes)
    assert any("Building_1: pv not autosized" in n and "no PV" in n for n in s.notes)


def test_thermal_devices_ignored_with_note(copy):
    def edit(schema):
        schema["buildings"]["Building_4"]["dhw_storage"] = {
            "type": "citylearn.energy_model.StorageTank",
            "autosize": True,
        }

    _edit_schema(copy, edit)
    s = load_scenario(f"citylearn:{copy}")
    # read as a tank, or left out with a note naming it: never dropped without a word
    assert "Building_4/dhw" in s.tanks.names or any(
        "Building_4: dhw_storage left out" in n for n in s.notes
    )


def test_depth_of_discharge_sets_soc_min(copy):
    def edit(schema):
        schema["buildings"]["Building_1"]["electrical_storage"]["attributes"][
            "depth_of_discharge"
        ] = 0.8

    _edit_schema(copy, edit)
    s = load_scenario(f"citylearn:{copy}")
    assert_allclose(s.member_batteries.soc_min, [0.2, 0.0, 0.0])
    assert_allclose(s.member_batteries.soc_init, [0.2, 0.0, 0.0])


# ----------------------------------------------------------------------------- bad input
def test_missing_folder():
    with pytest.raises(ScenarioError, match="schema.json"):
        load_scenario("citylearn:/nonexistent/dataset")


def test_missing_building_file(copy):
    (copy / "Building_2.csv").unlink()
    with pytest.raises(ScenarioError, match=r"Building_2\.csv: file not found"):
        load_scenario(f"citylearn:{copy}")


def test_missing_column(copy):
    path = copy / "Building_4.csv"
    pd.read_csv(path).drop(columns="non_shiftable_load").to_csv(path, index=False)
    with pytest.raises(
        ScenarioError, match=r"Building_4\.csv: missing column 'non_shiftable_load'"
    ):
        load_scenario(f"citylearn:{copy}")


def test_wrong_length(copy):
    path = copy / "Building_4.csv"
    pd.read_csv(path).iloc[:300].to_csv(path, index=False)
    with pytest.raises(ScenarioError, match=r"Building_4\.csv: 300 rows, expected 336"):
        load_scenario(f"citylearn:{copy}")


def test_price_file_wrong_length(copy):
    path = copy / "pricing.csv"
    pd.read_csv(path).iloc[:100].to_csv(path, index=False)
    with pytest.raises(ScenarioError, match=r"pricing\.csv: 100 rows"):
        load_scenario(f"citylearn:{copy}")


def test_nan_in_column(copy):
    path = copy / "Building_1.csv"
    df = pd.read_csv(path)
    df.loc[10, "solar_generation"] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(ScenarioError, match=r"Building_1\.csv: column 'solar_generation', line 12"):
        load_scenario(f"citylearn:{copy}")


def test_negative_load(copy):
    path = copy / "Building_2.csv"
    df = pd.read_csv(path)
    df.loc[3, "non_shiftable_load"] = -1.0
    df.to_csv(path, index=False)
    with pytest.raises(
        ScenarioError, match=r"Building_2\.csv: column 'non_shiftable_load'.*negative"
    ):
        load_scenario(f"citylearn:{copy}")


def test_negative_capacity(copy):
    def edit(schema):
        schema["buildings"]["Building_2"]["electrical_storage"]["attributes"]["capacity"] = -6.4

    _edit_schema(copy, edit)
    with pytest.raises(
        ScenarioError,
        match=r"schema\.json: field buildings\.Building_2\.electrical_storage\.attributes\.capacity",
    ):
        load_scenario(f"citylearn:{copy}")


def test_bad_efficiency(copy):
    def edit(schema):
        schema["buildings"]["Building_1"]["electrical_storage"]["attributes"]["efficiency"] = 1.5

    _edit_schema(copy, edit)
    with pytest.raises(
        ScenarioError, match=r"Building_1\.electrical_storage\.attributes\.efficiency"
    ):
        load_scenario(f"citylearn:{copy}")


def test_end_step_beyond_data(copy):
    _edit_schema(copy, lambda s: s.update(simulation_end_time_step=8759))
    with pytest.raises(ScenarioError, match=r"schema\.json: field simulation_end_time_step: 8759"):
        load_scenario(f"citylearn:{copy}")


def test_unknown_building_file_in_schema(copy):
    def edit(schema):
        schema["buildings"]["Building_9"] = {"include": True, "energy_simulation": "Building_9.csv"}

    _edit_schema(copy, edit)
    with pytest.raises(ScenarioError, match=r"Building_9\.csv: file not found"):
        load_scenario(f"citylearn:{copy}")


def test_invalid_json(copy):
    (copy / "schema.json").write_text("{not json")
    with pytest.raises(ScenarioError, match=r"schema\.json: not valid JSON"):
        load_scenario(f"citylearn:{copy}")


def test_no_buildings(copy):
    _edit_schema(copy, lambda s: s.update(buildings={}))
    with pytest.raises(ScenarioError, match=r"schema\.json: field 'buildings'"):
        load_scenario(f"citylearn:{copy}")


# ----------------------------------------------------------------------------- full dataset
@pytest.mark.skipif(
    not FULL.is_dir(),
    reason=f"full CityLearn 2022 dataset not at {FULL}: set ENERGY_AGENTS_DATA to the folder holding it",
)
def test_full_dataset_totals():
    s = load_scenario(f"citylearn:{FULL}")
    schema = json.loads((FULL / "schema.json").read_text())
    assert s.n_steps == 8760
    assert s.n_members == 5
    assert s.start == "2022-08-01T00:00:00"
    for i, name in enumerate(s.member_names):
        raw = pd.read_csv(FULL / f"{name}.csv")
        kw = schema["buildings"][name]["pv"]["attributes"]["nominal_power"]
        assert_allclose(s.load_kwh[:, i].sum(), raw["non_shiftable_load"].sum())
        assert_allclose(s.pv_kwh[:, i].sum(), raw["solar_generation"].sum() * kw / 1000)
    price = pd.read_csv(FULL / "pricing.csv")["electricity_pricing"].to_numpy()
    assert_array_equal(s.prices.day_ahead, price)
    # the fixture is the start of the full data
    mini = load_scenario(f"citylearn:{FIXTURE}")
    assert_allclose(mini.load_kwh, s.load_kwh[:336, [0, 1, 3]])
