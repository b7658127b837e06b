"""``load_scenario``: spec dispatch, common options, and a run through the batch engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario
from energy_agents.sim.params import ScenarioError

FIXTURE = Path(__file__).parent / "fixtures" / "citylearn_mini"


@pytest.mark.parametrize("spec", ["", "tiny", "synthetic:x", "citylearn:", "csv:", "parquet:a.pq"])
def test_unknown_spec_named(spec):
    with pytest.raises(ScenarioError, match="scenario") as info:
        load_scenario(spec)
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"members": 0}, "members"),
        ({"days": 0}, "days"),
        ({"flexible_share": -0.1}, "flexible_share"),
    ],
)
def test_bad_options_named(kwargs, field):
    with pytest.raises(ScenarioError, match=field):
        load_scenario("synthetic", **kwargs)


def test_days_longer_than_data_keeps_all():
    s = load_scenario(f"citylearn:{FIXTURE}", days=100)
    assert s.n_steps == 336


def test_spec_kind_case_insensitive():
    assert load_scenario(f"CityLearn:{FIXTURE}", days=1).n_steps == 24


def test_synthetic_runs_through_engine():
    s = load_scenario("synthetic", members=10, days=7, seed=2)
    run = run_batch(s, "none")
    assert run.kpis["steps"] == 168
    assert run.kpis["members"] == 10
    assert run.kpis["max_energy_balance_error_kwh"] < 1e-9
    assert run.kpis["max_token_conservation_error_ct"] < 1e-6
