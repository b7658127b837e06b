"""``energy-agents simulate``: one strategy in batch, against the no-control baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..coordination.registry import STRATEGIES, UnknownStrategyError
from ..reporting import report
from ..runner.timed import run_against_baseline
from .common import add_scenario_arguments, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_arguments(parser)
    parser.add_argument(
        "--strategy",
        default="weighted",  # the live system's strategy; the no-control run is always beside it
        help=f"one of: {', '.join(sorted(STRATEGIES))}",
    )
    parser.add_argument(
        "--format", choices=("parquet", "csv"), default="parquet", help="per-step table format"
    )


def run(args: argparse.Namespace) -> int:
    if args.strategy not in STRATEGIES:  # fail before the (slow) scenario build
        raise UnknownStrategyError(args.strategy)
    scenario = load(args)
    out: Path = args.out or Path("out") / f"simulate-{args.strategy}"
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    pair = run_against_baseline(scenario, args.strategy, progress=progress)
    baseline, result, kpis = pair.baseline, pair.result, pair.kpis
    frame = report.steps_table(result.community)
    base_frame = report.steps_table(baseline.community)
    report.write_steps(frame, out, args.format)
    report.write_json(kpis, out / "kpis.json")
    rows = (
        {args.strategy: kpis}
        if args.strategy == "none"
        else {"none": baseline.kpis, args.strategy: kpis}
    )
    frames = (
        {args.strategy: frame}
        if args.strategy == "none"
        else {args.strategy: frame, "none": base_frame}
    )
    images = report.plot_runs(frames, out) if args.png else []
    report.write_html(
        f"energy-agents simulate: {scenario.name}, {args.strategy}",
        rows,
        images,
        out,
        scenario.notes,
        frames=frames,
    )

    print(
        f"scenario {scenario.name}: {scenario.n_members} members, {scenario.n_steps} steps of {scenario.dt_h:g} h"
    )
    for note in scenario.notes:
        print(f"note: {note}")
    print(report.kpi_table(rows))
    print(f"wrote {out}/ (kpis.json, steps.{args.format}, report.html)")
    return 0
