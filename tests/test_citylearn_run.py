"""Two weeks of CityLearn's own simulator stepped by the AI Manager's decisions (real server,
the five advisors, CityLearn 3.0.2 in its own venv)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from energy_agents.commands.citylearn_run import (
    SETUP,
    check_steps,
    citylearn_python,
    run_citylearn,
)

# Two weeks of three homes cut from the 2022 challenge data (in the repository, so a fresh
# machine runs this test; attribution in the fixture's README).
DATA = Path(__file__).parent / "fixtures" / "citylearn_mini" / "schema.json"

pytestmark = pytest.mark.skipif(
    not citylearn_python().exists(), reason=f"CityLearn venv missing: run `bash {SETUP}`"
)


def _args(**kw) -> argparse.Namespace:
    base = dict(
        schema=DATA, strategy="weighted", live=False, days=14, objective="citylearn2022",
        deadline=30.0, out=None,
    )  # fmt: skip
    return argparse.Namespace(**(base | kw))


@pytest.fixture(scope="module")
def two_weeks() -> dict:
    return run_citylearn(_args())


def test_every_step_got_a_decision_and_soc_stays_in_bounds(two_weeks):
    res = two_weeks
    assert res["n_steps"] == 14 * 24 - 1  # CityLearn acts on every step but the last
    assert [r["step"] for r in res["steps"]] == list(range(res["n_steps"]))
    assert check_steps(res) == []
    assert res["late_steps"] == 0
    for rec in res["steps"]:
        assert rec["missing"] == []  # all five advisors answered each observation
        assert all(-1.0 <= a <= 1.0 for a in rec["actions"])
        assert all(0.0 <= s <= 1.0 for s in rec["soc"])
    # The batteries were used: some step charged, some discharged.
    socs = [s for r in res["steps"] for s in r["soc"]]
    assert max(socs) > 0.5


def test_citylearn_scores_the_run_and_the_batteries_help(two_weeks):
    ev, s = two_weeks["evaluate"], two_weeks["citylearn_2022"]
    for key in ("cost_total", "carbon_emissions_total", "ramping_average", "daily_peak_average"):
        assert ev[key] is not None and ev[key] > 0
    # Against the same homes without storage control (CityLearn's own baseline series).
    assert s["C"] < 1.0 and s["score"] < 1.0


def test_a_citylearn_rule_runs_without_the_server():
    res = run_citylearn(_args(days=3), controller="basic_battery_rbc")
    assert res["n_steps"] == 71 and check_steps(res) == []
    assert res["citylearn_2022"]["score"] is not None


def test_bad_schema_and_strategy_are_named_without_a_traceback(tmp_path):
    with pytest.raises(SystemExit, match="--schema .*no such file"):
        run_citylearn(_args(schema=tmp_path / "schema.json"))
    with pytest.raises(SystemExit, match="--strategy 'bogus': unknown; known: learned"):
        run_citylearn(_args(strategy="bogus"))
    # A schema CityLearn cannot load: one line naming it and CityLearn's reason, no traceback.
    import json
    import shutil

    shutil.copytree(DATA.parent, tmp_path / "homes")
    schema = json.loads((tmp_path / "homes" / "schema.json").read_text())
    first = next(iter(schema["buildings"].values()))
    first["type"] = "citylearn.building.NoSuchBuilding"  # our loader does not read the type
    (tmp_path / "homes" / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(SystemExit) as err:
        run_citylearn(_args(schema=tmp_path / "homes" / "schema.json", days=1))
    message = str(err.value)
    assert "CityLearn could not load" in message and "NoSuchBuilding" in message
    assert "Traceback" not in message


def test_ev_chargers_driven_in_citylearn_meet_every_departure():
    # The EV fixture (three homes with chargers, 2022 data): CityLearn's own chargers and EV
    # batteries, driven by the decisions' ev_setpoints through the mapping's departure floor.
    ev_data = Path(__file__).parent / "fixtures" / "citylearn_ev_mini" / "schema.json"
    res = run_citylearn(_args(schema=ev_data, days=4))
    assert res["chargers"] == ["charger_1_1", "charger_4_1", "charger_5_1"]
    assert res["schema_changes"] == ["washing machines removed (Building_1)"]
    assert res["ev_departures"] >= 8
    assert res["ev_short_departures"] == 0
    assert check_steps(res) == []
    assert all(-1.0 <= a <= 1.0 for r in res["steps"] for a in r["actions"])


def test_heat_pump_homes_run_in_citylearn_with_our_load_and_their_tanks():
    """The 2023 homes (heat pumps, electric water heaters, hot-water tanks): CityLearn's plain
    Building serves the recorded thermal demand (its LSTM dynamics need torch), and its district
    net without storage equals our model's `none` run to 1e-5 kWh a step, the devices'
    electricity included."""
    import numpy as np

    from energy_agents.runner.batch import run_batch
    from energy_agents.scenarios import load_scenario

    data = Path(__file__).parent / "fixtures" / "citylearn_2023_mini"
    res = run_citylearn(_args(schema=data / "schema.json", days=3))
    assert res["tanks"] == ["Building_1/dhw", "Building_2/dhw", "Building_3/dhw"]
    assert res["schema_changes"] == [
        "LSTM building dynamics (and occupant interaction) replaced by the recorded thermal "
        "demand (Building_1, Building_2, Building_3)"
    ]
    assert check_steps(res) == []
    assert all(0.0 <= s <= 1.0 for r in res["steps"] for s in r["tank_soc"])
    # `weighted` drives the tanks on the forecast of their demand (after a day of history).
    driven = [r for r in res["steps"] if any(r["parameters"]["thermal_setpoints"].values())]
    assert driven and max(max(r["tank_soc"]) for r in res["steps"]) > 0.0
    none = run_batch(load_scenario(f"citylearn:{data}", days=3), "none")
    ours = none.community.results["net_kwh"]
    theirs = np.asarray(res["net_no_storage_kwh"])
    assert theirs.size >= 70
    np.testing.assert_allclose(theirs, ours[: theirs.size], atol=1e-5)
