"""The look-ahead LP's cached matrix pattern (``optimize.lp._PATTERNS``): an LP assembled from
a pattern seen before is the LP a fresh assembly gives, bit for bit, and so is its plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from energy_agents.advisors import demand_forecaster, storage_optimizer
from energy_agents.optimize import lp as lp_module
from energy_agents.optimize.lp import GridTerms, LPArrays, PeakGroup, build_arrays
from energy_agents.optimize.planning import _small_solver, plan_horizon
from energy_agents.optimize.storages import LPStorage, Track
from energy_agents.scenarios import load_scenario
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim.community import Community
from energy_agents.sim.levers import Levers
from energy_agents.sim.objective import Objective
from energy_agents.sim.observation import Observation
from energy_agents.sim.params import Scenario, Tariff

FIXTURES = Path(__file__).parent / "fixtures"
T = TypeVar("T")


def _random_inputs(rng: np.random.Generator, T: int, split: int) -> dict:
    """A look-ahead LP's inputs: a pooled battery, an EV-like storage (a reset at ``split``),
    a tank-like one (standby loss, per-step coefficients), ramping, an import limit and two
    peak groups that meet at ``split`` (the structure); random values."""
    buy = rng.uniform(5, 40, T)
    feed = buy * rng.uniform(0.1, 0.9, T)
    reset = np.zeros(T, bool)
    reset[split] = True
    storages = [
        LPStorage("members", 3.0, (Track(0.95, 0.95, 1.0, 1.0, 9.0, rng.uniform(1, 9)),), 3.0),
        LPStorage(
            "ev:c0",
            7.0,
            (
                Track(
                    0.9,
                    0.9,
                    1.0,
                    np.zeros(T),
                    np.full(T, 40.0),
                    rng.uniform(0, 40),
                    reset=reset,
                    reset_value=np.where(reset, rng.uniform(0, 30), 0.0),
                ),
            ),
            7.0,
        ),
        LPStorage(
            "tank:t0",
            2.0,
            (
                Track(
                    1.0,
                    1.0,
                    1.0,
                    0.0,
                    10.0,
                    rng.uniform(0, 10),
                    retention=float(rng.uniform(0.9, 1.0)),
                    charge_coef=rng.uniform(2, 4, T),
                    discharge_coef=rng.uniform(2, 4, T),
                ),
            ),
            2.0,
            discharge_cap_kwh=rng.uniform(0, 2, T),
        ),
    ]
    steps = np.arange(T)
    terms = GridTerms(
        tokens=float(rng.uniform(0.5, 2)),
        import_cost=rng.uniform(0, 1, T),
        import_limit_kwh=float(rng.uniform(10, 20)),
        overrun_ct_per_kwh=50.0,
        ramping=float(rng.uniform(0, 1)),
        ramp_start_kwh=float(rng.uniform(-5, 5)),
        peaks=(
            PeakGroup(steps[:split], float(rng.uniform(0, 5)), "import", 1.0, 2.0),
            PeakGroup(steps[split:], float(rng.uniform(0, 5)), "net", 1.0, -np.inf),
        ),
    )
    return {
        "net_kwh": rng.uniform(-8, 12, T),
        "prices": (buy, buy, feed, feed),
        "storages": storages,
        "terms": terms,
        "terminal_value": rng.uniform(0, 10, len(storages)),
    }


def _arrays(inputs: dict) -> LPArrays:
    lp, _ = build_arrays(
        inputs["net_kwh"],
        inputs["prices"],
        inputs["storages"],
        terminal_value_ct_per_kwh=inputs["terminal_value"],
        terms=inputs["terms"],
    )
    return lp


def _assert_same_lp(a: LPArrays, b: LPArrays) -> None:
    assert (a.n_cols, a.n_rows) == (b.n_cols, b.n_rows)
    for f in ("cost", "col_lower", "col_upper", "row_lower", "row_upper", "start", "index"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    np.testing.assert_array_equal(a.value, b.value)


def _without_patterns(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with no pattern kept (the builder's from-scratch path); the kept ones
    restored after."""
    saved = dict(lp_module._PATTERNS)
    lp_module._PATTERNS.clear()
    try:
        return fn(*args)
    finally:
        lp_module._PATTERNS.clear()
        lp_module._PATTERNS.update(saved)


def _fresh(inputs: dict) -> LPArrays:
    return _without_patterns(_arrays, inputs)


