"""A Gymnasium environment on the community model (docs/gym.md). Needs the ``gym`` extra;
``CommunityParallelEnv`` (PettingZoo) is imported from ``energy_agents.gym.multi``."""

from .env import CommunityEnv, strategy_policy

__all__ = ["CommunityEnv", "strategy_policy"]
