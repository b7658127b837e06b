"""Step rate of ``CommunityEnv`` (random actions) at 5 and 100 members: docs/performance.md."""

from __future__ import annotations

import time

from energy_agents.gym import CommunityEnv
from energy_agents.scenarios.tiny import tiny_scenario


def main() -> None:
    print("| members | steps | env steps/s |")
    print("|---|---|---|")
    for n in (5, 100):
        env = CommunityEnv(tiny_scenario(0, n, 24 * 14))
        env.reset(seed=0)
        env.action_space.seed(0)
        actions = [env.action_space.sample() for _ in range(env.scenario.n_steps)]
        t0 = time.perf_counter()
        for a in actions:
            env.step(a)
        dt = time.perf_counter() - t0
        print(f"| {n} | {len(actions)} | {len(actions) / dt:,.0f} |")


if __name__ == "__main__":
    main()
