"""The PettingZoo parallel env: API test, the roles partition the levers, strategy equivalence."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
from pettingzoo.test import parallel_api_test  # noqa: E402

from energy_agents.gym import strategy_policy  # noqa: E402
from energy_agents.gym.multi import ROLE_ACTIONS, CommunityParallelEnv  # noqa: E402
from energy_agents.runner.batch import run_batch  # noqa: E402
from energy_agents.scenarios.tiny import tiny_scenario  # noqa: E402


def test_parallel_api_test_passes():
    parallel_api_test(CommunityParallelEnv(tiny_scenario(0, 4, 48)), num_cycles=60)


def test_each_role_sets_its_own_levers():
    env = CommunityParallelEnv(tiny_scenario(0, 4, 48))
    env.reset(seed=0)
    assert env.possible_agents == list(ROLE_ACTIONS)
    acts = {a: env.action_space(a).sample() for a in env.agents}
    acts["token_economist"] = {"burn_rate": np.array([1.0])}
    acts["p2p_trader"] = {"p2p_enabled": 1, "p2p_price_rule": 1}
    env.step(acts)
    joint = {k: v for part in acts.values() for k, v in part.items()}
    levers = env.env.decode(joint)
    assert levers.burn_rate_ct_per_kwh == env.env.scenario.max_burn_rate_ct_per_kwh
    assert levers.p2p_enabled and levers.p2p_price_rule == "sdr"


def test_bad_joint_actions_are_named():
    env = CommunityParallelEnv(tiny_scenario(0, 4, 48))
    env.reset(seed=0)
    acts = {a: env.action_space(a).sample() for a in env.agents}
    with pytest.raises(ValueError, match="missing agents \\['grid_trader'\\]"):
        env.step({a: v for a, v in acts.items() if a != "grid_trader"})
    with pytest.raises(ValueError, match="actions.token_economist"):
        env.step({**acts, "token_economist": {"procurement": np.array([0.0])}})


def test_team_rewards_equal_and_episode_matches_run_batch():
    s = tiny_scenario(3, 5, 72)
    env = CommunityParallelEnv(s)
    obs, _ = env.reset(seed=0)
    policy = strategy_policy(env.env, "weighted")
    total = 0.0
    while env.agents:
        obs, rewards, *_ = env.step(env.split(policy(obs)))
        assert len(set(rewards.values())) == 1
        total += next(iter(rewards.values()))
    want = run_batch(s, "weighted").kpis
    assert total == pytest.approx(-want["objective_value"], rel=1e-9)
    assert env.env.kpis()["tokens_spent_ct"] == pytest.approx(want["tokens_spent_ct"], rel=1e-9)


def test_the_storage_optimizer_owns_the_chargers():
    from energy_agents.scenarios import load_scenario

    env = CommunityParallelEnv(load_scenario("citylearn:tests/fixtures/citylearn_ev_mini", days=2))
    parallel_api_test(env, num_cycles=30)
    assert "ev_setpoints" in env.action_space("storage_optimizer").spaces
