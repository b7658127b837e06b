"""Flexible appliances (washing machines): known values of the start rules, the loader against
the raw file, the LPs with appliance jobs (bound <= every run), bad files named."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from energy_agents.optimize.lp import executable_plan, lp_lower_bound
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import Community, Levers, Observation
from energy_agents.sim.appliances import Appliances
from energy_agents.sim.params import ScenarioError

FIXTURE = "tests/fixtures/citylearn_ev_mini"


def one_job(n_steps: int = 6) -> Appliances:
    """Appliance ``wm`` of home 1: one job, window steps 1-3, cycle 2 then 1 kWh."""
    return Appliances(
        ("wm",), np.array([1]), np.array([0]), np.array([1]), np.array([3]),
        np.array([[2.0, 1.0]]), n_steps,
    )  # fmt: skip


def run(levers_at, n_steps: int = 6) -> Community:
    s = replace(tiny_scenario().head(n_steps), appliances=one_job(n_steps))
    c = Community(s)
    while not c.done:
        c.step(levers_at(c.t))
    return c


def test_without_a_lever_a_job_starts_as_its_window_opens():
    c = run(lambda t: Levers())
    np.testing.assert_allclose(c.results["appliance_kwh"], [0, 2, 1, 0, 0, 0])
    assert c.max_energy_error < 1e-12


def test_a_waiting_job_starts_at_its_windows_end_at_the_latest():
    c = run(lambda t: Levers(appliance_start={"wm": False}))
    np.testing.assert_allclose(c.results["appliance_kwh"], [0, 0, 0, 2, 1, 0])
    c = run(lambda t: Levers(appliance_start={"wm": t == 2}))
    np.testing.assert_allclose(c.results["appliance_kwh"], [0, 0, 2, 1, 0, 0])


def test_observation_says_what_waits():
    s = replace(tiny_scenario().head(6), appliances=one_job())
    c = Community(s)
    c.step(Levers(appliance_start={"wm": False}))
    obs = c.observe()  # before step 1: the window is open
    assert obs.appliance_names == ("wm",)
    assert obs.appliance_waiting.tolist() == [1.0]
    assert obs.appliance_steps_left.tolist() == [3.0]
    assert obs.appliance_energy_kwh.tolist() == [3.0] and obs.appliance_steps.tolist() == [2.0]
    back = Observation.from_dict(json.loads(json.dumps(obs.to_dict())))
    assert back.appliance_names == ("wm",)


@pytest.fixture(scope="module")
def homes():
    return load_scenario(f"citylearn:{FIXTURE}")


def test_loader_reads_the_jobs_of_the_file(homes):
    raw = pd.read_csv(f"{FIXTURE}/Washing_Machine_1.csv")
    windows = raw.loc[raw["wm_start_time_step"] >= 0, ["wm_start_time_step", "wm_end_time_step"]]
    distinct = windows.drop_duplicates()
    ap = homes.flexible_appliances
    assert ap.names == ("Building_1/washing_machine_1",) and ap.member.tolist() == [0]
    assert ap.n_jobs == len(distinct)
    assert ap.window_start.tolist() == distinct["wm_start_time_step"].tolist()
    profiles = raw.loc[distinct.index, "load_profile"].map(lambda v: sum(json.loads(v)))
    assert ap.job_energy_kwh.sum() == pytest.approx(profiles.sum())


def test_every_strategy_runs_the_jobs_and_the_bound_holds(homes):
    bound = lp_lower_bound(homes).cost_ct
    energy = homes.flexible_appliances.job_energy_kwh.sum()
    spent = {}
    for name in ("none", "weighted", "mpc", "optimal"):
        k = run_batch(homes, name).kpis
        spent[name] = k["tokens_spent_ct"]
        assert k["appliance_jobs_started"] == homes.flexible_appliances.n_jobs
        assert k["appliance_kwh"] == pytest.approx(energy, abs=1e-6)  # no cycle cut here
        assert k["max_energy_balance_error_kwh"] < 1e-9
        assert spent[name] >= bound - 1e-6 * abs(bound)
    assert spent["optimal"] == pytest.approx(executable_plan(homes).cost_ct, rel=1e-6)
    assert spent["weighted"] < spent["none"]


def test_bad_profile_named(tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(FIXTURE, folder)
    path = folder / "Washing_Machine_1.csv"
    text = path.read_text().replace("[3.157]", "[oops]", 1)
    path.write_text(text)
    with pytest.raises(
        ScenarioError, match=r"Washing_Machine_1\.csv: row \d+: column load_profile"
    ):
        load_scenario(f"citylearn:{folder}")
