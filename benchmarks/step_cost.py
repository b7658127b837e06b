"""The step loop's fixed cost: microseconds per step of ``observe -> coordinate -> step``.

Runs with the project's venv; compare two source trees side by side by alternating them in one
shell invocation (``PYTHONPATH=OTHER/src``)::

    .venv/bin/python benchmarks/step_cost.py \
        [--dataset ../shared/data/citylearn_challenge_2022_phase_1] [--strategy none] [--runs 9]

Times the batch loop only (the scenario is loaded once before, the KPIs are not computed), once
per run on a fresh ``Community``, and prints the minimum and the median over the runs: on a
small community (the five CityLearn homes) the loop's cost is the per-step Python overhead
that issue 12 targets (<= 30 us).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

DEFAULT_DATASET = str(
    Path(
        os.environ.get("ENERGY_AGENTS_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    / "citylearn_challenge_2022_phase_1"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=DEFAULT_DATASET)
    p.add_argument("--strategy", default="none")
    p.add_argument("--runs", type=int, default=9)
    args = p.parse_args(argv)
    if not Path(args.dataset, "schema.json").is_file():
        print(f"step_cost: --dataset {args.dataset}: no schema.json there", file=sys.stderr)
        return 1
    from energy_agents.coordination.registry import make_strategy
    from energy_agents.coordination.step import coordinate
    from energy_agents.runner.batch import apply_decision
    from energy_agents.scenarios import load_scenario
    from energy_agents.sim.community import Community

    scenario = load_scenario(f"citylearn:{args.dataset}")
    per_step = []
    for _ in range(max(1, args.runs)):
        strategy, community, state = make_strategy(args.strategy, scenario), Community(scenario), {}
        t0 = time.perf_counter()
        while not community.done:
            decision, _, state = coordinate(strategy, community.observe(), state)
            apply_decision(community, decision.parameters)
        per_step.append((time.perf_counter() - t0) / scenario.n_steps * 1e6)
    print(
        f"{args.strategy}, {scenario.n_members} members x {scenario.n_steps} steps: "
        f"min {min(per_step):.1f} us, median {statistics.median(per_step):.1f} us per step"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
