"""A timed batch run, and the pair every batch command runs: the no-control baseline and one
strategy beside it. ``simulate`` and each case of ``sweep`` call :func:`run_against_baseline`,
so a sweep's row is what ``simulate`` writes to ``kpis.json`` for the same case."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from ..sim.params import Scenario
from .batch import BatchRun, run_batch


def timed_run(
    scenario: Scenario,
    strategy: str,
    *,
    progress: bool,
    baseline_spent_ct: float | None = None,
    keep_decisions: bool = False,
) -> BatchRun:
    """:func:`run_batch` with an optional progress bar; ``kpis["wall_s"]`` is the loop's time."""
    on_step = None
    if progress:
        from tqdm import tqdm  # imported only for a bar (about 10 ms of a short run)

        bar = tqdm(
            total=scenario.n_steps,
            desc=f"{strategy:>9}",
            unit="step",
            file=sys.stderr,
            leave=False,
            mininterval=0.5,
        )
        last = [0]

        def on_step(t: int) -> None:
            if t - last[0] >= 97 or t == scenario.n_steps:
                bar.update(t - last[0])
                last[0] = t

    start = time.perf_counter()
    run = run_batch(
        scenario,
        strategy,
        on_step=on_step,
        baseline_spent_ct=baseline_spent_ct,
        keep_decisions=keep_decisions,
    )
    run.kpis["wall_s"] = time.perf_counter() - start
    if progress:
        bar.close()
    return run


@dataclass
class PairRun:
    """The no-control run, the strategy's run (the same object for ``none``) and the KPIs
    ``simulate`` reports for the strategy."""

    baseline: BatchRun
    result: BatchRun
    kpis: dict[str, Any]


def run_against_baseline(scenario: Scenario, strategy: str, *, progress: bool) -> PairRun:
    """The baseline (``none``) and then ``strategy`` on ``scenario``; the strategy's KPIs with
    the scenario's name, the baseline's spending and the scenario's notes beside them."""
    baseline = timed_run(scenario, "none", progress=progress)
    baseline.kpis["tokens_saved_ct"] = 0.0
    if strategy == "none":
        result = baseline
    else:
        result = timed_run(
            scenario,
            strategy,
            progress=progress,
            baseline_spent_ct=baseline.kpis["tokens_spent_ct"],
        )
    kpis = dict(result.kpis)
    kpis["scenario"] = scenario.name
    kpis["baseline_tokens_spent_ct"] = baseline.kpis["tokens_spent_ct"]
    kpis["notes"] = list(scenario.notes)
    return PairRun(baseline, result, kpis)
