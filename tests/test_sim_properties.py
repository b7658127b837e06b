"""Physical invariants of the community model over random scenarios and random decisions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import MEMBER_BATTERIES, P2P_PRICE_RULES, Community, Levers

TOL = 1e-9


@st.composite
def levers(draw, names):
    return Levers(
        burn_rate_ct_per_kwh=draw(st.floats(-0.5, 2.0) | st.just(float("nan"))),
        procurement_kwh=draw(st.floats(-5, 30)),
        storage_setpoints={n: draw(st.floats(-1.5, 1.5)) for n in names},
        storage_follow=draw(st.booleans()),
        p2p_enabled=draw(st.booleans()),
        home_batteries_pooled=draw(st.booleans()),
        p2p_price_rule=draw(st.sampled_from((*P2P_PRICE_RULES, "bogus"))),
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_members=st.integers(1, 6),
    n_steps=st.integers(1, 60),
    data=st.data(),
)
def test_invariants_hold_for_any_decisions(seed, n_members, n_steps, data):
    scenario = tiny_scenario(seed=seed, n_members=n_members, n_steps=n_steps)
    c = Community(scenario)
    mb, cs = scenario.member_batteries, scenario.community_storages
    dt = scenario.dt_h
    demand_total = 0.0
    served_total = 0.0
    while not c.done:
        t = c.t
        before_member, before_comm = c.member_energy.copy(), c.community_energy.copy()
        res = c.step(data.draw(levers(scenario.storage_names)))
        # Energy balance per member: served + charge - pv == P2P in - P2P out + grid-side need.
        lhs = res.served_kwh + res.battery_kwh - scenario.pv_kwh[t]
        rhs = (
            res.p2p_bought_kwh
            - res.p2p_sold_kwh
            + res.residual_deficit_kwh
            - res.residual_surplus_kwh
        )
        np.testing.assert_allclose(lhs, rhs, atol=TOL)
        # ... and at the community meter.
        need = (
            res.residual_deficit_kwh.sum()
            - res.residual_surplus_kwh.sum()
            + res.community_storage_kwh.sum()
        )
        assert abs((res.import_kwh - res.export_kwh) - need) < 1e-8
        assert res.import_kwh >= 0 and res.export_kwh >= 0
        # Storage: power within rating, energy within SOC bounds, and the stored energy moved
        # by exactly the efficiency-weighted flow.
        for bank, before, after, flow in (
            (mb, before_member, c.member_energy, res.battery_kwh),
            (cs, before_comm, c.community_energy, res.community_storage_kwh),
        ):
            assert np.all(np.abs(flow) <= bank.power_kw * dt + TOL)
            assert np.all(after >= bank.soc_min * bank.capacity_kwh - TOL)
            assert np.all(after <= bank.soc_max * bank.capacity_kwh + TOL)
            expected = before + np.where(
                flow > 0, flow * bank.eta_charge, flow / bank.eta_discharge
            )
            np.testing.assert_allclose(after, expected, atol=1e-7)
        # P2P: volume at most min(supply, demand), price within [feed-in, import].
        deficit = np.maximum(res.p2p_bought_kwh + res.residual_deficit_kwh, 0)
        surplus = np.maximum(res.p2p_sold_kwh + res.residual_surplus_kwh, 0)
        assert res.p2p_kwh <= min(deficit.sum(), surplus.sum()) + TOL
        assert abs(res.p2p_bought_kwh.sum() - res.p2p_sold_kwh.sum()) < 1e-9
        if res.p2p_kwh > 0:
            price = c.results["p2p_price_ct_per_kwh"][t]
            assert scenario.prices.feed_in[t] - TOL <= price <= scenario.prices.day_ahead[t] + TOL
        else:
            assert not res.levers.p2p_enabled or min(deficit.sum(), surplus.sum()) < TOL
        # Token conservation: balances + community + grid == supply == minted - burned.
        assert res.token_conservation_error_ct < 1e-7
        assert res.burned_ct >= 0 and res.minted_ct >= 0
        demand_total += scenario.load_kwh[t].sum()
        served_total += res.served_kwh.sum()
    # Demand response only moves energy within the day: everything demanded is served.
    assert abs(demand_total - served_total) < 1e-7
    assert np.all(c.backlog < 1e-9)
    led = c.ledger
    assert abs(led.members.sum() + led.community + led.grid - (led.minted - led.burned)) < 1e-7


def test_member_lever_key_is_present_only_with_home_batteries():
    scenario = tiny_scenario(seed=3, n_members=8)
    assert MEMBER_BATTERIES in scenario.storage_names
    assert scenario.storage_names[:2] == ("storage_A", "storage_B")


def test_same_seed_same_results_different_seed_differs():
    def run(seed):
        scenario = tiny_scenario(seed=seed, n_members=5, n_steps=72)
        c = Community(scenario)
        rng = np.random.default_rng(99)
        while not c.done:
            c.step(
                Levers(
                    burn_rate_ct_per_kwh=float(rng.uniform(0, 0.1)),
                    procurement_kwh=float(rng.uniform(0, 3)),
                    storage_setpoints={
                        n: float(rng.uniform(-1, 1)) for n in scenario.storage_names
                    },
                    storage_follow=bool(rng.integers(2)),
                    p2p_enabled=bool(rng.integers(2)),
                )
            )
        return c.results

    a, b, other = run(1), run(1), run(2)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["import_kwh"], other["import_kwh"])


def test_clipped_levers_have_every_field_as_the_constructor_sets_them():
    # Levers.clipped fills the frozen dataclass's __dict__ directly (not through __init__):
    # every field must be there, equal to what the constructor gives for the same values.
    from dataclasses import fields

    given = Levers(procurement_kwh=2.0, storage_setpoints={"members": 2.0}, p2p_enabled=True)
    out = given.clipped(("members",), 1.0)
    assert set(vars(out)) == {f.name for f in fields(Levers)}
    assert out == Levers(procurement_kwh=2.0, storage_setpoints={"members": 1.0}, p2p_enabled=True)
