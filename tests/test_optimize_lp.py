"""The perfect-foresight LP: hand-computed optima, the lower-bound property, exact execution."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from energy_agents.coordination.optimal import OptimalStrategy
from energy_agents.coordination.registry import STRATEGIES, make_strategy
from energy_agents.optimize import lp
from energy_agents.optimize.lp import executable_plan, lp_lower_bound, relaxation_is_tight
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim.community import Community
from energy_agents.sim.levers import P2P_PRICE_RULES, Levers
from energy_agents.sim.params import Prices, Scenario, StorageBank


def _scenario(
    load: list[float],
    day_ahead: list[float],
    *,
    dt_h: float = 1.0,
    battery: tuple[float, float, float] | None = None,  # capacity, power, efficiency
    flexible_share: float = 0.0,
    pv: list[float] | None = None,
) -> Scenario:
    n = len(load)
    da = np.asarray(day_ahead, dtype=float)
    cap, power, eta = battery if battery is not None else (0.0, 0.0, 1.0)
    return Scenario(
        name="hand",
        start="2024-01-01T00:00:00",
        dt_h=dt_h,
        member_names=("m0",),
        load_kwh=np.asarray(load, dtype=float)[:, None],
        pv_kwh=np.zeros((n, 1)) if pv is None else np.asarray(pv, dtype=float)[:, None],
        prices=Prices(da, 2 * da, 0.5 * da, np.zeros(n)),
        member_batteries=StorageBank.uniform(("m0",), cap, power, eta, soc_init=0.0),
        community_storages=StorageBank.empty(),
        flexible_share=np.array([flexible_share]),
    )


def _run(scenario: Scenario, strategy: object) -> float:
    community = Community(scenario)
    state: dict = {}
    while not community.done:
        decision, state = strategy.decide(community.observe(), [], state)  # type: ignore[attr-defined]
        community.step(decision.parameters)
    return float(community.results["tokens_spent_ct"].sum())


def _tight(seed: int, n_members: int, n_steps: int) -> Scenario:
    """A tiny scenario whose relaxation is exact: no flexible load, one C-rate for all homes."""
    s = tiny_scenario(seed, n_members, n_steps, flexible_share=0.0)
    mb = dataclasses.replace(s.member_batteries, power_kw=0.5 * s.member_batteries.capacity_kwh)
    return dataclasses.replace(s, member_batteries=mb)


# ------------------------------------------------------------------ hand-computed optima
def test_battery_arbitrage_known_cost() -> None:
    # Load 1 kWh in each of two steps at 10 then 30 CT/kWh; an empty 2 kWh battery with 0.9
    # efficiency each way. Serving step 1 from the battery needs 1/0.81 kWh bought at step 0,
    # which costs 10/0.81 = 12.35 < 30: the optimum is 10 + 10/0.81.
    s = _scenario([1.0, 1.0], [10.0, 30.0], battery=(2.0, 2.0, 0.9))
    expected = 10.0 + 10.0 / 0.81
    bound = lp_lower_bound(s)
    assert_allclose(bound.cost_ct, expected, rtol=1e-9)
    assert_allclose(bound.import_kwh, [1.0 + 1.0 / 0.81, 0.0], atol=1e-9)
    assert_allclose(bound.storage_flow_kwh["members"], [1.0 / 0.81, -1.0], atol=1e-9)
    # The executed plan reproduces it in the simulator.
    assert_allclose(_run(s, OptimalStrategy(s)), expected, rtol=1e-9)


def test_battery_not_used_when_it_does_not_pay() -> None:
    # 12 / 0.81 = 14.8 > 14: buying at the second step directly is cheaper.
    s = _scenario([1.0, 1.0], [12.0, 14.0], battery=(2.0, 2.0, 0.9))
    assert_allclose(lp_lower_bound(s).cost_ct, 26.0, rtol=1e-9)


def test_power_limit_binds() -> None:
    # 3 kWh wanted at the expensive step, but the battery moves at most 1 kWh per step.
    s = _scenario([0.0, 3.0], [10.0, 30.0], battery=(5.0, 1.0, 1.0))
    assert_allclose(lp_lower_bound(s).cost_ct, 10.0 + 2 * 30.0, rtol=1e-9)


def test_load_shifting_within_the_day_only() -> None:
    # dt = 12 h: two steps per day. Half the load is flexible. Day 0 costs 30 then 20: defer
    # 0.5 kWh from step 0 to step 1 (saves 5). Step 1 ends day 0, so nothing moves to the
    # cheap step 2 of day 1; step 2 is cheaper than step 3, so nothing moves in day 1.
    s = _scenario([1.0] * 4, [30.0, 20.0, 10.0, 20.0], dt_h=12.0, flexible_share=0.5)
    bound = lp_lower_bound(s)
    assert_allclose(bound.cost_ct, 30 * 0.5 + 20 * 1.5 + 10 + 20, rtol=1e-9)
    assert_allclose(bound.deferred_kwh - bound.released_kwh, [0.5, -0.5, 0, 0], atol=1e-9)
    # The executable plan shifts nothing.
    assert_allclose(executable_plan(s).cost_ct, 80.0, rtol=1e-9)


def test_export_earns_feed_in_and_procurement_matches_import() -> None:
    s = _scenario([1.0, 0.0], [10.0, 10.0], pv=[0.0, 2.0])
    s = dataclasses.replace(
        s,
        prices=Prices(
            s.prices.day_ahead,
            s.prices.imbalance_buy,
            s.prices.imbalance_sell,
            np.array([2.0, 3.0]),
        ),
    )
    bound = lp_lower_bound(s)
    assert_allclose(bound.cost_ct, 10.0 - 3.0 * 2.0, rtol=1e-9)
    assert_allclose(bound.procurement_kwh, bound.import_kwh, atol=1e-9)
    assert_allclose(bound.shortfall_kwh + bound.excess_kwh, 0.0, atol=1e-9)


# ------------------------------------------------------------------ the bound property
def _random_levers(rng: np.random.Generator, scenario: Scenario) -> Levers:
    return Levers(
        burn_rate_ct_per_kwh=float(rng.choice([0.0, rng.uniform(0, 1.5)])),
        procurement_kwh=float(rng.uniform(0, 5.0)),
        storage_setpoints={n: float(rng.uniform(-1.2, 1.2)) for n in scenario.storage_names},
        storage_follow=bool(rng.random() < 0.5),
        p2p_enabled=bool(rng.random() < 0.5),
        p2p_price_rule=str(rng.choice(P2P_PRICE_RULES)),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_members=st.integers(1, 6),
    n_steps=st.integers(24, 72),
    flexible_share=st.sampled_from([0.0, 0.2, 0.6]),
)
def test_bound_below_every_strategy_and_random_levers(
    seed: int, n_members: int, n_steps: int, flexible_share: float
) -> None:
    s = tiny_scenario(seed, n_members, n_steps, flexible_share=flexible_share)
    bound = lp_lower_bound(s).cost_ct
    tol = 1e-6 * (1.0 + abs(bound))
    for name in sorted(STRATEGIES):  # every registered strategy, present and future
        assert bound <= run_batch(s, name).kpis["tokens_spent_ct"] + tol, name
    rng = np.random.default_rng(seed)
    for _ in range(3):
        community = Community(s)
        while not community.done:
            community.step(_random_levers(rng, s))
        assert bound <= float(community.results["tokens_spent_ct"].sum()) + tol


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), n_members=st.integers(1, 6), n_steps=st.integers(24, 72))
def test_executed_plan_equals_bound_when_tight(seed: int, n_members: int, n_steps: int) -> None:
    s = _tight(seed, n_members, n_steps)
    strategy = OptimalStrategy(s)
    assert strategy.tight and relaxation_is_tight(s)
    executed = _run(s, strategy)
    assert_allclose(executed, strategy.bound.cost_ct, rtol=1e-7, atol=1e-6)
    # (tight: the strategy takes the plan's optimum as the bound; the bound LP agrees)
    assert_allclose(lp_lower_bound(s).cost_ct, strategy.bound.cost_ct, rtol=1e-7, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 3])
def test_battery_groups_beat_one_shared_setpoint(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several battery models, no flexible load: each model its own storage and setpoint
    (``battery_setpoints``) executes exactly, and costs no more than one shared setpoint."""
    s = tiny_scenario(seed, 6, 48, flexible_share=0.0)  # C-rates differ: one group per battery
    assert len(lp.battery_groups(s.member_batteries)) > 1
    strategy = OptimalStrategy(s)
    assert strategy.battery_setpoints and not strategy.setpoints.get("members")
    grouped = _run(s, strategy)
    assert_allclose(grouped, strategy.plan.cost_ct, rtol=1e-7, atol=1e-6)
    # The bound has a storage per group too, so the run reaches it.
    assert strategy.tight
    assert_allclose(grouped, lp_lower_bound(s).cost_ct, rtol=1e-7, atol=1e-6)
    monkeypatch.setattr(lp, "MAX_EXACT_GROUPS", 0)  # the shared setpoint of every battery
    shared = OptimalStrategy(s)
    assert not shared.battery_setpoints
    assert_allclose(_run(s, shared), shared.plan.cost_ct, rtol=1e-7, atol=1e-6)
    # (here strictly cheaper: 13.31 against 14.22 CT, 5.70 against 6.97)
    assert strategy.bound.cost_ct - 1e-6 <= grouped < shared.plan.cost_ct - 0.1


