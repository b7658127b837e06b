"""EV chargers: known values of the charging rules, the departure requirement and the bounds
under any levers, the energy balance with EVs, the LPs with EVs (bound <= every run, the
executed plan at the bound), and bad EV data refused before step 0 with the field named."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from energy_agents.coordination.optimal import OptimalStrategy
from energy_agents.optimize.lp import executable_plan, lp_lower_bound, relaxation_is_tight
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import Community, Levers, Observation
from energy_agents.sim.ev import PER_STEP, EVChargers
from energy_agents.sim.params import ScenarioError


def one_session(
    n_steps: int = 6,
    start: int = 1,
    length: int = 4,
    arrival: float = 0.2,
    required: float = 0.8,
    capacity: float = 10.0,
    charge_kw: float = 3.0,
    discharge_kw: float = 0.0,
    efficiency: float = 1.0,
    departs: bool = True,
) -> EVChargers:
    """One charger at home 0 with one session of ``length`` steps from ``start``."""
    z = np.zeros((n_steps, 1))
    conn, arr, dep, cap, a_soc, req, smin = (z.copy() for _ in range(7))
    s = slice(start, start + length)
    conn[s] = 1
    cap[s] = capacity
    req[s] = required
    smin[s] = 0.1
    arr[start] = 1
    a_soc[start] = arrival
    dep[start + length - 1] = 1 if departs else 0
    return EVChargers.from_steps(
        ("c1",),
        np.array([0]),
        np.array([charge_kw]),
        np.array([discharge_kw]),
        np.array([efficiency]),
        conn,
        arr,
        dep,
        cap,
        a_soc,
        req,
        smin,
    )


def with_ev(ev: EVChargers, n_steps: int = 6):
    s = tiny_scenario().head(n_steps)
    return replace(s, ev_chargers=ev)


def run(scenario, levers_at) -> Community:
    c = Community(scenario)
    while not c.done:
        c.step(levers_at(c.t))
    return c


def test_uncontrolled_charges_at_full_power_until_the_requirement():
    c = run(with_ev(one_session()), lambda t: Levers())
    # 2 kWh on arrival, 8 required: 3 + 3 at full power, then the 2 kWh left... capped at 0
    np.testing.assert_allclose(c.results["ev_kwh"], [0, 3, 3, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(c.results["ev_energy_kwh"][4], 8.0)
    assert c.ev_departures == 1 and c.ev_short_departures == 0


def test_a_setpoint_of_zero_charges_as_late_as_the_departure_allows():
    c = run(with_ev(one_session()), lambda t: Levers(ev_setpoints={"c1": 0.0}))
    # 6 kWh needed, 3 kWh per step: nothing until two steps before the departure
    np.testing.assert_allclose(c.results["ev_kwh"], [0, 0, 0, 3, 3, 0], atol=1e-12)
    assert c.ev_short_departures == 0


def test_v2g_never_breaks_the_requirement():
    ev = one_session(arrival=0.6, discharge_kw=3.0, efficiency=0.9)
    c = run(with_ev(ev), lambda t: Levers(ev_setpoints={"c1": -1.0}))
    flows = c.results["ev_kwh"]
    assert flows[1] < 0  # it discharges while it can afford to
    assert c.ev_short_departures == 0
    assert c.results["ev_energy_kwh"][4] >= 8.0 - 1e-9


def test_infeasible_requirement_charged_at_full_power_and_counted():
    ev = one_session(arrival=0.0, required=1.0, length=2)  # 10 kWh needed, 6 reachable
    c = run(with_ev(ev), lambda t: Levers(ev_setpoints={"c1": 0.0}))
    np.testing.assert_allclose(c.results["ev_kwh"][1:3], [3, 3])
    assert c.ev_infeasible_departures == 1 and c.ev_short_departures == 0
    assert c.ev_shortfall_kwh == pytest.approx(4.0)


def test_a_session_cut_by_the_episode_has_no_requirement():
    ev = one_session(departs=False)
    c = run(with_ev(ev), lambda t: Levers(ev_setpoints={"c1": 0.0}))
    assert c.results["ev_kwh"].sum() == 0 and c.ev_departures == 0


def test_follow_soaks_up_the_homes_surplus():
    s = with_ev(one_session())  # 6 kWh needed: soaked from the surplus, then no more
    pv = s.pv_kwh.copy()
    pv[:, 0] = s.load_kwh[:, 0] + 2.0  # home 0 has 2 kWh of surplus every step
    s = replace(s, pv_kwh=pv)
    c = run(s, lambda t: Levers(ev_setpoints={"c1": 0.0}, storage_follow=True))
    np.testing.assert_allclose(c.results["ev_kwh"], [0, 2, 2, 2, 0, 0], atol=1e-9)


@pytest.fixture(scope="module")
def ev_scenario():
    from energy_agents.scenarios import load_scenario

    return load_scenario("citylearn:tests/fixtures/citylearn_ev_mini")


def test_random_levers_keep_bounds_balance_and_departures(ev_scenario):
    s = ev_scenario
    ev = s.evs
    rng = np.random.default_rng(7)
    c = Community(s)
    while not c.done:
        t = c.t
        lv = Levers(
            ev_setpoints={n: float(rng.uniform(-1, 1)) for n in ev.names if rng.random() < 0.9},
            storage_setpoints={k: float(rng.uniform(-1, 1)) for k in s.storage_names},
            storage_follow=bool(rng.random() < 0.5),
            p2p_enabled=bool(rng.random() < 0.5),
        )
        res = c.step(lv)
        e = c.ev_energy if t + 1 >= s.n_steps else None
        assert res.energy_balance_error_kwh < 1e-9
        f = c.results["ev_kwh"][t]
        assert f <= float((ev.charge_kw * (ev.connected[t] > 0)).sum()) + 1e-9
        assert -f <= float((ev.discharge_kw * (ev.connected[t] > 0)).sum()) + 1e-9
        if e is not None:
            assert np.all(e <= ev.capacity_kwh[t] + 1e-9)
    assert c.ev_departures == int((ev.departs * ev.required_now).sum()) > 10
    assert c.ev_short_departures == 0
    assert c.max_token_error < 1e-6


def test_loader_reads_sessions_as_the_charger_files_say(ev_scenario):
    import pandas as pd

    ev = ev_scenario.evs
    assert ev.names == ("charger_1_1", "charger_4_1", "charger_5_1")
    assert list(ev.member) == [0, 1, 2]
    np.testing.assert_allclose(ev.charge_kw, [11, 22, 7.4])
    raw = pd.read_csv("tests/fixtures/citylearn_ev_mini/charger_4_1.csv").iloc[:336]
    state = raw["electric_vehicle_charger_state"].to_numpy()
    np.testing.assert_array_equal(ev.connected[:, 1], (state == 1).astype(float))
    first = int(np.flatnonzero(state == 1)[0])
    assert ev.arrival[first, 1] == 1
    assert ev.arrival_soc[first, 1] == pytest.approx(raw["current_soc"][first] / 100)
    req = raw["electric_vehicle_required_soc_departure"][first] / 100
    assert ev.required_soc[first, 1] == pytest.approx(req)
    assert ev.capacity_kwh[first, 1] == 80  # Electric_Vehicle_8 of electric_vehicles_def
    # the countdown to departure in the file ends where the loader ends the session
    dep = raw["electric_vehicle_departure_time"].to_numpy()
    leave = np.flatnonzero(ev.departs[:, 1] > 0)
    assert np.all(dep[leave] <= 1)
    notes = " ".join(ev_scenario.notes)
    assert "ev: 3 chargers" in notes and "min_charging_power" in notes
    assert "appliances: 1 washing machines (Building_1/washing_machine_1)" in notes


def _edit(tmp_path, edit):
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree("tests/fixtures/citylearn_ev_mini", folder)
    schema = json.loads((folder / "schema.json").read_text())
    edit(schema, folder)
    (folder / "schema.json").write_text(json.dumps(schema))
    return folder


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda s, f: s["buildings"]["Building_4"]["chargers"]["charger_4_1"][
                "attributes"
            ].update(efficiency=1.5),
            "buildings.Building_4.chargers.charger_4_1.attributes.efficiency",
        ),
        (
            lambda s, f: s["buildings"]["Building_4"]["chargers"]["charger_4_1"][
                "attributes"
            ].update(max_charging_power="fast"),
            "buildings.Building_4.chargers.charger_4_1.attributes.max_charging_power",
        ),
        (
            lambda s, f: s["electric_vehicles_def"]["Electric_Vehicle_8"]["battery"][
                "attributes"
            ].update(capacity=0),
            "electric_vehicles_def.Electric_Vehicle_8.battery.attributes.capacity",
        ),
        (
            lambda s, f: s["buildings"]["Building_5"]["chargers"]["charger_5_1"].pop(
                "charger_simulation"
            ),
            "buildings.Building_5.chargers.charger_5_1.charger_simulation",
        ),
    ],
)
def test_bad_ev_data_refused_with_the_field_named(tmp_path, edit, field):
    from energy_agents.scenarios import load_scenario

    folder = _edit(tmp_path, edit)
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        load_scenario(f"citylearn:{folder}")


def test_charger_file_too_short_refused(tmp_path):
    from energy_agents.scenarios import load_scenario

    def edit(schema, folder):
        lines = (folder / "charger_1_1.csv").read_text().splitlines()[:100]
        (folder / "charger_1_1.csv").write_text("\n".join(lines) + "\n")

    folder = _edit(tmp_path, edit)
    with pytest.raises(ScenarioError, match=r"charger_1_1\.csv: 99 rows"):
        load_scenario(f"citylearn:{folder}")


def test_unknown_ev_named_in_notes(tmp_path):
    from energy_agents.scenarios import load_scenario

    folder = _edit(tmp_path, lambda s, f: s["electric_vehicles_def"].pop("Electric_Vehicle_1"))
    s = load_scenario(f"citylearn:{folder}")
    assert any("Electric_Vehicle_1" in n for n in s.notes)
    assert s.evs.connected[:, 2].sum() == 0


def test_ev_data_checked_in_the_model():
    ev = one_session()
    steps = {k: getattr(ev, k) for k in PER_STEP}
    fixed = (ev.names, ev.member, ev.charge_kw, ev.discharge_kw, ev.efficiency)
    with pytest.raises(ScenarioError, match="ev_chargers.arrival"):
        EVChargers.from_steps(*fixed, **{**steps, "arrival": np.zeros_like(ev.arrival)})
    with pytest.raises(ScenarioError, match="ev_chargers.required_soc"):
        EVChargers.from_steps(*fixed, **{**steps, "required_soc": ev.required_soc * 2})
    with pytest.raises(ScenarioError, match="ev_chargers: 6 steps"):
        replace(tiny_scenario().head(5), ev_chargers=ev)


def test_lp_bound_below_every_run_and_optimal_reaches_it(ev_scenario):
    s = ev_scenario
    bound = lp_lower_bound(s).cost_ct
    spent = {}
    for name in ("none", "weighted", "mpc", "optimal"):
        r = run_batch(s, name)
        assert r.kpis["ev_short_departures"] == 0
        assert r.kpis["max_energy_balance_error_kwh"] < 1e-9
        spent[name] = r.kpis["tokens_spent_ct"]
        assert spent[name] >= bound - 1e-6 * abs(bound)
    plan = executable_plan(s)
    assert spent["optimal"] == pytest.approx(plan.cost_ct, rel=1e-6)
    if relaxation_is_tight(s):
        assert spent["optimal"] == pytest.approx(bound, rel=1e-6)
    assert spent["optimal"] < spent["none"]
    assert spent["weighted"] < spent["none"]


def test_observation_carries_the_evs_and_round_trips(ev_scenario):
    c = Community(ev_scenario)
    while c.t < 30:
        c.step(Levers())
    obs = c.observe()
    ev = ev_scenario.evs
    assert obs.ev_names == ev.names
    np.testing.assert_array_equal(obs.ev_connected, ev.connected[30])
    np.testing.assert_allclose(obs.ev_steps_left, ev.steps_left[30])
    back = Observation.from_dict(json.loads(json.dumps(obs.to_dict())))
    np.testing.assert_array_equal(back.ev_energy_kwh, obs.ev_energy_kwh)
    assert back.ev_names == obs.ev_names


def test_optimal_strategy_drives_each_charger(ev_scenario):
    strategy = OptimalStrategy(ev_scenario)
    connected = [t for t in range(48) if ev_scenario.evs.connected[t].any()]
    assert all(strategy.levers(t).ev_setpoints for t in connected)
