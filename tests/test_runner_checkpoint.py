"""The runner's checkpoint: a torn line, another run, and an exact resume by replay."""

from __future__ import annotations

import numpy as np
import pytest

from energy_agents.runner.batch import run_batch
from energy_agents.runner.checkpoint import Checkpoint, CheckpointMismatch, RunnerBusy
from energy_agents.runner.live import LiveRunner, RunnerConfig, load_run_scenario


def test_checkpoint_ignores_a_torn_line_and_refuses_another_run(tmp_path):
    cp = Checkpoint(tmp_path)
    assert cp.open_run({"scenario": "tiny", "strategy": "seed"}) == []
    cp.append({"step": 0, "levers": {}})
    cp.append({"step": 1, "levers": {}})
    with cp.steps_file.open("a") as f:
        f.write('{"step": 2, "lev')
    assert [s["step"] for s in cp.steps()] == [0, 1]
    with pytest.raises(CheckpointMismatch):
        cp.open_run({"scenario": "tiny", "strategy": "none"})


def test_resume_replays_the_applied_levers_exactly(tmp_path):
    spec = {"scenario": "tiny", "members": 4, "days": 2, "seed": 3}
    scenario = load_run_scenario(spec)
    batch = run_batch(scenario, "seed", keep_decisions=True)
    cp = Checkpoint(tmp_path)
    cp.open_run(dict(spec, strategy="seed"))
    k = 30
    for t, dec in enumerate(batch.decisions[:k]):
        cp.append({"step": t, "levers": dec.parameters.to_dict(), "decision": {}})
    cfg = RunnerConfig(server_url="http://127.0.0.1:9", data_dir=tmp_path, strategy="seed")
    runner = LiveRunner(cfg, scenario, client=None, spec=spec, say=lambda s: None)
    assert runner.resume() == k
    for col, values in runner.community.results.items():
        np.testing.assert_array_equal(values[:k], batch.community.results[col][:k], err_msg=col)
    np.testing.assert_array_equal(runner.community.member_energy, _energy_after(scenario, batch, k))
    assert runner.last_record["step"] == k - 1
    assert runner.kpis()["steps"] == k


def _energy_after(scenario, batch, k):
    from energy_agents.sim.community import Community

    c = Community(scenario)
    for dec in batch.decisions[:k]:
        c.step(dec.parameters)
    return c.member_energy


def test_a_second_runner_on_the_same_data_dir_is_refused(tmp_path):
    first = Checkpoint(tmp_path)
    first.lock()
    with pytest.raises(RunnerBusy):
        Checkpoint(tmp_path).lock()
