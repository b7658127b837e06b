"""Hand-computed cases for the battery, the P2P clearing, demand response and settlement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from energy_agents.sim import (
    Community,
    Levers,
    Prices,
    Scenario,
    ScenarioError,
    StorageBank,
    market,
    storage,
)


def one_battery(capacity=10.0, power=4.0, eta=0.9, soc_init=0.5):
    return StorageBank.uniform(("b",), capacity, power, efficiency=eta, soc_init=soc_init)


def test_battery_schedule_respects_power_energy_and_losses():
    bank = one_battery()
    e = np.array([5.0])
    # Charging 1.0 of rated power for 1 h: 4 kWh at the terminals, 3.6 kWh stored.
    flow = storage.dispatch(bank, e, 1.0, 1.0, False, None)
    assert_allclose(flow, [4.0])
    assert_allclose(storage.apply_flow(bank, e, flow), [8.6])
    # From 8.6 kWh only 1.4 kWh fit: 1.4 / 0.9 at the terminals.
    flow = storage.dispatch(bank, np.array([8.6]), 1.0, 1.0, False, None)
    assert_allclose(flow, [1.4 / 0.9])
    # Discharging from 1 kWh delivers 0.9 kWh at the terminals and empties it.
    flow = storage.dispatch(bank, np.array([1.0]), 1.0, -1.0, False, None)
    assert_allclose(flow, [-0.9])
    assert_allclose(storage.apply_flow(bank, np.array([1.0]), flow), [0.0])


def test_follow_mode_treats_setpoint_as_floor():
    bank = one_battery()
    e = np.array([5.0])
    # Surplus of 2 kWh: absorbed whatever the floor (-1, 0, 0.25).
    for sp in (-1.0, 0.0, 0.25):
        assert_allclose(storage.dispatch(bank, e, 1.0, sp, True, np.array([-2.0])), [2.0])
    # Deficit of 3 kWh: covered fully at -1, half-covered at -0.5 (2 kW floor), not at 0,
    # and at +0.25 the battery still charges its 1 kWh minimum.
    assert_allclose(storage.dispatch(bank, e, 1.0, -1.0, True, np.array([3.0])), [-3.0])
    assert_allclose(storage.dispatch(bank, e, 1.0, -0.5, True, np.array([3.0])), [-2.0])
    assert_allclose(storage.dispatch(bank, e, 1.0, 0.0, True, np.array([3.0])), [0.0])
    assert_allclose(storage.dispatch(bank, e, 1.0, 0.25, True, np.array([3.0])), [1.0])


def test_pooled_storages_share_without_charging_each_other():
    bank = StorageBank(
        ("full", "empty"),
        np.array([10.0, 10.0]),
        np.array([5.0, 5.0]),
        np.ones(2),
        np.ones(2),
        np.zeros(2),
        np.ones(2),
        np.zeros(2),
    )
    e = np.array([10.0, 0.0])
    floors = np.array([-1.0, -1.0])
    # A 2 kWh deficit: only the full one can discharge, and the empty one does not charge
    # from it (a round trip for nothing); a 3 kWh surplus goes to the room each has.
    assert_allclose(storage.split_pooled(bank, e, 1.0, floors, True, 2.0), [-2.0, 0.0])
    assert_allclose(storage.split_pooled(bank, e, 1.0, floors, True, -3.0), [0.0, 3.0])
    e = np.array([8.0, 6.0])  # rooms to charge 2 and 4, to discharge 5 and 5
    assert_allclose(storage.split_pooled(bank, e, 1.0, floors, True, -3.0), [1.0, 2.0])
    assert_allclose(storage.split_pooled(bank, e, 1.0, floors, True, 4.0), [-2.0, -2.0])
    # Minimum charges (floor 0.2 = 1 kWh each) hold even when the residual asks for less.
    assert_allclose(storage.split_pooled(bank, e, 1.0, floors * -0.2, True, 4.0), [1.0, 1.0])
    # Without follow each runs its own schedule.
    assert_allclose(storage.split_pooled(bank, e, 1.0, floors * 0.5, False, 4.0), [-2.5, -2.5])


def test_pooled_home_batteries_steer_the_community_import_to_the_procurement():
    scenario = two_member_scenario(
        n_steps=1,
        load_kwh=np.array([[4.0, 0.0]]),
        pv_kwh=np.array([[0.0, 1.0]]),
        member_batteries=StorageBank.uniform(("a", "b"), 10.0, 5.0, efficiency=1.0, soc_init=0.5),
    )
    own = Levers(storage_setpoints={"members": -1.0}, storage_follow=True, p2p_enabled=True)
    pooled = Levers(
        procurement_kwh=1.0,
        storage_setpoints={"members": -1.0},
        storage_follow=True,
        p2p_enabled=True,
        home_batteries_pooled=True,
    )
    # Own-home follow: a covers its 4 kWh, b stores its 1 kWh surplus; nothing imported.
    res = Community(scenario).step(own)
    assert_allclose(res.battery_kwh, [-4.0, 1.0])
    assert res.import_kwh == pytest.approx(0.0)
    # Pooled toward 1 kWh of import: the community's net is 3 kWh, so the pool gives 2 kWh,
    # shared by room (both half full): 1 kWh from each, b's PV and battery reach a via P2P.
    res = Community(scenario).step(pooled)
    assert_allclose(res.battery_kwh, [-1.0, -1.0])
    assert res.import_kwh == pytest.approx(1.0)
    assert res.p2p_kwh == pytest.approx(2.0)
    # Pooling needs P2P (the energy reaches neighbours through the market) and follow.
    res = Community(scenario).step(replace(pooled, p2p_enabled=False))
    assert_allclose(res.battery_kwh, [-4.0, 1.0])


def test_clearing_volume_and_prices():
    bought, sold, volume = market.match(np.array([3.0, 1.0, 0.0]), np.array([0.0, 0.0, 2.0]))
    assert volume == 2.0
    assert_allclose(bought, [1.5, 0.5, 0.0])
    assert_allclose(sold, [0.0, 0.0, 2.0])
    assert market.clearing_price("midpoint", 0.30, 0.10, 2.0, 4.0) == pytest.approx(0.20)
    assert market.clearing_price("buyer", 0.30, 0.10, 2.0, 4.0) == 0.10
    assert market.clearing_price("seller", 0.30, 0.10, 2.0, 4.0) == 0.30
    # SDR = 0.5: 0.3 * 0.1 / (0.2 * 0.5 + 0.1) = 0.15; SDR >= 1 gives feed-in.
    assert market.clearing_price("sdr", 0.30, 0.10, 2.0, 4.0) == pytest.approx(0.15)
    assert market.clearing_price("sdr", 0.30, 0.10, 5.0, 4.0) == pytest.approx(0.10)


def two_member_scenario(**kw):
    n = kw.pop("n_steps", 2)
    base = dict(
        name="two",
        start="2024-01-01T00:00:00",
        dt_h=1.0,
        member_names=("a", "b"),
        load_kwh=np.tile([[2.0, 0.5]], (n, 1)),
        pv_kwh=np.tile([[0.0, 1.5]], (n, 1)),
        prices=Prices(np.full(n, 0.30), np.full(n, 0.40), np.full(n, 0.20), np.full(n, 0.10)),
        member_batteries=StorageBank.uniform(("a", "b"), 0.0, 0.0),
        community_storages=StorageBank.empty(),
        flexible_share=np.zeros(2),
    )
    base.update(kw)
    return Scenario(**base)


def test_settlement_without_and_with_p2p():
    # a needs 2 kWh, b has 1 kWh surplus. Procure 1 kWh at 0.30.
    c = Community(two_member_scenario())
    r = c.step(Levers(procurement_kwh=1.0))
    # P2P off: import 2, export 1 -> 0.30*1 + 0.40*(2-1) - 0.10*1 = 0.60
    assert (r.import_kwh, r.export_kwh) == (2.0, 1.0)
    assert r.grid_cost_ct == pytest.approx(0.60)
    r = c.step(Levers(procurement_kwh=1.0, p2p_enabled=True))
    # P2P on: 1 kWh matched at the midpoint 0.20; import 1 exactly as procured -> 0.30
    assert (r.import_kwh, r.export_kwh, r.p2p_kwh) == (1.0, 0.0, 1.0)
    assert r.grid_cost_ct == pytest.approx(0.30)
    assert c.results["p2p_price_ct_per_kwh"][1] == pytest.approx(0.20)
    # a paid 0.20 to b for P2P and 0.30 to the community for its residual 1 kWh.
    assert c.ledger.conservation_error() < 1e-12


def test_burn_defers_flexible_load_to_first_unburned_step():
    s = two_member_scenario(n_steps=24, flexible_share=np.array([0.5, 0.0]))
    c = Community(s)
    # elasticity 10 * 0.03 / 0.30 = 1: all of a's flexible 1 kWh is deferred.
    r0 = c.step(Levers(burn_rate_ct_per_kwh=0.03))
    assert_allclose(r0.served_kwh, [1.0, 0.5])
    r1 = c.step(Levers())
    assert_allclose(r1.served_kwh, [3.0, 0.5])
    # Burned: 0.03 on a's flexible load drawn from outside (0 flexible served at step 0).
    assert r0.burned_ct == pytest.approx(0.0)


def test_backlog_is_served_at_day_end():
    s = two_member_scenario(n_steps=24, flexible_share=np.array([0.5, 0.0]))
    c = Community(s)
    served = [c.step(Levers(burn_rate_ct_per_kwh=0.015)).served_kwh[0] for _ in range(24)]
    # Half of the flexible 1 kWh deferred at each of the first 23 steps, all served at 23:00.
    assert_allclose(served[:23], 1.5)
    assert served[23] == pytest.approx(2.0 + 23 * 0.5)
    assert sum(served) == pytest.approx(48.0)


def test_citylearn_cost_ratio_counts_district_netting_and_clips_at_zero():
    s = two_member_scenario()
    c = Community(s)
    c.step(Levers())
    # District net 2 + 0.5 - 1.5 = 1 kWh at 0.30.
    assert c.results["city_cost_ct"][0] == pytest.approx(0.30)
    assert c.results["city_base_cost_ct"][0] == pytest.approx(0.30)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"load_kwh": np.array([[1.0, np.nan]] * 2)}, "load_kwh"),
        ({"pv_kwh": np.array([[1.0, -1.0]] * 2)}, "pv_kwh"),
        ({"load_kwh": np.ones((2, 3))}, "load_kwh"),
        ({"flexible_share": np.array([0.2, 1.5])}, "flexible_share"),
        ({"dt_h": 0.3}, "dt_h"),
        (
            {"prices": Prices(np.full(2, 0.3), np.full(2, 0.2), np.full(2, 0.2), np.full(2, 0.1))},
            "prices.day_ahead",
        ),
    ],
)
def test_bad_scenarios_are_refused_with_the_field_named(change, field):
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        two_member_scenario(**change)


def test_negative_capacity_is_refused():
    with pytest.raises(ScenarioError, match="capacity_kwh"):
        StorageBank.uniform(("x",), -1.0, 1.0)


def test_levers_are_clipped_never_raised_mid_run():
    c = Community(two_member_scenario())
    r = c.step(
        Levers(
            burn_rate_ct_per_kwh=float("nan"),
            procurement_kwh=-4,
            storage_setpoints={"nope": 3.0},
            p2p_price_rule="whatever",
        )
    )
    assert r.levers.burn_rate_ct_per_kwh == 0.0
    assert r.levers.procurement_kwh == 0.0
    assert r.levers.storage_setpoints == {}
    assert r.levers.p2p_price_rule == "midpoint"


def test_battery_setpoints_override_the_members_setpoint_per_battery():
    scenario = two_member_scenario(
        n_steps=1,
        member_batteries=StorageBank.uniform(("a", "b"), 10.0, 4.0, efficiency=1.0, soc_init=0.5),
    )
    # a on its own setpoint (charge at half power: 2 kWh), b on the members one (discharge a
    # quarter: 1 kWh); an unknown name is dropped, a value beyond 1 clipped.
    lv = Levers(storage_setpoints={"members": -0.25}, battery_setpoints={"a": 0.5, "zz": 1.0})
    res = Community(scenario).step(lv)
    assert_allclose(res.battery_kwh, [2.0, -1.0])
    assert res.levers.battery_setpoints == {"a": 0.5}
    res = Community(scenario).step(Levers(battery_setpoints={"b": 7.0}))
    assert_allclose(res.battery_kwh, [0.0, 4.0])
    # With follow each battery's own setpoint is its floor: a (2 kWh deficit) stays at its
    # 0.5 minimum charge, b (1 kWh surplus) absorbs it above its -1 floor.
    res = Community(scenario).step(
        Levers(battery_setpoints={"a": 0.5, "b": -1.0}, storage_follow=True)
    )
    assert_allclose(res.battery_kwh, [2.0, 1.0])


def test_battery_setpoints_parse_and_refuse_with_the_field_named():
    lv = Levers.from_dict({"battery_setpoints": {"a": 0.5}})
    assert lv.battery_setpoints == {"a": 0.5}
    assert Levers.from_dict(lv.to_dict()) == lv
    with pytest.raises(ValueError, match=r"parameters\.battery_setpoints\.a: must be a number"):
        Levers.from_dict({"battery_setpoints": {"a": "x"}})
    with pytest.raises(ValueError, match=r"parameters\.battery_setpoints: must be an object"):
        Levers.from_dict({"battery_setpoints": [0.5]})
