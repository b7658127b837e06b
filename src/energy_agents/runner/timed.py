"""A timed batch run, and the pair every batch command runs: the no-control baseline and one
strategy beside it. ``simulate`` and each case of ``sweep`` call :func:`run_against_baseline`,
so a sweep's row is what ``simulate`` writes to ``kpis.json`` for the same case. ``compare``
runs several strategies with :func:`run_strategies`, side by side in worker processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..sim.params import Scenario
from .batch import BatchRun, run_batch
from .record import steps_table


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


@dataclass
class StrategyRun:
    """What a report needs of one finished run, small enough to send between processes: the
    KPIs, the steps' table (:func:`~energy_agents.runner.record.steps_table`) and the first
    decision's data (where ``optimal`` reports its bound)."""

    strategy: str
    kpis: dict[str, Any]
    steps: dict[str, np.ndarray]
    first_decision_data: dict[str, Any]


def summarize(run: BatchRun) -> StrategyRun:
    first = dict(run.decisions[0].data) if run.decisions else {}
    return StrategyRun(run.strategy, run.kpis, steps_table(run.community), first)


_WORKER_SCENARIO: list[Scenario] = []


def _worker_init(scenario: Scenario) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the workers (one message,
    # no traceback per worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_SCENARIO[:] = [scenario]  # sent once per worker, not once per strategy


def _strategy_run(
    scenario: Scenario, strategy: str, baseline_spent_ct: float | None, progress: bool
) -> StrategyRun:
    run = timed_run(
        scenario,
        strategy,
        progress=progress,
        baseline_spent_ct=baseline_spent_ct,
        keep_decisions=strategy == "optimal",  # its first decision carries the LP bound
    )
    return summarize(run)


def _worker_run(strategy: str, baseline_spent_ct: float | None) -> StrategyRun:
    return _strategy_run(_WORKER_SCENARIO[0], strategy, baseline_spent_ct, False)


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_strategies(
    scenario: Scenario,
    strategies: list[str],
    *,
    baseline_spent_ct: float | None,
    jobs: int,
    progress: bool,
) -> dict[str, StrategyRun]:
    """Each strategy's run on ``scenario``, in the order given. With ``jobs > 1`` they run side
    by side in up to ``jobs`` worker processes (each run is independent and deterministic, so
    the results are the ones a sequential run gives; only ``wall_s`` differs). Workers are
    spawned, not forked: a fork would copy the parent's solver and I/O threads mid-state."""
    jobs = min(jobs, len(strategies))
    if jobs <= 1:
        return {
            name: _strategy_run(scenario, name, baseline_spent_ct, progress) for name in strategies
        }
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(jobs, _worker_init, (scenario,))
    try:
        pending = {
            name: pool.apply_async(_worker_run, (name, baseline_spent_ct)) for name in strategies
        }
        out = {}
        for name, result in pending.items():
            out[name] = result.get()
            if progress:
                print(f"{name:>9}: done in {out[name].kpis['wall_s']:.1f} s", file=sys.stderr)
        pool.close()
        return out
    finally:
        # On an error or Ctrl-C the runs still going are of no use: stop them now (a pool that
        # waited for its queue would keep the user waiting for every strategy's whole year).
        pool.terminate()
        pool.join()
