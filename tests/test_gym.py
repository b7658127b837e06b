"""The Gymnasium environment: API, spaces, reward = the objective's step term, equivalence."""

from __future__ import annotations

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from energy_agents.gym import CommunityEnv, strategy_policy  # noqa: E402
from energy_agents.runner.batch import run_batch  # noqa: E402
from energy_agents.scenarios import with_tariff_and_objective  # noqa: E402
from energy_agents.scenarios.tiny import tiny_scenario  # noqa: E402
from energy_agents.sim import grid  # noqa: E402


def test_check_env_passes():
    check_env(CommunityEnv(tiny_scenario(0, 4, 48)), skip_render_check=True)


def test_spaces_follow_the_member_count():
    for n in (3, 7):
        env = CommunityEnv(tiny_scenario(1, n, 48))
        obs, _ = env.reset(seed=0)
        assert obs["member_soc"].shape == (n,)
        assert obs["member_hist_load_kwh"].shape == (24, n)
        assert env.action_space["storage_setpoints"].shape == (len(env.scenario.storage_names),)
        assert obs in env.observation_space


def test_boxes_are_clipped_and_bad_actions_named():
    env = CommunityEnv(tiny_scenario(0, 4, 48))
    env.reset(seed=0)
    a = env.action_space.sample()
    a["storage_setpoints"] = np.full_like(a["storage_setpoints"], 5.0)
    a["burn_rate"] = np.array([-3.0])
    lv = env.decode(a)
    assert all(v == 1.0 for v in lv.storage_setpoints.values())
    assert lv.burn_rate_ct_per_kwh == 0.0
    with pytest.raises(ValueError, match="action.procurement: must be finite"):
        env.step({**a, "procurement": np.array([np.nan])})
    with pytest.raises(ValueError, match="action.p2p_price_rule"):
        env.step({**a, "p2p_price_rule": 9})
    with pytest.raises(ValueError, match="missing"):
        env.step({"burn_rate": np.array([0.0])})


@pytest.mark.parametrize(
    "objective", ["cost", "carbon", "citylearn2022", "cost,peak_ct_per_kw=3,ramping_ct_per_kwh=0.5"]
)
def test_reward_is_minus_the_objective_step_term(objective):
    s = with_tariff_and_objective(tiny_scenario(2, 4, 48), None, objective)
    env = CommunityEnv(s)
    env.reset(seed=0)
    w = grid.scenario_weights(s)
    r = env.community.results
    env.action_space.seed(0)
    prev = 0.0
    total = 0.0
    done = False
    while not done:
        _, reward, done, _, _ = env.step(env.action_space.sample())
        n = env.community.t
        j = grid.objective_value(
            w,
            float(r["tokens_spent_ct"][:n].sum()),
            r["import_kwh"][:n],
            r["net_kwh"][:n],
            s.dt_h,
            s.steps_per_day,
        )
        assert reward == pytest.approx(-(j - prev), rel=1e-9, abs=1e-9)
        prev, total = j, total + reward
    assert total == pytest.approx(-env.kpis()["objective_value"], rel=1e-9)


@pytest.mark.parametrize("name", ["none", "seed", "weighted", "optimal"])
def test_strategy_episode_matches_run_batch(name):
    s = tiny_scenario(2, 5, 72)  # (``optimal``: 5 battery models, each its battery_setpoints)
    env = CommunityEnv(s)
    obs, _ = env.reset(seed=0)
    policy = strategy_policy(env, name)
    done = False
    while not done:
        obs, _, done, _, _ = env.step(policy(obs))
    got, want = env.kpis(), run_batch(s, name).kpis
    for key, v in want.items():
        if isinstance(v, float) and key != "forecast_mae_kwh":  # the forecaster's own figure
            assert got[key] == pytest.approx(v, rel=1e-9, abs=1e-9), key


