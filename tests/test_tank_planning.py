"""The thermal tanks driven by forecasts: the observation's demand history, the forecaster's
thermal demand, the storage optimizer's and ``mpc``'s tank plans (``weighted``, ``mpc``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from energy_agents.advisors import demand_forecaster, storage_optimizer
from energy_agents.advisors.demand_forecaster import thermal_forecast
from energy_agents.optimize.tank_lp import observed_tank_setpoints, observed_tank_storages
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario
from energy_agents.server.core.validation import validate_observation
from energy_agents.sim import thermal_storage as tm
from energy_agents.sim.community import Community
from energy_agents.sim.levers import Levers
from energy_agents.sim.observation import TANK_HISTORY_DAYS, Observation

MINI = Path(__file__).parent / "fixtures" / "citylearn_2023_mini"


def test_thermal_forecast_known_values() -> None:
    spd = 4
    # two tanks, two days and one step of history (9 steps), oldest first
    hist = np.array(
        [[0, 1], [2, 0], [4, 0], [0, 0], [1, 3], [3, 0], [5, 0], [0, 2], [9, 9]], dtype=float
    )
    f = thermal_forecast(hist, spd, 3)
    assert f.shape == (2, 3)
    # step 9 = day 2, step 1 of the day: yesterday (step 5, weight 1) and two days back
    # (step 1, weight 0.8); step 10: steps 6 and 2; step 11: step 7 and 3
    np.testing.assert_allclose(f[0], [(3 + 0.8 * 2) / 1.8, (5 + 0.8 * 4) / 1.8, 0.0])
    np.testing.assert_allclose(f[1], [0.0, 0.0, 2 / 1.8])
    # a week back weighs 0.8 ** 6 + 1 (the weekly bonus), the last day 1
    week = np.zeros((7 * spd, 1))
    week[0, 0], week[6 * spd, 0] = 7.0, 1.0
    w7 = 0.8**6 + 1.0
    total = sum(0.8**d for d in range(6)) + w7
    assert thermal_forecast(week, spd, 1)[0, 0] == pytest.approx((1.0 + 7.0 * w7) / total)
    # under a day: the mean of what there is; no history: 0
    np.testing.assert_allclose(thermal_forecast(np.array([[1.0], [3.0]]), spd, 2), [[2.0, 2.0]])
    np.testing.assert_array_equal(thermal_forecast(np.zeros((0, 2)), spd, 2), np.zeros((2, 2)))


def test_the_observation_carries_the_tanks_demand_history() -> None:
    s = load_scenario(f"citylearn:{MINI}")
    short = replace(s, dt_h=6.0)  # 6 h steps, 4 a day: the week-long window is reached
    for scen, steps in ((s, 30), (short, 40)):
        c = Community(scen)
        for _ in range(steps):
            c.step(Levers())
        obs = c.observe()
        lo = max(0, steps - TANK_HISTORY_DAYS * scen.steps_per_day)
        np.testing.assert_array_equal(obs.hist_tank_demand_kwh, scen.tanks.demand_kwh[lo:steps])
        validate_observation(obs.to_dict())  # what the server's door accepts
        back = Observation.from_dict(obs.to_dict())
        np.testing.assert_array_equal(back.hist_tank_demand_kwh, obs.hist_tank_demand_kwh)
    assert Observation.from_dict(Community(s).observe().to_dict()).hist_tank_demand_kwh.shape == (
        0,
        3,
    )
    rec = demand_forecaster.advise(obs)
    ahead = rec.data["tank_demand_kwh"]
    assert set(ahead) == set(s.tanks.names)
    assert all(len(v) == 4 and min(v) >= 0 for v in ahead.values())


def test_the_tank_lp_of_an_observation() -> None:
    s = load_scenario(f"citylearn:{MINI}")
    c = Community(s)
    for _ in range(30):
        c.step(Levers())
    obs = c.observe()
    demand = np.array([[0.5, 0.0, 1.0]] * 3)
    sts = observed_tank_storages(obs, demand)
    assert [st.key for st in sts] == [f"tank:{n}" for n in s.tanks.names]
    cop = obs.tank_cop
    for k, st in enumerate(sts):
        np.testing.assert_allclose(st.discharge_cap_kwh, demand[k] / cop[k])  # electricity
        tr = st.tracks[0]
        assert tr.hi == pytest.approx(s.tanks.capacity_kwh[k])
        assert tr.retention == pytest.approx(1 - s.tanks.loss_coefficient[k] * s.dt_h)
    name = s.tanks.names[0]
    cap = float(s.tanks.capacity_kwh[0])
    sp = observed_tank_setpoints(obs, {f"tank:{name}": 0.1, f"tank:{s.tanks.names[1]}": -0.01})
    assert sp[name] == pytest.approx(0.1 * cop[0] / cap)  # heat as a share of C per hour
    assert sp[s.tanks.names[1]] == -1.0  # a planned discharge serves the real demand
    assert s.tanks.names[2] not in sp


def test_the_storage_optimizer_plans_the_tanks_on_the_forecast() -> None:
    """No forecast demand: no heat is worth storing (a charge only loses); the forecaster's
    demand ahead in dearer hours: the plan pre-charges at most what those hours take."""
    s = load_scenario(f"citylearn:{MINI}")
    c = Community(s)
    prices = s.prices.day_ahead
    dear = int(np.flatnonzero(prices > prices.min() * 1.5)[0])  # the first dear hour
    for _ in range(dear - 1):
        c.step(Levers())
    obs = c.observe()
    names = s.tanks.names
    h = max(1, min(obs.steps_per_day, obs.n_steps - obs.step))
    zero = {"tank_demand_kwh": {n: [0.0] * h for n in names}}
    rec = storage_optimizer.advise(obs, zero)
    assert all(v <= 1e-9 for v in rec.levers["thermal_setpoints"].values())
    want = [0.0] * h
    want[1] = 0.4  # 0.4 kWh_th in the dear hour after the next, nothing else
    rec = storage_optimizer.advise(obs, {"tank_demand_kwh": {n: want for n in names}})
    sp = rec.levers["thermal_setpoints"]
    for k, n in enumerate(names):
        heat = sp[n] * float(s.tanks.capacity_kwh[k]) * s.dt_h
        root = np.sqrt(s.tanks.efficiency[k])
        # enough for the hour's 0.4 kWh_th after one hour's loss, never more
        need = 0.4 / root / (1 - s.tanks.loss_coefficient[k] * s.dt_h)
        have = float(obs.tank_energy_kwh[k]) * (1 - s.tanks.loss_coefficient[k] * s.dt_h)
        assert heat * root == pytest.approx(max(need - have, 0.0), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("strategy", ["weighted", "mpc"])
def test_strategies_drive_the_tanks_within_bounds_and_balance(strategy: str) -> None:
    """The tanks' heat the run reports is the tank physics replayed, tank by tank, on the
    setpoints the strategy decided: every step's balance, the bounds, the demand served."""
    s = load_scenario(f"citylearn:{MINI}")
    run = run_batch(s, strategy, keep_decisions=True)
    c, r = run.community, run.community.results
    tk = s.tanks
    root = np.sqrt(tk.efficiency)
    e = tk.initial_energy()
    for t, decision in enumerate(run.decisions):
        given = decision.parameters.thermal_setpoints
        sp = np.array([given.get(n, np.nan) for n in tk.names])
        assert np.all(np.isnan(sp) | ((sp >= -1) & (sp <= 1)))
        e0 = e * (1 - tk.loss_coefficient * s.dt_h)
        new, flow, elec = tm.step(tk, t, e, s.dt_h, sp)
        np.testing.assert_allclose(new, e0 + np.where(flow > 0, flow * root, flow / root))
        assert np.all(new >= 0) and np.all(new <= tk.capacity_kwh + 1e-12)
        assert np.all(tk.demand_kwh[t] + flow >= -1e-12)  # the demand is served
        assert r["tank_kwh"][t] == pytest.approx(flow.sum(), abs=1e-12)
        assert r["tank_electricity_kwh"][t] == pytest.approx(
            (flow * tk.elec_per_kwh[t]).sum(), abs=1e-12
        )
        e = new
    np.testing.assert_allclose(c.tank_energy, e, atol=1e-12)
    assert np.abs(r["tank_kwh"]).sum() > 0  # the strategy does drive the tanks
    assert c.max_energy_error < 1e-9  # the electric balances hold with the tanks' electricity