@pytest.mark.parametrize("seed", [0, 3])
def test_executed_plan_costs_its_lp_objective(seed: int) -> None:
    s = tiny_scenario(seed, 6, 48)  # heterogeneous home batteries, flexible load
    strategy = OptimalStrategy(s)
    assert not strategy.tight
    executed = _run(s, strategy)
    assert_allclose(executed, strategy.plan.cost_ct, rtol=1e-7, atol=1e-6)
    assert strategy.bound.cost_ct <= executed + 1e-6


# ------------------------------------------------------------------ strategy plumbing
def test_optimal_refuses_without_scenario() -> None:
    with pytest.raises(ValueError, match="perfect foresight"):
        make_strategy("optimal", None)


def test_registry_and_step0_data() -> None:
    assert {"optimal", "mpc"} <= set(STRATEGIES)
    s = tiny_scenario(1, 3, 24)
    run = run_batch(s, "optimal", keep_decisions=True)
    data = run.decisions[0].data
    assert_allclose(data["lp_bound_ct"], lp_lower_bound(s).cost_ct, rtol=1e-9)
    assert data["lp_solve_s"] >= 0
    assert all(not d.data for d in run.decisions[1:])
    lv = run.decisions[5].parameters
    assert lv.p2p_enabled and not lv.storage_follow and lv.burn_rate_ct_per_kwh == 0


def test_deterministic() -> None:
    s = tiny_scenario(7, 5, 48)
    a, b = lp_lower_bound(s), lp_lower_bound(s)
    assert a.cost_ct == b.cost_ct
    assert_allclose(a.import_kwh, b.import_kwh, atol=0)
    for name in ("optimal", "mpc"):
        x = run_batch(s, name).kpis["tokens_spent_ct"]
        y = run_batch(s, name).kpis["tokens_spent_ct"]
        assert x == y
