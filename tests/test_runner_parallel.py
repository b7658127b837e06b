"""Strategies side by side in worker processes give what one process gives (``compare --jobs``)."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from energy_agents.coordination.registry import UnknownStrategyError
from energy_agents.runner.timed import run_strategies
from energy_agents.scenarios.tiny import tiny_scenario


def test_worker_processes_give_the_sequential_results():
    scenario = tiny_scenario(seed=4, n_members=4, n_steps=24 * 3)
    names = ["weighted", "optimal", "mpc"]
    one = run_strategies(scenario, names, baseline_spent_ct=None, jobs=1, progress=False)
    two = run_strategies(scenario, names, baseline_spent_ct=None, jobs=2, progress=False)
    assert list(two) == names  # the order asked, whichever finished first
    for name in names:
        a, b = one[name], two[name]
        assert a.strategy == b.strategy == name
        assert {k for k in a.kpis} == {k for k in b.kpis}
        for key, value in a.kpis.items():
            if key != "wall_s":
                assert b.kpis[key] == value, (name, key)
        assert list(a.steps) == list(b.steps)
        for col, values in a.steps.items():
            np.testing.assert_array_equal(values, b.steps[col], err_msg=f"{name}.{col}")
    # optimal reports its bound on its first decision, across the process boundary too
    assert (
        one["optimal"].first_decision_data["lp_bound_ct"]
        == (two["optimal"].first_decision_data["lp_bound_ct"])
    )
    assert (
        one["optimal"].kpis["tokens_spent_ct"]
        >= one["optimal"].first_decision_data["lp_bound_ct"] - 1e-6
    )


def test_an_error_in_a_worker_reaches_the_caller_and_stops_the_others():
    scenario = tiny_scenario(seed=4, n_members=2, n_steps=24 * 2)
    with pytest.raises(UnknownStrategyError, match="no_such_strategy"):
        run_strategies(
            scenario,
            ["no_such_strategy", "weighted", "mpc"],
            baseline_spent_ct=None,
            jobs=2,
            progress=False,
        )
    assert not multiprocessing.active_children()  # the pool's workers are gone
