"""The synthetic default scenario: determinism, plausibility, tariff, speed-critical shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from energy_agents.scenarios import load_scenario
from energy_agents.scenarios import synthetic as syn


@pytest.fixture(scope="module")
def default():
    return load_scenario("synthetic")


def test_default_shape_and_calendar(default):
    s = default
    assert s.n_members == syn.DEFAULT_MEMBERS == 20
    assert s.n_steps == 8760
    assert s.dt_h == 1.0
    assert s.start == "2023-01-01T00:00:00"
    assert s.community_storages.names == ("storage_A", "storage_B")
    assert_allclose(s.community_storages.capacity_kwh, [2.5 * 20, 1.5 * 20])
    assert_allclose(s.community_storages.power_kw, [0.5 * 2.5 * 20, 0.5 * 1.5 * 20])
    assert_allclose(s.flexible_share, 0.15)
    assert s.elasticity == 10.0
    assert {"ghi_w_m2", "temp_air_c"} <= set(s.weather)
    assert s.notes


def test_same_seed_identical_different_seed_differs(default):
    again = load_scenario("synthetic", seed=0)
    assert_array_equal(again.load_kwh, default.load_kwh)
    assert_array_equal(again.pv_kwh, default.pv_kwh)
    assert_array_equal(again.member_batteries.capacity_kwh, default.member_batteries.capacity_kwh)
    other = load_scenario("synthetic", seed=1)
    assert not np.array_equal(other.load_kwh, default.load_kwh)
    assert not np.array_equal(other.pv_kwh, default.pv_kwh)


def test_members_are_not_copies(default):
    load = default.load_kwh
    corr = np.corrcoef(load.T)
    off_diagonal = corr[~np.eye(len(corr), dtype=bool)]
    assert off_diagonal.max() < 0.99


def test_annual_load_within_configured_range(default):
    annual = default.load_kwh.sum(axis=0)
    lo, hi = syn.ANNUAL_LOAD_KWH
    assert np.all((annual >= lo - 1e-6) & (annual <= hi + 1e-6))
    assert annual.std() > 300  # varied, not all the same
    assert np.all(default.load_kwh > 0)


def test_pv_yield_per_kwp_plausible_for_greensboro():
    per_kwp = syn.pv_per_kwp().sum(axis=0)  # kWh/kWp/yr for each orientation
    assert per_kwp.shape == (len(syn.ORIENTATIONS),)
    assert np.all((per_kwp > 1000) & (per_kwp < 1600)), per_kwp
    south = per_kwp[[o[0] for o in syn.ORIENTATIONS].index("south")]
    assert south == per_kwp.max()  # south-facing yields most at 36 N


def test_pv_sizes_and_members_without_pv(default):
    pv = default.pv_kwh
    annual = pv.sum(axis=0)
    assert np.any(annual == 0), "some members have no PV"
    # every member's PV is one orientation's profile scaled by its kWp (0-8 kWp)
    base = syn.pv_per_kwp()
    for i in np.flatnonzero(annual > 0):
        ratios = pv[:, i] @ base / (base * base).sum(axis=0)
        k = int(np.argmax([np.allclose(pv[:, i], r * base[:, j]) for j, r in enumerate(ratios)]))
        assert np.allclose(pv[:, i], ratios[k] * base[:, k])
        assert 0 < ratios[k] <= 8.0 + 1e-9
    assert pv.max() < 8.0  # kWh in one hour from at most 8 kWp


def test_pv_zero_at_night(default):
    dark = (default.weather["ghi_w_m2"] == 0) & (default.weather["dni_w_m2"] == 0)
    assert dark.sum() > 4000
    assert np.all(default.pv_kwh[dark] == 0)
    hours = (default.timestamps().astype("datetime64[h]").astype(int)) % 24
    assert np.all(default.pv_kwh[(hours <= 3) | (hours >= 22)] == 0)
    # summer noon produces, winter midnight does not
    assert default.pv_kwh[hours == 12].sum() > 0


def test_home_batteries(default):
    mb = default.member_batteries
    has = mb.capacity_kwh > 0
    assert 0 < has.sum() < default.n_members
    assert np.all((mb.capacity_kwh[has] >= 5) & (mb.capacity_kwh[has] <= 13.5))
    assert_allclose(mb.power_kw, 0.5 * mb.capacity_kwh)
    assert_allclose(mb.eta_charge, 0.95)
    assert_allclose(mb.eta_discharge, 0.95)


def test_tariff_values_and_order(default):
    p = default.prices
    ts = default.timestamps()
    at = {str(t): i for i, t in enumerate(ts[:48])}
    # 2023-01-01 is a Sunday, 2023-01-02 a Monday
    assert p.day_ahead[at["2023-01-01T18:00:00"]] == syn.MID
    assert p.day_ahead[at["2023-01-02T18:00:00"]] == syn.PEAK
    assert p.day_ahead[at["2023-01-02T03:00:00"]] == syn.OFF_PEAK
    assert p.day_ahead[at["2023-01-02T10:00:00"]] == syn.MID
    assert p.day_ahead[at["2023-01-02T21:00:00"]] == syn.OFF_PEAK
    assert_allclose(p.imbalance_buy, 1.25 * p.day_ahead)
    assert_allclose(p.imbalance_sell, 0.75 * p.day_ahead)
    assert_allclose(p.feed_in, 0.08)
    assert np.all(p.feed_in <= p.imbalance_sell)
    assert np.all(p.imbalance_sell <= p.day_ahead)
    assert np.all(p.day_ahead <= p.imbalance_buy)


def test_options_members_storage_flex_days():
    s = load_scenario(
        "synthetic", members=7, days=3, seed=5, community_storage=False, flexible_share=0.4
    )
    assert s.n_members == 7
    assert s.n_steps == 72
    assert s.community_storages.n == 0
    assert_allclose(s.flexible_share, 0.4)
    assert all(len(v) == 72 for v in s.weather.values())


def test_many_members_vectorized():
    s = syn.build_synthetic(1000, seed=3)
    assert s.load_kwh.shape == (8760, 1000) and s.pv_kwh.shape == (8760, 1000)
    assert s.load_kwh.flags.c_contiguous and s.pv_kwh.flags.c_contiguous
    assert len(set(s.member_names)) == 1000
    assert_allclose(s.community_storages.capacity_kwh, [2500.0, 1500.0])


def test_profile_does_not_leak_warning_filters():
    syn.household_profile.cache_clear()
    before = list(warnings.filters)
    profile = syn.household_profile()
    assert list(warnings.filters) == before
    assert profile.shape == (8760,)
    assert_allclose(profile.sum(), 1.0)


def test_bad_members_refused():
    from energy_agents.sim.params import ScenarioError

    with pytest.raises(ScenarioError, match="members"):
        load_scenario("synthetic", members=0)
    with pytest.raises(ScenarioError, match="flexible_share"):
        load_scenario("synthetic", flexible_share=1.5)


def test_heat_pumps_and_evs_join_the_chosen_homes_only():
    from energy_agents.runner.batch import run_batch
    from energy_agents.scenarios import load_scenario

    base = load_scenario("synthetic", members=12, days=14)
    both = load_scenario("synthetic", members=12, days=14, ev_share=0.5, heat_pump_share=0.5)
    np.testing.assert_array_equal(base.pv_kwh, both.pv_kwh)  # the other draws are unchanged
    extra = (both.load_kwh - base.load_kwh).sum(axis=0)
    assert 0 < int((extra > 0).sum()) < 12 and np.all(extra >= 0)
    heated = [n for n in both.notes if n.startswith("heat pumps:")]
    assert heated and "no thermal storage" in heated[0]
    assert 0 < both.evs.n < 12 and both.evs.arrival.sum() >= both.evs.n * 7  # most evenings
    k = run_batch(both, "weighted").kpis
    assert k["ev_short_departures"] == 0 and k["ev_infeasible_departures"] == 0
    assert k["max_energy_balance_error_kwh"] < 1e-9


def test_synthetic_heat_pump_seasonal_performance_is_plausible():
    from energy_agents.scenarios.synthetic import weather_history
    from energy_agents.scenarios.synthetic_heat import heat_pump_kwh

    kwh, heat = heat_pump_kwh(
        np.random.default_rng(0), np.arange(20), weather_history()["temp_air_c"], 20
    )
    spf = heat / kwh.sum()
    assert 2.5 < spf < 4.0  # field trials of air-source heat pumps: about 2.8-3.2


def test_device_shares_refused_for_datasets():
    from energy_agents.scenarios import load_scenario
    from energy_agents.sim.params import ScenarioError

    with pytest.raises(ScenarioError, match="heat_pump_share: only for the synthetic"):
        load_scenario("citylearn:tests/fixtures/citylearn_mini", heat_pump_share=0.5)
    with pytest.raises(ScenarioError, match="ev_share: must be within"):
        load_scenario("synthetic", ev_share=1.5)
