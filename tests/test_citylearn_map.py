"""The CityLearn mapping in both directions, on hand-made CityLearn observations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from energy_agents.advisors.registry import recommend_all
from energy_agents.coordination.registry import make_strategy
from energy_agents.coordination.step import coordinate
from energy_agents.integrations.citylearn_map import (
    Battery,
    BuildingStep,
    MappingError,
    ObservationBuilder,
    actions_from_levers,
    building_steps,
    tank_actions,
)
from energy_agents.sim.levers import Levers
from energy_agents.sim.objective import Objective
from energy_agents.sim.observation import Observation

BAT = Battery(capacity_kwh=6.4, power_kw=5.0, efficiency=0.9)
NAMES = ("Building_1", "Building_2")


def builder(n_steps: int = 48) -> ObservationBuilder:
    return ObservationBuilder(
        names=NAMES,
        batteries=(BAT, Battery(10.0, 4.0, 0.95, soc_min=0.2)),
        n_steps=n_steps,
        start="2022-08-01 00:00:00",
        objective=Objective.parse("citylearn2022").to_dict(),
    )


def test_building_steps_reads_citylearn_names_and_names_what_is_missing():
    names = ["month", "hour", "non_shiftable_load", "solar_generation", "electrical_storage_soc"]
    b = building_steps(names, [8, 1, 2.5, 0.0, 0.25])
    assert b == BuildingStep(2.5, 0.0, 0.25)
    with pytest.raises(MappingError, match="electrical_storage_soc"):
        building_steps(names[:4], [8, 1, 2.5, 0.0])


def test_observation_is_one_our_model_reads_and_keeps_the_past_only():
    ob = builder()
    steps = [BuildingStep(1.0, 0.0, 0.5), BuildingStep(2.0, 3.0, 0.2)]
    prices = [0.22] * 16 + [0.54] * 5 + [0.22] * 10
    first = ob.observation(steps, prices)
    obs = Observation.from_dict(json.loads(json.dumps(first)))
    assert obs.step == 0 and obs.timestamp == "2022-08-01 00:00:00"
    assert obs.hist_load_kwh.size == 0  # this step's load is not known before it happens
    assert len(obs.price_day_ahead) == 24 and obs.price_day_ahead[16] == 0.54
    assert obs.storage_capacity_kwh["members"] == pytest.approx(16.4)
    assert obs.storage_energy_kwh["members"] == pytest.approx(0.5 * 6.4 + 0.2 * 10)
    assert obs.storage_efficiency["members"] == pytest.approx((0.81 * 6.4 + 0.9025 * 10) / 16.4)
    assert obs.storage_soc_min["members"] == pytest.approx(2.0 / 16.4)
    # Close the step: district net 1.2 kWh imported at 0.22.
    ob.record(steps, [1.5, -0.3], 0.22, 0.4, {"storage_follow": True})
    second = Observation.from_dict(ob.observation(steps, prices[1:]))
    assert second.step == 1 and second.timestamp == "2022-08-01 01:00:00"
    assert second.hist_load_kwh.tolist() == [3.0] and second.hist_pv_kwh.tolist() == [3.0]
    assert second.hist_net_kwh.tolist() == pytest.approx([1.2])
    assert second.member_hist_load_kwh.shape == (1, 2)
    assert second.cumulative_cost_ct == pytest.approx(1.2 * 0.22)
    assert second.period_peak_import_kw == pytest.approx(1.2)
    assert second.block_peak_net_kwh == pytest.approx(1.2)
    assert second.hist_carbon_kg_per_kwh.tolist() == [0.4]
    assert second.last_levers == Levers(storage_follow=True)
    # August 1st 01:00: 743 hours of the month left, but the run has 47 steps.
    assert second.period_steps_left == 47


def test_the_five_advisors_and_a_strategy_decide_on_a_mapped_observation():
    ob = builder()
    steps = [BuildingStep(1.0, 0.0, 0.5), BuildingStep(2.0, 3.0, 0.2)]
    for t in range(30):
        ob.record(steps, [1.0, -1.0 + 0.1 * t], 0.22, 0.4, None)
    obs = Observation.from_dict(ob.observation(steps, [0.22] * 24))
    recs = recommend_all(obs)
    assert len(recs) == 5
    decision, _, _ = coordinate(make_strategy("weighted"), obs, {}, recs)
    actions = actions_from_levers(decision.parameters.to_dict(), steps, ob.batteries)
    assert len(actions) == 2 and all(-1.0 <= a <= 1.0 for a in actions)


def test_setpoint_asks_each_battery_for_its_rated_power_share():
    steps = [BuildingStep(1.0, 0.0, 0.0)]
    # 0.5 x 5 kW x 1 h = 2.5 kWh of 6.4 kWh.
    assert actions_from_levers({"storage_setpoints": {"members": 0.5}}, steps, [BAT]) == [
        pytest.approx(2.5 / 6.4)
    ]


def test_follow_absorbs_the_homes_residual_within_power_and_room():
    # Surplus 3 kWh, battery half full: charges 3 kWh.
    a = actions_from_levers({"storage_follow": True}, [BuildingStep(1.0, 4.0, 0.5)], [BAT])
    assert a == [pytest.approx(3.0 / 6.4)]
    # Surplus 9 kWh: the 5 kW rating limits.
    a = actions_from_levers({"storage_follow": True}, [BuildingStep(1.0, 10.0, 0.0)], [BAT])
    assert a == [pytest.approx(5.0 / 6.4)]
    # Nearly full: only the room left, measured before the charge efficiency.
    a = actions_from_levers({"storage_follow": True}, [BuildingStep(1.0, 4.0, 0.9)], [BAT])
    assert a == [pytest.approx(0.1 * 6.4 / 0.9 / 6.4)]
    # Deficit 2 kWh, 10 % charged: only what is stored, after the discharge efficiency; the
    # setpoint is the floor (0: charge only, -1: full self-consumption), as in our model.
    deficit = [BuildingStep(2.0, 0.0, 0.1)]
    assert actions_from_levers({"storage_follow": True}, deficit, [BAT]) == [0.0]
    a = actions_from_levers(
        {"storage_follow": True, "storage_setpoints": {"members": -1.0}}, deficit, [BAT]
    )
    assert a == [pytest.approx(-0.1 * 0.9)]


def test_pooled_batteries_steer_the_district_net_to_the_target_by_room():
    pooled = {
        "storage_follow": True,
        "p2p_enabled": True,
        "home_batteries_pooled": True,
        "storage_setpoints": {"members": -1.0},
        "exchange_target_kwh": 1.0,
    }
    bats = [BAT, Battery(10.0, 5.0, 1.0)]
    # District residual 1 + 4 = 5 kWh, target 1: the pool discharges 4 kWh. Own home first:
    # each battery starts at its home's deficit (-1, -4), and the 1 kWh the pool gives less is
    # taken toward zero, in proportion to each one's discharge, so no battery exports.
    steps = [BuildingStep(1.0, 0.0, 0.5), BuildingStep(4.0, 0.0, 0.8)]
    a = actions_from_levers(pooled, steps, bats)
    flows = [a[0] * 6.4, a[1] * 10.0]
    assert sum(flows) == pytest.approx(-4.0)
    assert flows == [pytest.approx(-0.8), pytest.approx(-3.2)]
    # Target -2 (export 2 kWh): the pool gives 7 kWh; beyond the homes' own 5 kWh, the 2 kWh
    # that go out are shared by what each can still give (2.88 - 1 and 5 - 4, its rating).
    a = actions_from_levers(dict(pooled, exchange_target_kwh=-2.0), steps, bats)
    flows = [a[0] * 6.4, a[1] * 10.0]
    assert sum(flows) == pytest.approx(-7.0)
    give = [2.88 - 1.0, 5.0 - 4.0]
    assert flows == [
        pytest.approx(o - 2.0 * g / sum(give)) for o, g in zip((-1.0, -4.0), give, strict=True)
    ]
    # Exchange target None: the procurement is the target.
    a = actions_from_levers(
        dict(pooled, exchange_target_kwh=None, procurement_kwh=5.0), steps, bats
    )
    assert a == [0.0, 0.0]
    # Without P2P the pool is off: each battery follows its own home.
    a = actions_from_levers(dict(pooled, p2p_enabled=False), steps, bats)
    assert a == [pytest.approx(-1.0 / 6.4), pytest.approx(-0.4)]


def test_battery_setpoints_set_each_buildings_own_schedule():
    # a on its own setpoint (0.5 of 5 kW: 2.5 kWh), b on the members one (-0.2 of 4 kW).
    bats = [Battery(10.0, 5.0, 1.0, name="a"), Battery(10.0, 4.0, 1.0, name="b")]
    steps = [BuildingStep(0.0, 0.0, 0.5), BuildingStep(0.0, 0.0, 0.5)]
    levers = {"storage_setpoints": {"members": -0.2}, "battery_setpoints": {"a": 0.5, "zz": 1}}
    assert actions_from_levers(levers, steps, bats) == [
        pytest.approx(0.25),
        pytest.approx(-0.08),
    ]
    with pytest.raises(MappingError, match=r"parameters\.battery_setpoints\.a"):
        actions_from_levers({"battery_setpoints": {"a": "x"}}, steps, bats)


def test_depth_of_discharge_keeps_soc_min_and_setpoints_are_clipped():
    bat = Battery(10.0, 4.0, 1.0, soc_min=0.2)
    assert actions_from_levers(
        {"storage_setpoints": {"members": -7.0}}, [BuildingStep(0.0, 0.0, 0.3)], [bat]
    ) == [pytest.approx(-0.1)]
    assert actions_from_levers({}, [BuildingStep(0.0, 0.0, 0.3)], [bat]) == [0.0]


def test_bad_levers_and_shapes_are_named():
    with pytest.raises(MappingError, match="exchange_target_kwh"):
        actions_from_levers({"exchange_target_kwh": math.nan}, [BuildingStep(0, 0, 0)], [BAT])
    with pytest.raises(MappingError, match="storage_setpoints.members"):
        actions_from_levers({"storage_setpoints": {"members": "x"}}, [BuildingStep(0, 0, 0)], [BAT])
    with pytest.raises(MappingError, match="buildings"):
        builder().observation([BuildingStep(0, 0, 0)], [0.2])
    for bad in ((-1.0, 1.0, 0.9), (6.4, -1.0, 0.9), (6.4, 1.0, 0.0), (6.4, 1.0, 1.2)):
        with pytest.raises(MappingError, match="battery"):
            Battery(*bad)


def test_round_trip_through_numpy_arrays_is_exact():
    ob = builder()
    steps = [BuildingStep(1.0, 0.5, 0.5), BuildingStep(2.0, 3.0, 0.2)]
    ob.record(steps, [0.5, -1.0], 0.22, 0.4, None)
    d = ob.observation(steps, [0.22] * 24)
    back = Observation.from_dict(d).to_dict()
    for key in ("member_soc", "hist_net_kwh", "price_day_ahead"):
        assert np.allclose(back[key], d[key])


def test_actions_are_in_units_of_the_batterys_action_energy():
    # CityLearn 3.0.2 moves action x nominal power x 1 h: 2.5 kWh is 0.5 of 5 kWh, not of 6.4.
    bat = Battery(6.4, 5.0, 0.9, action_kwh=5.0)
    steps = [BuildingStep(1.0, 0.0, 0.0)]
    assert actions_from_levers({"storage_setpoints": {"members": 0.5}}, steps, [bat]) == [0.5]
    with pytest.raises(MappingError, match="action_kwh"):
        Battery(6.4, 5.0, 0.9, action_kwh=0.0)


def test_capacity_power_curve_limits_flows_near_full():
    # CityLearn's default curve: full power to SOC 0.8, then linearly down to 0.2 at 1.0.
    assert BAT.max_power_kw(0.5) == pytest.approx(5.0)
    assert BAT.max_power_kw(0.9) == pytest.approx(3.0)
    assert BAT.max_power_kw(1.0) == pytest.approx(1.0)
    # A full battery asked for a 5 kWh discharge moves what CityLearn allows there: 1 kWh.
    a = actions_from_levers(
        {"storage_follow": True, "storage_setpoints": {"members": -1.0}},
        [BuildingStep(5.0, 0.0, 1.0)],
        [BAT],
    )
    assert a == [pytest.approx(-1.0 / 6.4)]
    with pytest.raises(MappingError, match="capacity_power_curve"):
        Battery(6.4, 5.0, 0.9, capacity_power_curve=((0.5, 1.0), (0.2, 1.0)))


def test_building_metering_turns_the_pool_into_each_home_its_own():
    pooled = {
        "storage_follow": True,
        "p2p_enabled": True,
        "home_batteries_pooled": True,
        "storage_setpoints": {"members": -1.0},
        "exchange_target_kwh": -2.0,
    }
    steps = [BuildingStep(1.0, 0.0, 0.5), BuildingStep(4.0, 0.0, 0.8)]
    bats = [BAT, Battery(10.0, 5.0, 1.0)]
    own = actions_from_levers(dict(pooled, p2p_enabled=False), steps, bats)
    assert actions_from_levers(pooled, steps, bats, metering="building") == own
    with pytest.raises(MappingError, match="metering"):
        actions_from_levers(pooled, steps, bats, metering="street")


def test_ev_flows_restate_the_models_charger_rules():
    """The mapping's charger rules (no numpy, for CityLearn's venv) equal ``sim.ev.flows`` on
    random states, setpoints, follow and home surpluses."""
    from energy_agents.integrations.citylearn_map import Charger, EVState, ev_actions, ev_flows
    from energy_agents.sim import ev as ev_model
    from energy_agents.sim.ev import EVChargers

    rng = np.random.default_rng(11)
    for _ in range(300):
        left = int(rng.integers(1, 12))
        cap, soc_min = float(rng.choice([40.0, 60.0, 80.0])), float(rng.uniform(0, 0.2))
        e = float(rng.uniform(soc_min, 1.0)) * cap
        req = float(rng.uniform(0.0, 1.0))
        p_c, p_d, eta = float(rng.uniform(3, 22)), float(rng.choice([0.0, 7.0])), 0.9
        one = np.ones((left, 1))
        first, last = np.zeros((left, 1)), np.zeros((left, 1))
        first[0], last[-1] = 1, 1
        bank = EVChargers.from_steps(
            ("c",), np.array([0]), np.array([p_c]), np.array([p_d]), np.array([eta]),
            one, first, last, one * cap, first * e / cap, one * req, one * soc_min,
        )  # fmt: skip
        sp = float(rng.uniform(-1, 1)) if rng.random() < 0.8 else None
        follow = bool(rng.random() < 0.5)
        net = float(rng.uniform(-5, 5))
        want = ev_model.flows(
            bank, bank.row(0), np.array([e]), 1.0, np.array([np.nan if sp is None else sp]), follow,
            np.array([net]),
        )[0]  # fmt: skip
        params = {"ev_setpoints": {} if sp is None else {"c": sp}, "storage_follow": follow}
        charger = Charger("c", 0, p_c, p_d, eta)
        state = EVState(True, e, cap, req * cap, left, soc_min * cap)
        got = ev_flows(params, [charger], [state], [net])[0]
        assert got == pytest.approx(float(want), abs=1e-9)
        action = ev_actions([got], [charger])[0]
        assert -1.0 <= action <= 1.0


def test_session_steps_left_from_a_charger_file():
    from energy_agents.integrations.citylearn_map import session_steps_left

    nan = float("nan")
    state = [1, 1, 1, 1, 3, 2, 1, 1, 1, 1]
    ids = ["ev1"] * 4 + [""] + ["ev1"] * 5
    countdown = [3, 2, 1, 0, nan, nan, nan, nan, 1, 5]  # a blank countdown; a restart at 9
    assert session_steps_left(state, ids, countdown) == [4, 3, 2, 1, 0, 0, 3, 2, 1, 1]


def test_a_building_load_includes_its_devices_electricity():
    names = ["non_shiftable_load", "solar_generation", "electrical_storage_soc"]
    b = building_steps(names, [2.5, 1.0, 0.25], device_kwh=0.75)
    assert b.load == pytest.approx(3.25)
    ob = builder()
    steps = [b, BuildingStep(1.0, 0.0, 0.5)]
    ob.record(steps, [2.0, 1.0], 0.22, 0.4, None)
    obs = Observation.from_dict(ob.observation(steps, [0.22] * 24))
    assert obs.hist_load_kwh.tolist() == pytest.approx([4.25])
    with pytest.raises(MappingError, match="device_kwh"):
        building_steps(names, [2.5, 1.0, 0.25], device_kwh=math.nan)


def test_tank_fields_are_ones_our_model_reads_and_bad_tanks_are_named():
    from energy_agents.integrations.citylearn_map import Tank, TankState

    tanks = (
        Tank("B1/dhw", 0, "dhw", 2.0, 0.81, 0.01),
        Tank("B2/cooling", 1, "cooling", 4.0, 1.0, 0.0),
    )
    ob = builder()
    ob.tanks = tanks
    steps = [BuildingStep(1.0, 0.0, 0.5), BuildingStep(2.0, 3.0, 0.2)]
    raw = ob.observation(
        steps, [0.22] * 24, tank_states=[TankState(0.5, 0.92), TankState(1.2, 3.5)]
    )
    obs = Observation.from_dict(json.loads(json.dumps(raw)))
    assert obs.tank_names == ("B1/dhw", "B2/cooling")
    assert obs.tank_energy_kwh.tolist() == [1.0, 4.0]  # a SOC above 1 is clipped to the capacity
    assert obs.tank_cop.tolist() == [0.92, 3.5] and obs.tank_member.tolist() == [0, 1]
    assert obs.hist_tank_demand_kwh.shape == (0, 2)  # nothing before the first step
    # The tanks' demands enter the history once the step is over, one row per step.
    ob.record(steps, [1.0, 1.0], 0.22, 0.4, None, [0.7, 0.0])
    ob.record(steps, [1.0, 1.0], 0.22, 0.4, None, [0.2, 1.5])
    third = Observation.from_dict(
        ob.observation(steps, [0.22] * 24, tank_states=[TankState(0.5, 0.92), TankState(0.1, 3)])
    )
    assert third.hist_tank_demand_kwh.tolist() == [[0.7, 0.0], [0.2, 1.5]]
    with pytest.raises(MappingError, match="tank_demand_kwh: one per tank"):
        ob.record(steps, [1.0, 1.0], 0.22, 0.4, None, [0.7])
    for bad, field in [
        (dict(capacity_kwh=0.0), "capacity_kwh"),
        (dict(efficiency=1.5), "efficiency"),
        (dict(use="pool"), "use"),
        (dict(loss_coefficient=-0.1), "loss_coefficient"),
    ]:
        kw = dict(
            name="x", member=0, use="dhw", capacity_kwh=1.0, efficiency=0.9, loss_coefficient=0.0
        )
        with pytest.raises(MappingError, match=field):
            Tank(**{**kw, **bad})
    with pytest.raises(MappingError, match="one per tank"):
        ob.observation(steps, [0.22] * 24, tank_states=[TankState(0.5, 0.92)])
    with pytest.raises(MappingError, match="thermal_setpoints.B1/dhw"):
        tank_actions({"thermal_setpoints": {"B1/dhw": "full"}}, tanks)


def test_tank_actions_are_the_setpoints_and_idle_without_one():
    from energy_agents.integrations.citylearn_map import Tank

    tanks = (
        Tank("B1/dhw", 0, "dhw", 2.0, 0.81, 0.01),
        Tank("B1/cooling", 0, "cooling", 4.0, 1.0, 0.0),
    )
    assert tank_actions({"thermal_setpoints": {"B1/dhw": 0.4, "B1/cooling": -3}}, tanks) == {
        "B1/dhw": 0.4,
        "B1/cooling": -1.0,
    }
    assert tank_actions({}, tanks) == {"B1/dhw": 0.0, "B1/cooling": 0.0}
    assert [k.action for k in tanks] == ["dhw_storage", "cooling_storage"]


def test_tank_electricity_restates_the_models_tank_rules():
    """The extra electricity the batteries' follow rule sees equals sim.thermal_storage.step's
    on random tanks, contents, demands, device limits and setpoints."""
    from energy_agents.integrations.citylearn_map import Tank, TankState, tank_electricity_kwh
    from energy_agents.sim import thermal_storage as ts

    rng = np.random.default_rng(5)
    for _ in range(300):
        cap, eff, loss = (
            float(rng.uniform(0.5, 10)),
            float(rng.uniform(0.5, 1)),
            float(rng.uniform(0, 0.2)),
        )
        soc, demand = float(rng.uniform(0, 1)), float(rng.choice([0.0, rng.uniform(0, 5)]))
        top = float(rng.choice([math.inf, rng.uniform(0, 8)]))
        cop = float(rng.choice([0.92, rng.uniform(1.5, 6)]))
        sp = float(rng.uniform(-1.5, 1.5))
        tanks = ts.ThermalTanks(
            ("t",), np.array([0]), ("dhw",), np.array([cap]), np.array([loss]), np.array([eff]),
            np.array([soc]), np.array([math.inf]), np.array([math.inf]), np.array([[demand]]),
            np.array([[1.0 / cop]]), np.array([[top]]),
        )  # fmt: skip
        _, _, want = ts.step(tanks, 0, np.array([soc * cap]), 1.0, np.array([sp]))
        got = tank_electricity_kwh(
            {"thermal_setpoints": {"t": sp}},
            [Tank("t", 1, "dhw", cap, eff, loss)],
            [TankState(soc, cop, demand, top)],
            2,
        )
        assert got == pytest.approx([0.0, float(want[0])], abs=1e-9)


def test_the_chargers_sessions_enter_the_history_once_the_step_is_over():
    from energy_agents.integrations.citylearn_map import Charger, EVState

    ob = builder()
    ob.chargers = (Charger("c1", 0, 7.0, 0.0, 0.9), Charger("c2", 1, 11.0, 7.0, 0.9))
    steps = [BuildingStep(1.0, 0.0, 0.5), BuildingStep(2.0, 3.0, 0.2)]
    states = [[EVState(True, 12.0, 40.0, 30.0, 3), EVState(False)],
              [EVState(True, 18.0, 40.0, 30.0, 2), EVState(True, 5.0, 60.0, 50.0, 9)]]  # fmt: skip
    first = Observation.from_dict(ob.observation(steps, [0.22] * 24, states[0]))
    assert first.hist_ev_connected.shape == (0, 2)
    for evs in states:
        ob.record(steps, [1.0, 1.0], 0.22, 0.4, None, (), evs)
    third = Observation.from_dict(
        json.loads(json.dumps(ob.observation(steps, [0.22] * 24, states[1])))
    )
    assert third.hist_ev_connected.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert third.hist_ev_energy_kwh.tolist() == [[12.0, 0.0], [18.0, 5.0]]
    with pytest.raises(MappingError, match="evs: one per charger"):
        ob.record(steps, [1.0, 1.0], 0.22, 0.4, None, (), states[0][:1])


def test_buildings_without_a_battery():
    """CityLearn lists a battery of capacity 0 where a building has none (baeda_3dem: all)."""
    none = Battery(capacity_kwh=0.0, power_kw=0.0, efficiency=0.96)
    steps = [BuildingStep(1.0, 0.0, math.nan), BuildingStep(2.0, 3.0, 0.5)]
    ob = builder()
    ob.batteries = (none, none)
    obs = Observation.from_dict(ob.observation(steps, [0.22] * 24))
    assert obs.storage_names == () and obs.member_battery_capacity_kwh.tolist() == [0.0, 0.0]
    rec = recommend_all(obs)  # the advisors take a community without storage
    decision, _, _ = coordinate(make_strategy("weighted"), obs, {})
    assert actions_from_levers(decision.parameters.to_dict(), steps, ob.batteries) == [0.0, 0.0]
    assert rec
    # One building with a battery: it is the pool, the other's (undefined) SOC counts as 0.
    ob.batteries = (none, BAT)
    obs = Observation.from_dict(ob.observation(steps, [0.22] * 24))
    assert obs.storage_capacity_kwh["members"] == pytest.approx(6.4)
    assert obs.storage_energy_kwh["members"] == pytest.approx(3.2)
    a = actions_from_levers({"storage_setpoints": {"members": 0.5}}, steps, ob.batteries)
    assert a[0] == 0.0 and a[1] > 0


def test_schema_for_citylearn_replaces_dynamics_and_occupants(tmp_path):
    """Buildings whose thermal response is an LSTM (and the occupant-interaction buildings built
    on it, as in CityLearn's Quebec neighbourhoods) become plain Buildings, named."""
    from energy_agents.integrations.citylearn_driver import citylearn_schema

    occupant = {
        "type": "citylearn.building.LogisticRegressionOccupantInteractionBuilding",
        "dynamics": {"type": "citylearn.dynamics.LSTMDynamics"},
        "occupant": {"type": "citylearn.occupant.LogisticRegressionOccupant"},
    }
    lstm = {"type": "citylearn.building.LSTMDynamicsBuilding", "dynamics": {}}
    plain = {"type": "citylearn.building.Building"}
    (tmp_path / "schema.json").write_text(
        json.dumps({"buildings": {"A": occupant, "B": lstm, "C": plain}}), encoding="utf-8"
    )
    schema, changes = citylearn_schema(tmp_path / "schema.json")
    kinds = {n: b["type"] for n, b in schema["buildings"].items()}
    assert set(kinds.values()) == {"citylearn.building.Building"}
    assert "occupant" not in schema["buildings"]["A"] and "dynamics" not in schema["buildings"]["A"]
    assert changes == [
        "LSTM building dynamics (and occupant interaction) replaced by the recorded thermal "
        "demand (A, B)"
    ]