def test_a_pattern_seen_before_gives_the_lp_and_plan_of_a_fresh_build() -> None:
    rng = np.random.default_rng(12)
    lp_module._PATTERNS.clear()
    for _ in range(40):
        T = int(rng.choice([6, 24]))
        split = int(rng.integers(1, T))  # where a day and an EV session end: the structure
        inputs = _random_inputs(rng, T, split)
        warm = _arrays(inputs)  # a pattern kept from an earlier draw of the same shape, or new
        _assert_same_lp(warm, _fresh(inputs))
        # and the plan: the same LP gives the same plan, from the cache or not
        args = (inputs["net_kwh"], inputs["prices"], inputs["storages"], inputs["terms"])
        cold = _without_patterns(plan_horizon, *args, inputs["terminal_value"])
        _arrays(_random_inputs(rng, T, split))  # the pattern kept, with other values
        again = plan_horizon(*args, inputs["terminal_value"])
        for f in ("charge_kwh", "discharge_kwh", "import_kwh", "export_kwh"):
            np.testing.assert_array_equal(getattr(cold, f), getattr(again, f), err_msg=f)
        assert cold.objective == again.objective
    assert 10 < len(lp_module._PATTERNS) < 40  # patterns were kept and reused


def test_pass_to_gives_the_model_of_the_highs_lp() -> None:
    """The array form of ``passModel`` (all columns continuous) and the ``HighsLp`` form
    hand HiGHS the same model and give the same optimum and solution."""
    inputs = _random_inputs(np.random.default_rng(3), 24, 10)
    lp = _arrays(inputs)
    h = _small_solver()
    out = []
    for how in ("arrays", "highs_lp"):
        h.clearModel()
        if how == "arrays":
            lp.pass_to(h)
        else:
            h.passModel(lp.highs_lp())
        model = h.getLp()
        assert (model.num_col_, model.num_row_) == (lp.n_cols, lp.n_rows)
        np.testing.assert_array_equal(np.asarray(model.a_matrix_.value_), lp.value)
        h.run()
        out.append((h.getInfo().objective_function_value, np.asarray(h.getSolution().col_value)))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


def _scenarios() -> list[Scenario]:
    tiny = tiny_scenario(5, 4, 96)
    return [
        dataclasses.replace(
            tiny,
            objective=Objective.parse("citylearn2022"),
            tariff=Tariff(demand_charge_ct_per_kw=10.0, import_limit_kw=6.0),
        ),
        load_scenario(f"citylearn:{FIXTURES / 'citylearn_ev_mini'}"),
        load_scenario(f"citylearn:{FIXTURES / 'citylearn_2023_mini'}"),
    ]


@pytest.mark.parametrize("k", range(3), ids=["tiny-2022-tariff", "ev_mini", "2023_mini"])
def test_storage_optimizer_plans_equal_from_scratch_on_random_observations(k: int) -> None:
    """On observations at random steps with random forecasts, the storage optimizer's
    recommendation with the patterns kept from all earlier look-aheads equals the one with
    none kept (the LP built from scratch)."""
    s = _scenarios()[k]
    rng = np.random.default_rng(k)
    c = Community(s)
    checked = reused = 0
    lp_module._PATTERNS.clear()
    while not c.done and checked < 25:
        for _ in range(int(rng.integers(0, 4))):
            if not c.done:
                c.step(Levers())
        if c.done:
            break
        obs = Observation.from_dict(c.observe().to_dict())
        forecast = dict(demand_forecaster.advise(obs).data)
        h = len(forecast["load_kwh"])
        forecast["load_kwh"] = (
            np.asarray(forecast["load_kwh"]) * rng.uniform(0.5, 1.5, h)
        ).tolist()
        forecast["pv_kwh"] = (np.asarray(forecast["pv_kwh"]) * rng.uniform(0.5, 1.5, h)).tolist()
        hits = len(lp_module._PATTERNS)
        warm = storage_optimizer.advise(obs, forecast)
        reused += len(lp_module._PATTERNS) == hits
        cold = _without_patterns(storage_optimizer.advise, obs, forecast)
        assert warm.levers == cold.levers
        assert warm.data == cold.data
        checked += 1
        c.step(Levers())
    assert checked >= 10
    assert reused >= 3  # some look-aheads assembled from a kept pattern


def test_blocks_join_as_the_filled_blocks_concatenated() -> None:
    """``_Blocks`` (scalars repeated at once, arrays placed, costs added in place) gives the
    array that concatenating each block filled on its own gives."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        blocks = lp_module._Blocks()
        filled = []
        for _ in range(int(rng.integers(0, 12))):
            size = int(rng.integers(1, 30))
            kind = rng.integers(0, 4)
            value: object = (
                float(rng.normal())
                if kind == 0
                else int(rng.integers(-3, 3))
                if kind == 1
                else np.inf
                if kind == 2
                else rng.normal(size=size)
            )
            blocks.append(value, size)
            filled.append(lp_module._filled(value, size))
        want = np.concatenate(filled) if filled else np.zeros(0)
        if want.size:
            at = int(rng.integers(0, want.size))
            end = min(want.size, at + int(rng.integers(1, 10)))
            # within the block that holds ``at`` (how the builder adds a block's costs)
            stop = np.cumsum([f.size for f in filled])
            end = min(end, int(stop[np.searchsorted(stop, at, side="right")]))
            extra = rng.normal(size=end - at)
            assert blocks.add(at, extra)
            want[at:end] += extra
        assert not blocks.add(want.size, np.ones(1))
        np.testing.assert_array_equal(blocks.joined(), want)
