"""The grid and the climate: the CityLearn 2022 terms on hand-made series, the tariff's demand
charge and connection limit in the step, objectives (presets, parsing, errors), the LP bound
on every objective, and limits the storages could have kept."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from energy_agents.coordination.registry import STRATEGIES
from energy_agents.optimize.lp import lp_lower_bound
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario, with_tariff_and_objective
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import grid
from energy_agents.sim.community import Community
from energy_agents.sim.levers import Levers
from energy_agents.sim.objective import PRESETS, Objective, ObjectiveError
from energy_agents.sim.params import ScenarioError, Tariff

FIXTURE = "tests/fixtures/citylearn_mini"


# ----------------------------------------------------------------- the 2022 terms, known values
def test_net_terms_known_values():
    e = np.array([1.0, -2.0, 3.0, 0.0])
    price = np.array([0.5, 0.5, 1.0, 2.0])
    ci = np.array([0.1, 0.2, 0.3, 0.4])
    t = grid.net_terms(e, price, ci, dt_h=1.0, steps_per_day=2)
    assert t.cost == pytest.approx(0.5 + 3.0)  # max(E p, 0)
    assert t.carbon == pytest.approx(0.1 + 0.9)
    assert t.ramping == pytest.approx(3 + 5 + 3)
    # one block (4 < 730 steps): 1 - mean/max = 1 - 0.5 / 3
    assert t.one_minus_load_factor == pytest.approx(1 - 0.5 / 3)
    assert t.all_time_peak == 3.0
    assert t.mean_daily_peak == pytest.approx((1.0 + 3.0) / 2)


def test_load_factor_uses_730_hour_blocks_and_a_short_last_block():
    """8,784 hours (a leap year): twelve 730-hour blocks and a 13th of 24 hours, each a block
    of its own (CityLearn groups by int(t / 730))."""
    n = 8784
    e = np.ones(n)
    blocks = np.arange(n) // 730
    e[blocks % 2 == 0] = 2.0  # every even block: flat at 2 -> load factor 1
    e[(blocks % 2 == 1) & (np.arange(n) % 730 == 0)] = 5.0  # odd blocks: one spike to 5
    t = grid.net_terms(e, np.ones(n), np.ones(n), dt_h=1.0, steps_per_day=24)
    assert t.block_max.size == 13
    odd = 1 - (729 * 1.0 + 5.0) / 730 / 5.0
    expected = (7 * 0.0 + 6 * odd) / 13  # blocks 0, 2, ..., 12 even (7), 1, ..., 11 odd (6)
    assert t.one_minus_load_factor == pytest.approx(expected)
    # a 15-minute year: the blocks are 2,920 steps
    assert grid.block_steps(0.25) == 2920


def test_citylearn_2022_score_is_the_mean_of_c_g_and_d():
    ref = grid.net_terms(np.array([2.0, 4.0, 2.0, 4.0]), np.ones(4), np.ones(4), 1.0, 24)
    run = grid.net_terms(np.array([3.0, 3.0, 3.0, 3.0]), np.ones(4), np.ones(4), 1.0, 24)
    s = grid.citylearn_2022(run, ref)
    assert s["C"] == pytest.approx(12 / 12) and s["G"] == pytest.approx(1.0)
    assert s["R"] == pytest.approx(0.0)  # a flat run does not ramp
    assert s["one_minus_L"] == pytest.approx(0.0)  # nor has a load factor below 1
    assert s["D"] == pytest.approx(0.0)
    assert s["score"] == pytest.approx((1 + 1 + 0) / 3)


def test_citylearn_2022_kpi_equals_an_independent_computation_from_steps_parquet(tmp_path):
    """``kpis.json``'s ``citylearn_2022`` against pandas on ``steps.parquet`` with CityLearn
    2022's definitions (the no-control run's net from the raw files: load - PV per member)."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "energy_agents", "simulate", "--scenario", f"citylearn:{FIXTURE}",
         "--strategy", "weighted", "--objective", "citylearn2022", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kpis = json.loads((out / "kpis.json").read_text())
    steps = pd.read_parquet(out / "steps.parquet")
    s = load_scenario(f"citylearn:{FIXTURE}")
    e0 = (s.load_kwh - s.pv_kwh).sum(axis=1)

    def terms(e: pd.Series) -> tuple[float, float, float, float]:
        p, ci = steps["price_day_ahead"], steps["carbon_kg_per_kwh"]
        c = (e * p).clip(lower=0).sum()
        g = (e * ci).clip(lower=0).sum()
        r = e.diff().abs().sum()
        frame = pd.DataFrame({"e": e, "group": [i // 730 for i in range(len(e))]})
        agg = frame.groupby("group")["e"].agg(["mean", "max"])
        return c, g, r, float((1 - agg["mean"] / agg["max"]).mean())

    c, g, r, lf = terms(steps["net_kwh"])
    c0, g0, r0, lf0 = terms(pd.Series(e0))
    got = kpis["citylearn_2022"]
    assert got["C"] == pytest.approx(c / c0, rel=1e-9)
    assert got["G"] == pytest.approx(g / g0, rel=1e-9)
    assert got["R"] == pytest.approx(r / r0, rel=1e-9)
    assert got["one_minus_L"] == pytest.approx(lf / lf0, rel=1e-9)
    score = (c / c0 + g / g0 + (r / r0 + lf / lf0) / 2) / 3
    assert got["score"] == pytest.approx(score, rel=1e-9)


# ------------------------------------------------------------------------------ the tariff
def _one_member(load: list[float], pv: list[float], tariff: Tariff, start: str) -> Community:
    s = tiny_scenario(0, 1, len(load), n_community_storages=0, flexible_share=0.0)
    s = dataclasses.replace(
        s,
        start=start,
        load_kwh=np.asarray(load, float)[:, None],
        pv_kwh=np.asarray(pv, float)[:, None],
        member_batteries=dataclasses.replace(
            s.member_batteries, capacity_kwh=np.zeros(1), power_kw=np.zeros(1)
        ),
        tariff=tariff,
        carbon_kg_per_kwh=np.full(len(load), 0.5),
    )
    return Community(s)


def test_demand_charge_is_billed_on_each_months_peak_at_its_last_step():
    # 2024-01-31 22:00 .. 2024-02-01 01:00: two steps in January, two in February.
    c = _one_member(
        [2.0, 5.0, 1.0, 3.0], [0.0] * 4, Tariff(demand_charge_ct_per_kw=10.0), "2024-01-31T22:00:00"
    )
    while not c.done:
        c.step(Levers())
    dc = c.results["demand_charge_ct"]
    assert_allclose(dc, [0.0, 50.0, 0.0, 30.0])
    assert_allclose(c.results["carbon_kg"], [1.0, 2.5, 0.5, 1.5])
    spent = c.results["tokens_spent_ct"]
    assert_allclose(spent - c.results["grid_cost_ct"], 0.0)  # no burn: tokens = grid cost
    assert c.max_token_error < 1e-9


def test_connection_limit_curtails_export_and_prices_the_import_above_it():
    tariff = Tariff(import_limit_kw=3.0, export_limit_kw=2.0, overrun_ct_per_kwh=1.0)
    c = _one_member([5.0, 0.0], [0.0, 4.5], tariff, "2024-06-01T00:00:00")
    c.step(Levers(procurement_kwh=5.0))
    c.step(Levers())
    r = c.results
    assert_allclose(r["overrun_kwh"], [2.0, 0.0])
    assert_allclose(r["overrun_ct"], [2.0, 0.0])
    assert_allclose(r["curtailed_kwh"], [0.0, 2.5])
    assert_allclose(r["export_kwh"], [0.0, 2.0])
    assert_allclose(r["net_kwh"], [5.0, -2.0])  # the district's net after curtailment
    assert c.max_energy_error < 1e-9 and c.max_token_error < 1e-9
    k = run_batch(c.scenario, "none").kpis
    assert k["limit_violation_kwh"] == pytest.approx(2.0) and k["limit_violation_steps"] == 1
    assert k["curtailed_kwh"] == pytest.approx(2.5)


def test_bad_tariff_components_are_refused_with_the_field_named():
    with pytest.raises(ScenarioError, match="tariff.import_limit_kw"):
        Tariff(import_limit_kw=0.0)
    with pytest.raises(ScenarioError, match="tariff.demand_charge_period"):
        Tariff(demand_charge_period="week")
    with pytest.raises(ScenarioError, match="tariff.demand_charge_ct_per_kw"):
        Tariff(demand_charge_ct_per_kw=-1.0)
    with pytest.raises(ScenarioError, match="tariff.price: unknown"):
        Tariff.from_dict({"price": 1.0})


# --------------------------------------------------------------------------- the objective
def test_objective_presets_and_overrides():
    assert Objective.parse("cost") == PRESETS["cost"]
    o = Objective.parse("citylearn2022")
    assert (o.cost_share, o.carbon_share, o.ramping_share, o.load_factor_share) == pytest.approx(
        (1 / 3, 1 / 3, 1 / 6, 1 / 6)
    )
    mixed = Objective.parse("carbon,peak_ct_per_kw=0.5")
    assert mixed.carbon_ct_per_kg == pytest.approx(0.19) and mixed.peak_ct_per_kw == 0.5
    assert Objective.parse("ramping_ct_per_kwh=0.1").tokens == 1.0  # from ``cost``


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("fastest", "objective: unknown preset 'fastest'"),
        ("cost,speed=1", "objective.speed: unknown weight"),
        ("cost,tokens=abc", "objective.tokens: 'abc' is not a number"),
        ("cost,tokens=-1", "objective.tokens: must be a finite number >= 0"),
        ("tokens=0", "objective: every weight is 0"),
    ],
)
def test_bad_objectives_name_the_field(text, field):
    with pytest.raises(ObjectiveError, match=field.replace(".", r"\.").replace("'", ".")):
        Objective.parse(text)


def test_cli_refuses_a_bad_objective_with_exit_code_1():
    done = subprocess.run(
        [sys.executable, "-m", "energy_agents", "simulate", "--scenario", f"citylearn:{FIXTURE}",
         "--objective", "cost,carbon_ct_per_kg=x", "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "objective.carbon_ct_per_kg" in done.stderr and "Traceback" not in done.stderr


OBJECTIVES = ("cost", "carbon", "citylearn2022", "cost,peak_ct_per_kw=0.3,ramping_ct_per_kwh=0.05")
TARIFF = {"demand_charge_ct_per_kw": 2.0, "import_limit_kw": 4.0, "overrun_ct_per_kwh": 1.0}


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("seed", [1, 2])
def test_lp_bound_holds_for_every_objective_against_every_strategy(objective, seed):
    s = tiny_scenario(seed, 3, 48, flexible_share=0.2)
    s = dataclasses.replace(s, carbon_kg_per_kwh=np.random.default_rng(seed).uniform(0.1, 0.5, 48))
    s = with_tariff_and_objective(s, TARIFF, objective)
    bound = lp_lower_bound(s).cost_ct
    for name in STRATEGIES:
        value = run_batch(s, name).kpis["objective_value"]
        assert value >= bound - 1e-6 * max(1.0, abs(bound)), (objective, name, value, bound)


def test_weighted_keeps_the_import_limit_wherever_the_storages_could():
    """On the synthetic default with a tight import limit (0.8 kW per member: the no-control
    run is above it at 43 steps of three weeks): at every step above the limit, no storage
    charged and every storage was already at its discharge limit, its power or its minimum
    energy: nothing could have prevented it."""
    s = load_scenario("synthetic", members=10, days=21, tariff={"import_limit_kw": 8.0})
    assert (run_batch(s, "none").community.results["overrun_kwh"] > 1e-9).sum() > 10
    run = run_batch(s, "weighted")
    c, r = run.community, run.community.results
    cs, mb = s.community_storages, s.member_batteries
    power = {n: float(cs.power_kw[k]) * s.dt_h for k, n in enumerate(cs.names)}
    power["members"] = float(mb.power_kw.sum()) * s.dt_h
    soc_min = {n: float(cs.soc_min[k]) for k, n in enumerate(cs.names)}
    soc_min["members"] = float((mb.soc_min * mb.capacity_kwh).sum() / mb.capacity_kwh.sum())
    for t in np.flatnonzero(r["overrun_kwh"] > 1e-9):
        for name in c.storage_names:
            flow = r[f"flow_{name}_kwh"][t]
            assert flow <= 1e-9, (t, name, flow)
            at_power = flow <= -power[name] + 1e-6
            empty = r[f"soc_{name}"][t] <= soc_min[name] + 1e-6
            assert at_power or empty, (t, name, flow, r[f"soc_{name}"][t])
