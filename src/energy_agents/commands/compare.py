"""``energy-agents compare``: several strategies on one scenario, one table, one report.

Savings capture = (J_none - J) / (J_none - J_optimal) on the run's objective ``J`` (tokens
spent for ``cost``), where J_optimal is the perfect-foresight LP's optimum (a lower bound on J)
whenever ``optimal`` is among the strategies.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..coordination.registry import STRATEGIES, UnknownStrategyError
from ..reporting import report
from ..runner.timed import default_jobs, run_strategies
from ..sim.kpis import savings_capture
from .common import add_scenario_arguments, load, positive_int

__all__ = ["add_arguments", "run", "savings_capture"]
DEFAULT_STRATEGIES = "none,seed,weighted,learned,mpc,optimal"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_arguments(parser)
    parser.add_argument(
        "--strategies",
        default=DEFAULT_STRATEGIES,
        help=f"comma-separated, from: {', '.join(sorted(STRATEGIES))} (default {DEFAULT_STRATEGIES})",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=default_jobs(),
        help="strategies run side by side in up to N processes (default: the CPUs, here "
        f"{default_jobs()}); 1 runs them one after another in this process",
    )


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    for name in names:
        if name not in STRATEGIES:
            raise UnknownStrategyError(name)
    if not names:
        raise ValueError("--strategies: name at least one strategy")
    scenario = load(args)
    out: Path = args.out or Path("out") / "compare"
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    # The no-control run is one of the jobs, side by side with the others: its spending only
    # fills each run's tokens_saved_ct (below), so no run waits for it.
    done = run_strategies(
        scenario,
        ["none", *(n for n in names if n != "none")],
        baseline_spent_ct=None,
        jobs=args.jobs,
        progress=progress,
    )
    baseline = done["none"]
    c_none = baseline.kpis["tokens_spent_ct"]
    j_none = baseline.kpis["objective_value"]
    runs = {name: done[name] for name in names}
    # J_optimal: the bound the `optimal` strategy solved on the run's objective (reported on
    # its first decision); for a score against the no-control run (``citylearn2022``) also the
    # executed optimum's score, since the score itself is not linear.
    lp_info: dict[str, Any] = runs["optimal"].first_decision_data if "optimal" in runs else {}
    j_optimal = lp_info.get("lp_bound_ct")
    score_opt = runs["optimal"].kpis["citylearn_2022_score"] if "optimal" in runs else None

    rows: dict[str, dict[str, Any]] = {}
    frames = {}
    for name, run_ in runs.items():
        kpis = dict(run_.kpis)
        kpis["tokens_saved_ct"] = c_none - kpis["tokens_spent_ct"]
        kpis["savings_capture"] = savings_capture(j_none, kpis["objective_value"], j_optimal)
        if scenario.objective.normalized and score_opt is not None:
            kpis["score_capture"] = savings_capture(1.0, kpis["citylearn_2022_score"], score_opt)
        if name == "optimal":
            kpis.update(lp_info)
        rows[name] = kpis
        frames[name] = run_.steps
    if j_optimal is not None:
        rows["optimal (LP bound)"] = {
            "objective_value": j_optimal,
            "savings_capture": 1.0,
            "wall_s": lp_info["lp_solve_s"],
        }

    comparison = {
        "scenario": scenario.name,
        "members": scenario.n_members,
        "steps": scenario.n_steps,
        "objective": scenario.objective.to_dict(),
        "tariff": scenario.tariff.to_dict(),
        "strategies": rows,
    }
    comparison["notes"] = list(scenario.notes)
    report.write_json(rows, out / "comparison.json")
    report.write_json(comparison, out / "comparison_full.json")
    images = report.plot_runs(frames, out) if args.png else []
    report.write_html(
        f"energy-agents compare: {scenario.name}", rows, images, out, scenario.notes, frames=frames
    )

    print(
        f"scenario {scenario.name}: {scenario.n_members} members, {scenario.n_steps} steps of {scenario.dt_h:g} h"
    )
    for note in scenario.notes:
        print(f"note: {note}")
    print(report.kpi_table(rows))
    print(f"wrote {out}/ (comparison.json, report.html)")
    return 0
