"""Contract of every advisor in the registry: deterministic, pure, within physical limits,
blind to the future."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from energy_agents.advisors.registry import ADVISORS, FORECASTER, recommend_all
from energy_agents.advisors.types import AGENT_NAMES, Recommendation
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.server.core.validation import check_levers
from energy_agents.sim import P2P_PRICE_RULES, Community, Levers, Observation, Scenario
from energy_agents.sim.params import Prices


def _observe_at(scenario: Scenario, step: int) -> Observation:
    c = Community(scenario)
    for t in range(step):
        c.step(
            Levers(storage_setpoints=dict.fromkeys(c.storage_names, 0.2 if t % 24 < 6 else -0.3))
        )
    return c.observe()


def _advise(name: str, obs: Observation) -> Recommendation:
    forecast = None if name == FORECASTER else ADVISORS[FORECASTER](obs, None).data
    return ADVISORS[name](obs, forecast)


@pytest.fixture(scope="module")
def observations() -> list[Observation]:
    s = tiny_scenario(seed=7, n_members=6, n_steps=24 * 17)
    return [_observe_at(s, t) for t in (0, 1, 5, 30, 24 * 15 + 17)]


def test_every_agent_is_registered():
    assert set(ADVISORS) == set(AGENT_NAMES)


@pytest.mark.parametrize("name", sorted(ADVISORS))
def test_deterministic_and_pure(name, observations):
    for obs in observations:
        before = json.dumps(obs.to_dict(), sort_keys=True)
        a = _advise(name, obs)
        b = _advise(name, obs)
        assert json.dumps(obs.to_dict(), sort_keys=True) == before  # no mutation
        assert a.to_dict() == b.to_dict()  # same observation -> same recommendation
        assert a.agent_name == name and a.step == obs.step
        # JSON round trip: what a live agent posts is what the batch advisor returned.
        again = Recommendation.from_dict(json.loads(json.dumps(a.to_dict())))
        assert again.to_dict() == a.to_dict()


@pytest.mark.parametrize("name", sorted(ADVISORS))
def test_values_within_physical_limits(name, observations):
    for obs in observations:
        rec = _advise(name, obs)
        assert 0.0 <= rec.confidence <= 1.0
        assert math.isfinite(rec.expected_saving_ct)
        assert isinstance(rec.message, str) and rec.message
        lv = rec.levers
        for storage, sp in dict(lv.get("storage_setpoints", {})).items():
            assert storage in obs.storage_names
            assert -1.0 <= sp <= 1.0
        if "burn_rate_ct_per_kwh" in lv:
            assert 0.0 <= lv["burn_rate_ct_per_kwh"] <= obs.max_burn_rate_ct_per_kwh
        if "procurement_kwh" in lv:
            assert lv["procurement_kwh"] >= 0.0 and math.isfinite(lv["procurement_kwh"])
        if "p2p_price_rule" in lv:
            assert lv["p2p_price_rule"] in P2P_PRICE_RULES
        if "p2p_enabled" in lv:
            assert isinstance(lv["p2p_enabled"], bool)
        if "storage_follow" in lv:
            assert isinstance(lv["storage_follow"], bool)
        # The levers parse as the simulator's levers, and pass the server's door (a live agent
        # posting them must never be refused).
        Levers.from_dict(lv)
        check_levers(lv, "levers")


def _future_twin(s: Scenario, t: int, seed: int) -> Scenario:
    """The same community, identical up to step t, different afterwards (load, PV, prices)."""
    rng = np.random.default_rng(seed)
    load, pv = s.load_kwh.copy(), s.pv_kwh.copy()
    load[t:] *= rng.uniform(0.2, 3.0, load[t:].shape)
    pv[t:] *= rng.uniform(0.0, 2.0, pv[t:].shape)
    p = s.prices
    da = p.day_ahead.copy()
    da[t + s.steps_per_day :] *= 2.0  # beyond the day-ahead window only
    prices = Prices(
        da, np.maximum(p.imbalance_buy, da), np.minimum(p.imbalance_sell, da), p.feed_in
    )
    return Scenario(
        name=s.name,
        start=s.start,
        dt_h=s.dt_h,
        member_names=s.member_names,
        load_kwh=load,
        pv_kwh=pv,
        prices=prices,
        member_batteries=s.member_batteries,
        community_storages=s.community_storages,
        flexible_share=s.flexible_share,
        elasticity=s.elasticity,
        mint_rate_ct_per_kwh=s.mint_rate_ct_per_kwh,
        max_burn_rate_ct_per_kwh=s.max_burn_rate_ct_per_kwh,
    )


@pytest.mark.parametrize("t", [3, 24 * 15 + 5])
def test_no_access_to_future_data(t):
    s = tiny_scenario(seed=3, n_members=5, n_steps=24 * 17)
    twin = _future_twin(s, t, seed=t)
    a = recommend_all(_observe_at(s, t))
    b = recommend_all(_observe_at(twin, t))
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]


def test_forecaster_beats_seasonal_naive_on_tiny():
    from energy_agents.advisors import demand_forecaster as df

    s = tiny_scenario(seed=11, n_members=10, n_steps=24 * 30)
    load, pv = s.load_kwh.sum(axis=1), s.pv_kwh.sum(axis=1)
    ours, naive = [], []
    for t in range(24 * 14, 24 * 29, 5):
        lo = t - 24 * 14
        lf, pf = df.forecast(load[lo:t], pv[lo:t], 24, 24)
        actual = load[t : t + 24] - pv[t : t + 24]
        ours.append(np.abs(actual - (lf - pf)).mean())
        sn = df.seasonal_naive(load[lo:t], 24, 24) - df.seasonal_naive(pv[lo:t], 24, 24)
        naive.append(np.abs(actual - sn).mean())
    assert np.mean(ours) < np.mean(naive)


def test_forecaster_reports_running_error_and_24h():
    s = tiny_scenario(seed=2, n_members=4, n_steps=24 * 6)
    rec = ADVISORS[FORECASTER](_observe_at(s, 24 * 4), None)
    assert len(rec.data["load_kwh"]) == 24 and len(rec.data["pv_kwh"]) == 24
    assert rec.data["running_mae_kwh"] > 0
    assert "deficit" in rec.message or "surplus" in rec.message


def test_newsvendor_quantile():
    from energy_agents.advisors.demand_forecaster import newsvendor_tau, procurement_kwh

    assert newsvendor_tau(1.0, 1.25, 0.75) == pytest.approx(0.5)
    assert newsvendor_tau(1.0, 1.5, 0.9) == pytest.approx(0.5 / 0.6)
    errors = np.arange(-5.0, 6.0)
    assert procurement_kwh(10.0, errors, 0.5) == pytest.approx(10.0)
    assert procurement_kwh(10.0, errors, 0.9) == pytest.approx(14.0)
    assert procurement_kwh(1.0, errors, 0.0) == 0.0


def test_token_economist_burn_defers_fully_and_only_when_cheaper_later():
    from energy_agents.advisors.token_economist import Prices, best_release

    flex = np.array([1.0, 1.0, 1.0, 1.0])
    base = np.array([2.0, 2.0, 2.0, 2.0])
    buy = np.array([0.45, 0.45, 0.20, 0.45])
    sell = np.full(4, 0.08)
    zero = np.zeros(4)
    r, saving = best_release(flex, base, 0.0, Prices(buy, sell, zero), 1.0)
    assert r == 2 and saving == pytest.approx(2 * 0.25)
    rising = Prices(np.array([0.2, 0.3, 0.45, 0.45]), sell, zero)
    r, saving = best_release(flex, base, 0.0, rising, 1.0)
    assert r == 0 and saving == 0.0


def test_token_economist_release_respects_the_connection_limit_and_the_peak():
    """Releasing two steps of flexible load at the cheap step would exceed a 4.5 kWh limit
    (5 kWh): with an overrun of 2 CT/kWh it costs more than the saving (2 x 0.25), so it does not defer;
    a demand charge on a new peak above 4 kWh does the same."""
    from energy_agents.advisors.token_economist import Prices, best_release

    flex, base = np.ones(4), np.full(4, 2.0)
    buy, sell, zero = np.array([0.45, 0.45, 0.20, 0.45]), np.full(4, 0.08), np.zeros(4)
    limited = Prices(buy, sell, zero, limit_kwh=4.5, overrun=2.0)
    r, _ = best_release(flex, base, 0.0, limited, 1.0)
    assert r == 0
    charged = Prices(buy, sell, zero, demand_charge_per_kwh=1.0, peak_so_far_kwh=3.0)
    r, _ = best_release(flex, base, 0.0, charged, 1.0)
    assert r == 0


def test_storage_plan_solves_after_a_multithreaded_highs_run():
    """A HiGHS solve elsewhere in the process must not make the advisor's LP fail."""
    import highspy

    from energy_agents.advisors import storage_optimizer

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 2)
    h.addVar(0.0, 1.0)
    h.changeColCost(0, 1.0)
    h.run()
    s = tiny_scenario(seed=1, n_members=4, n_steps=48)
    obs = _observe_at(s, 20)
    rec = storage_optimizer.advise(obs, ADVISORS[FORECASTER](obs, None).data)
    assert rec.data["lp_status"] == "optimal"