def test_observations_stay_in_finite_bounds_under_random_actions():
    """Every bound follows from the physics or the scenario's inputs; random actions (grid
    charging, burns, P2P off and on) never leave the space. Only token balances are unbounded."""
    env = CommunityEnv(tiny_scenario(2, 5, 72))
    env.action_space.seed(3)
    obs, _ = env.reset(seed=0)
    space = env.observation_space
    unbounded = {
        k
        for k, sp in space.items()
        if not (np.isfinite(sp.low).all() and np.isfinite(sp.high).all())
    }
    assert unbounded == {"balances_ct", "token_supply_ct", "cumulative_cost_ct"}
    assert space["storage_soc"].high.max() == 1.0 and space["hour"].high.max() == 23.0
    done = False
    while not done:
        assert obs in space, [k for k in obs if obs[k] not in space[k]]
        obs, _, done, _, _ = env.step(env.action_space.sample())
    assert obs in space


@pytest.fixture(scope="module")
def ev_homes():
    from energy_agents.scenarios import load_scenario

    return load_scenario("citylearn:tests/fixtures/citylearn_ev_mini", days=4)


def test_ev_chargers_in_the_spaces(ev_homes):
    env = CommunityEnv(ev_homes)
    check_env(env, skip_render_check=True)
    assert env.action_space["ev_setpoints"].shape == (3,)
    env.action_space.seed(5)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:  # random charger actions: in the spaces, and no departure missed
        assert obs in env.observation_space
        obs, _, done, _, _ = env.step(env.action_space.sample())
    assert env.kpis()["ev_short_departures"] == 0


@pytest.mark.parametrize("name", ["none", "weighted"])
def test_ev_episode_matches_run_batch(ev_homes, name):
    env = CommunityEnv(ev_homes)
    obs, _ = env.reset(seed=0)
    policy = strategy_policy(env, name)
    done = False
    while not done:
        obs, _, done, _, _ = env.step(policy(obs))
    got, want = env.kpis(), run_batch(ev_homes, name).kpis
    for key in ("tokens_spent_ct", "ev_charged_kwh", "carbon_kg"):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), key


@pytest.fixture(scope="module")
def tank_homes():
    from energy_agents.scenarios import load_scenario

    return load_scenario("citylearn:tests/fixtures/citylearn_2023_mini", days=3)


def test_thermal_tanks_in_the_spaces(tank_homes):
    env = CommunityEnv(tank_homes)
    check_env(env, skip_render_check=True)
    n = tank_homes.tanks.n
    assert n > 0 and env.action_space["thermal_setpoints"].shape == (n,)
    assert (
        env.observation_space["tank_energy_kwh"].high.max() == tank_homes.tanks.capacity_kwh.max()
    )
    env.action_space.seed(7)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:  # random tank actions (with the exchange bound's tank term) stay in the space
        assert obs in env.observation_space, [
            k for k in obs if obs[k] not in env.observation_space[k]
        ]
        action = env.action_space.sample()
        obs, _, done, _, _ = env.step(action)
        e = env.observation.tank_energy_kwh
        assert np.all(e >= -1e-9) and np.all(e <= tank_homes.tanks.capacity_kwh + 1e-9)
    assert obs in env.observation_space


def test_thermal_setpoints_round_trip(tank_homes):
    from energy_agents.sim.levers import Levers

    env = CommunityEnv(tank_homes)
    names = tank_homes.tanks.names
    levers = Levers(thermal_setpoints={n: (-1) ** k * 0.25 for k, n in enumerate(names)})
    assert dict(env.decode(env.encode(levers)).thermal_setpoints) == dict(levers.thermal_setpoints)
    assert env.decode(env.encode(Levers())).thermal_setpoints == {}


@pytest.mark.parametrize("name", ["optimal", "weighted"])
def test_tank_episode_matches_run_batch(tank_homes, name):
    """`optimal` and `weighted` drive the tanks: through the env's actions (the observation's
    tank history included), the same run as run_batch's."""
    env = CommunityEnv(tank_homes)
    obs, _ = env.reset(seed=0)
    policy = strategy_policy(env, name)
    done = False
    while not done:
        obs, _, done, _, _ = env.step(policy(obs))
    got, want = env.kpis(), run_batch(tank_homes, name).kpis
    assert want["tank_charged_kwh_th"] > 0  # the tanks did move
    for key in (
        "tokens_spent_ct",
        "tank_charged_kwh_th",
        "tank_electricity_kwh",
        "carbon_kg",
        "objective_value",
    ):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), key
