"""``CommunityParallelEnv``: the community as a PettingZoo parallel env, the advisors' roles as agents.

Each role sets the levers its live advisor recommends (``ROLE_ACTIONS``); the joint action is
the union of the roles' parts, decoded and stepped exactly as :class:`CommunityEnv` does, so one
parallel step is one model step of the batch loop. The community is one team: every agent gets
the same reward (minus the step's increase of the objective ``J``) and the same observation.

The demand forecaster is not an agent here: it sets no lever (live, its forecast informs the
other four), so an action space of its own would be a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..sim.params import Scenario
from .env import CommunityEnv

ROLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "token_economist": ("burn_rate",),
    "grid_trader": ("procurement",),
    "storage_optimizer": (
        "storage_setpoints",
        "storage_follow",
        "home_batteries_pooled",
        "exchange_target",
        "exchange_target_set",
        "battery_setpoints",  # these two only with home batteries
        "battery_setpoints_set",
        "ev_setpoints",  # these two only with EV chargers
        "ev_setpoints_set",
        "appliance_start",  # these two only with flexible appliances
        "appliance_start_set",
        "thermal_setpoints",  # these two only with thermal storage tanks
        "thermal_setpoints_set",
    ),
    "p2p_trader": ("p2p_enabled", "p2p_price_rule"),
}
"""Which keys of ``CommunityEnv``'s action space each role sets (docs/gym.md)."""


class CommunityParallelEnv(ParallelEnv[str, dict[str, np.ndarray], dict[str, Any]]):
    """Four cooperative agents on one :class:`CommunityEnv` (docs/gym.md)."""

    metadata: dict[str, Any] = {"name": "energy_community_v0", "render_modes": []}

    def __init__(self, scenario: Scenario) -> None:
        self.env = CommunityEnv(scenario)
        joint = self.env.action_space
        self.role_actions = {
            a: tuple(k for k in keys if k in joint.spaces) for a, keys in ROLE_ACTIONS.items()
        }
        owned = [k for keys in self.role_actions.values() for k in keys]
        # Every lever has exactly one owner, so the joint action is always complete.
        assert sorted(owned) == sorted(joint.spaces), "ROLE_ACTIONS must partition the levers"
        self.possible_agents = list(ROLE_ACTIONS)
        self.agents: list[str] = []
        self.render_mode = None
        self._action_spaces = {
            a: spaces.Dict({k: joint[k] for k in keys}) for a, keys in self.role_actions.items()
        }

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self.env.observation_space

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self._action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        obs, info = self.env.reset(seed=seed, options=options)
        for i, a in enumerate(self.possible_agents):  # reproducible sampling per agent
            self._action_spaces[a].seed(None if seed is None else seed + i)
        self.agents = list(self.possible_agents)
        return {a: obs for a in self.agents}, {a: dict(info) for a in self.agents}

    def step(
        self, actions: Mapping[str, Mapping[str, Any]]
    ) -> tuple[
        dict[str, dict[str, np.ndarray]],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        if not self.agents:
            raise RuntimeError("the episode is over; call reset()")
        missing = sorted(set(self.agents) - set(actions))
        unknown = sorted(set(actions) - set(self.agents))
        if missing or unknown:
            raise ValueError(f"actions: missing agents {missing}, unknown agents {unknown}")
        joint: dict[str, Any] = {}
        for agent in self.agents:
            part = actions[agent]
            keys = self.role_actions[agent]
            if not isinstance(part, Mapping) or set(part) != set(keys):
                raise ValueError(f"actions.{agent}: must be a dict with keys {keys}")
            joint.update(part)
        obs, reward, done, truncated, info = self.env.step(joint)
        agents = self.agents
        if done or truncated:
            self.agents = []
        return (
            {a: obs for a in agents},
            {a: reward for a in agents},
            {a: done for a in agents},
            {a: truncated for a in agents},
            {a: dict(info) for a in agents},
        )

    def split(self, action: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The per-agent actions of a joint ``CommunityEnv`` action (e.g. a strategy's)."""
        return {a: {k: action[k] for k in keys} for a, keys in self.role_actions.items()}
