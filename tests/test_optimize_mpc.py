"""The rolling-horizon ``mpc`` strategy: no peeking, forecaster input, live mode, plan sanity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

from energy_agents.advisors.registry import ADVISORS
from energy_agents.advisors.types import Recommendation
from energy_agents.coordination.mpc import MPCStrategy
from energy_agents.coordination.registry import make_strategy
from energy_agents.optimize.lp import lp_lower_bound
from energy_agents.optimize.rolling import seasonal_forecast
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim.community import Community
from energy_agents.sim.params import Prices


def _decisions(scenario, strategy, n):  # type: ignore[no-untyped-def]
    community = Community(scenario)
    state: dict = {}
    out = []
    for _ in range(n):
        decision, state = strategy.decide(community.observe(), [], state)
        out.append(decision.parameters.to_dict())
        community.step(decision.parameters)
    return out


def test_no_peeking_future_changes_do_not_change_decisions() -> None:
    s = tiny_scenario(2, 4, 96)
    cut = 40
    load, pv = s.load_kwh.copy(), s.pv_kwh.copy()
    load[cut:] *= 3.0
    pv[cut:] = 0.0
    other = dataclasses.replace(s, load_kwh=load, pv_kwh=pv)
    a = _decisions(s, MPCStrategy(s), cut)
    b = _decisions(other, MPCStrategy(other), cut)
    assert a == b


def test_uses_forecaster_recommendation_when_given() -> None:
    s = tiny_scenario(3, 4, 72)
    community = Community(s)
    strategy = MPCStrategy(s)
    for _ in range(30):
        community.step(strategy.decide(community.observe(), [], {})[0].parameters)
    obs = community.observe()
    seasonal, _ = strategy.decide(obs, [], {})
    assert seasonal.data["forecast"] == "seasonal"
    assert seasonal.missing == ("demand_forecaster",)
    rec = ADVISORS["demand_forecaster"](obs, None)
    used, _ = strategy.decide(obs, [rec], {})
    assert used.data["forecast"] == "demand_forecaster"
    assert used.followed == ("demand_forecaster",)
    # A forecast of a large deficit raises the planned import.
    big = Recommendation(
        "demand_forecaster", obs.step, "", data={"load_kwh": [50.0] * 24, "pv_kwh": [0.0] * 24}
    )
    high, _ = strategy.decide(obs, [big], {})
    assert high.parameters.procurement_kwh > used.parameters.procurement_kwh


def test_live_mode_without_scenario_matches_scenario_storages() -> None:
    # Without a scenario the storages come from the observation; with uniform efficiencies and
    # SOC bounds (as in tiny scenarios) the plan is the same.
    s = tiny_scenario(4, 5, 48)
    a = _decisions(s, MPCStrategy(s), 30)
    b = _decisions(s, MPCStrategy(None), 30)
    for x, y in zip(a, b, strict=True):
        assert_allclose(x["procurement_kwh"], y["procurement_kwh"], rtol=1e-6, atol=1e-6)


def test_registered_and_beats_no_control() -> None:
    s = tiny_scenario(5, 6, 24 * 7, flexible_share=0.0)
    assert make_strategy("mpc", s).name == "mpc"
    none = run_batch(s, "none").kpis["tokens_spent_ct"]
    mpc = run_batch(s, "mpc").kpis["tokens_spent_ct"]
    bound = lp_lower_bound(s).cost_ct
    assert bound <= mpc < none


@pytest.mark.parametrize("follow", [True, False])
def test_perfect_forecast_without_follow_tracks_the_plan(follow: bool) -> None:
    # Flat prices except a peak, perfect forecasts: the first-step plan is executable.
    s = tiny_scenario(6, 3, 48, flexible_share=0.0)
    da = np.where((np.arange(48) % 24) >= 17, 0.5, 0.2)
    s = dataclasses.replace(s, prices=Prices(da, da * 1.2, da * 0.8, np.full(48, 0.05)))
    strategy = MPCStrategy(s, follow=follow)
    community = Community(s)
    while not community.done:
        obs = community.observe()
        t = obs.step
        rec = Recommendation(
            "demand_forecaster",
            t,
            "",
            data={
                "load_kwh": s.load_kwh[t : t + 24].sum(axis=1).tolist(),
                "pv_kwh": s.pv_kwh[t : t + 24].sum(axis=1).tolist(),
            },
        )
        community.step(strategy.decide(obs, [rec], {})[0].parameters)
    cost = float(community.results["tokens_spent_ct"].sum())
    assert lp_lower_bound(s).cost_ct <= cost + 1e-6
    if not follow:  # executed as planned: no imbalance
        assert_allclose(community.results["shortfall_kwh"].sum(), 0.0, atol=1e-6)


def test_seasonal_forecast() -> None:
    hist = np.tile(np.arange(24, dtype=float), 3)
    assert_allclose(seasonal_forecast(hist, 24, 30), np.r_[np.arange(24.0), np.arange(6.0)])
    assert_allclose(seasonal_forecast(np.array([2.0, 3.0]), 24, 3), [3.0, 3.0, 3.0])
    assert_allclose(seasonal_forecast(np.zeros(0), 24, 2), [0.0, 0.0])
