"""Thermal storage tanks: the pure model, the community step, the CityLearn loader."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from energy_agents.scenarios import load_scenario
from energy_agents.sim import thermal_storage as tm
from energy_agents.sim.checks import ScenarioError
from energy_agents.sim.community import Community
from energy_agents.sim.levers import Levers

MINI = Path(__file__).parent / "fixtures" / "citylearn_2023_mini"


def _tanks(n_steps: int = 6) -> tm.ThermalTanks:
    rng = np.random.default_rng(3)
    return tm.ThermalTanks(
        names=("a/dhw", "b/dhw"),
        member=np.array([0, 1]),
        use=("dhw", "dhw"),
        capacity_kwh=np.array([2.0, 4.0]),
        loss_coefficient=np.array([0.01, 0.0]),
        efficiency=np.array([0.81, 1.0]),
        soc_init=np.array([0.5, 0.0]),
        max_input_kw=np.array([np.inf, 1.0]),
        max_output_kw=np.array([np.inf, np.inf]),
        demand_kwh=rng.uniform(0.0, 1.5, (n_steps, 2)),
        elec_per_kwh=np.full((n_steps, 2), 0.25),
        device_max_kwh=np.full((n_steps, 2), 2.0),
    )


def test_step_balance_bounds_and_demand_served() -> None:
    tk = _tanks(40)
    e = tk.initial_energy()
    rng = np.random.default_rng(0)
    root = np.sqrt(tk.efficiency)
    for t in range(tk.n_steps):
        sp = rng.uniform(-1.5, 1.5, tk.n)  # outside [-1, 1] too: clipped
        e0 = tm.after_loss(tk, e, 1.0)
        new, flow, elec = tm.step(tk, t, e, 1.0, sp)
        # thermal energy balance of each tank
        expected = e0 + np.where(flow > 0, flow * root, flow / root)
        np.testing.assert_allclose(new, expected, atol=1e-12)
        assert np.all(new >= 0) and np.all(new <= tk.capacity_kwh + 1e-12)
        # the demand is served: the tank gives at most the demand, the device the rest
        device = tk.demand_kwh[t] + flow
        assert np.all(device >= -1e-12)
        # charging stays within the device's headroom and the input limit
        assert np.all(device <= np.maximum(tk.device_max_kwh[t], tk.demand_kwh[t]) + 1e-12)
        assert flow[1] <= 1.0 + 1e-12
        np.testing.assert_allclose(elec, flow * tk.elec_per_kwh[t])
        e = new


def test_idle_tank_only_loses() -> None:
    tk = _tanks()
    new, flow, elec = tm.step(tk, 0, tk.initial_energy(), 1.0, np.full(tk.n, np.nan))
    assert np.all(flow == 0) and np.all(elec == 0)
    np.testing.assert_allclose(new, [1.0 * 0.99, 0.0])


def test_bad_attribute_refused() -> None:
    with pytest.raises(ScenarioError, match="thermal_tanks.loss_coefficient"):
        replace(_tanks(), loss_coefficient=np.array([0.1, 1.5]))


def test_loader_reads_the_tanks() -> None:
    s = load_scenario(f"citylearn:{MINI}")
    schema = json.loads((MINI / "schema.json").read_text())
    tk = s.tanks
    assert tk.names == ("Building_1/dhw", "Building_2/dhw", "Building_3/dhw")
    caps = [schema["buildings"][f"Building_{i}"]["dhw_storage"]["attributes"]["capacity"]
            for i in (1, 2, 3)]  # fmt: skip
    np.testing.assert_allclose(tk.capacity_kwh, caps)
    import pandas as pd

    raw = pd.read_csv(MINI / "Building_1.csv")["dhw_demand"].to_numpy()[:96]
    np.testing.assert_allclose(tk.demand_kwh[:, 0], raw)
    heater = schema["buildings"]["Building_1"]["dhw_device"]["attributes"]
    np.testing.assert_allclose(tk.elec_per_kwh[:, 0], 1 / heater["efficiency"])
    np.testing.assert_allclose(
        tk.device_max_kwh[:, 0], heater["nominal_power"] * heater["efficiency"]
    )
    assert not any("storage" in n and "not used" in n for n in s.notes)
    assert not any("dhw_storage" in n for n in s.notes if "ignored" in n)


@pytest.mark.parametrize(
    ("key", "value"),
    [("loss_coefficient", 1.5), ("capacity", -1.0), ("efficiency", 0.0), ("capacity", "big")],
)
def test_loader_refuses_bad_tank_attribute(tmp_path: Path, key: str, value: object) -> None:
    d = tmp_path / "data"
    shutil.copytree(MINI, d)
    schema = json.loads((d / "schema.json").read_text())
    schema["buildings"]["Building_2"]["dhw_storage"]["attributes"][key] = value
    (d / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(
        ScenarioError, match=rf"buildings\.Building_2\.dhw_storage\.attributes\.{key}"
    ):
        load_scenario(f"citylearn:{d}")


def _run(s, levers):  # type: ignore[no-untyped-def]
    c = Community(s)
    while not c.done:
        c.step(levers(c))
    return c


def test_no_lever_equals_no_tanks() -> None:
    s = load_scenario(f"citylearn:{MINI}")
    with_tanks = _run(s, lambda c: Levers())
    without = _run(replace(s, thermal_tanks=None), lambda c: Levers())
    for key in ("import_kwh", "export_kwh", "grid_cost_ct", "tokens_spent_ct"):
        np.testing.assert_array_equal(with_tanks.results[key], without.results[key])
    assert with_tanks.results["tank_electricity_kwh"].sum() == 0.0


def test_price_rule_shifts_and_keeps_balances() -> None:
    s = load_scenario(f"citylearn:{MINI}")
    names = s.tanks.names
    cheap = float(np.median(s.prices.day_ahead))

    def rule(c: Community) -> Levers:
        low = s.prices.day_ahead[c.t] <= cheap
        return Levers(thermal_setpoints=dict.fromkeys(names, 1.0 if low else -1.0))

    c = _run(s, rule)
    r = c.results
    assert c.max_energy_error < 1e-9
    assert r["tank_kwh"].max() > 0 and r["tank_kwh"].min() < 0  # it did shift heat
    assert np.all(r["tank_energy_kwh"] <= s.tanks.capacity_kwh.sum() + 1e-9)
    # the load served equals the baseline plus the tanks' extra electricity
    base = _run(s, lambda c: Levers())
    np.testing.assert_allclose(
        r["import_kwh"] - r["export_kwh"],
        base.results["import_kwh"] - base.results["export_kwh"] + r["tank_electricity_kwh"],
        atol=1e-9,
    )
    obs = c.observe()
    assert obs.tank_names == names and obs.tank_energy_kwh.shape == (3,)


def test_optimal_with_tanks_costs_no_more_and_is_executed() -> None:
    from energy_agents.coordination.optimal import OptimalStrategy
    from energy_agents.optimize.lp import executable_plan, lp_lower_bound

    s = load_scenario(f"citylearn:{MINI}")
    bare = replace(s, thermal_tanks=None)
    assert lp_lower_bound(s).cost_ct <= lp_lower_bound(bare).cost_ct + 1e-6
    plan = executable_plan(s)
    assert plan.cost_ct <= executable_plan(bare).cost_ct + 1e-6
    strat = OptimalStrategy(s)
    c = _run(s, lambda c: strat.levers(c.t))
    # the simulator executes the plan: same tokens spent, balances hold, tanks within bounds
    assert abs(float(c.results["tokens_spent_ct"].sum()) - plan.cost_ct) < 1e-6 * max(
        1.0, abs(plan.cost_ct)
    )
    assert c.max_energy_error < 1e-9
    assert np.abs(c.results["tank_kwh"]).sum() > 0  # the plan does use the tanks


def test_the_dashboard_record_carries_the_tanks_and_evs_state() -> None:
    """The per-step record (live runner, batch report, dashboard) shows the tanks' state as
    one more series of the SOC chart, in [0, 1], equal to the heat over the capacity."""
    from energy_agents.runner.record import step_record

    s = load_scenario(f"citylearn:{MINI}")
    names = s.tanks.names
    c = Community(s)
    for t in range(12):
        c.step(Levers(thermal_setpoints=dict.fromkeys(names, 1.0 if t < 6 else -1.0)))
        rec = step_record(c, t)
        want = c.tank_energy.sum() / s.tanks.capacity_kwh.sum()
        assert rec["soc"]["tanks"] == pytest.approx(want) and 0.0 <= want <= 1.0
    assert step_record(c, 5)["soc"]["tanks"] > step_record(c, 0)["soc"]["tanks"] - 1e-12
