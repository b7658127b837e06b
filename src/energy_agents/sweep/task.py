"""What a Dask worker runs for one case: rebuild the scenario from the case (unpacking its data
if they came as bytes), run the same pair of batch runs as ``simulate``, and add the
perfect-foresight bound for savings capture. A case that fails returns its error instead of
raising, so the sweep records it and goes on (and Dask does not retry a deterministic error)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from ..optimize.lp import lp_lower_bound
from ..runner.timed import run_against_baseline
from ..scenarios import load_scenario
from ..sim.kpis import savings_capture
from ..sim.params import Scenario
from .case import Case
from .pack import DataRef, local_path


def load_case(case: Case, ref: DataRef | None) -> Scenario:
    """The case's scenario, exactly as ``simulate`` builds it from the same arguments."""
    spec = case.kind if ref is None else f"{case.kind}:{local_path(ref)}"
    return load_scenario(
        spec,
        members=case.members,
        days=case.days,
        seed=case.seed,
        community_storage=case.community_storage,
        flexible_share=case.flexible_share,
        tariff=case.tariff or None,
        objective=case.objective,
    )


def run_case(case: Case, ref: DataRef | None = None) -> dict[str, Any]:
    """One case -> its store record: ``status`` ``ok`` with ``kpis``, or ``failed`` with
    ``error``; ``case_s`` is the whole task (load, both runs, the bound)."""
    start = time.perf_counter()
    record: dict[str, Any] = {"id": case.id, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        scenario = load_case(case, ref)
        load_s = time.perf_counter() - start
        pair = run_against_baseline(scenario, case.strategy, progress=False)
        kpis = pair.kpis
        bound = lp_lower_bound(scenario)
        kpis["lp_bound"] = bound.cost_ct
        kpis["savings_capture"] = savings_capture(
            pair.baseline.kpis["objective_value"], kpis["objective_value"], bound.cost_ct
        )
        kpis["baseline_wall_s"] = pair.baseline.kpis["wall_s"]
        kpis["load_s"] = load_s
        record.update(status="ok", kpis=kpis)
    except Exception as exc:  # recorded, never raised: one bad case must not stop the sweep
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    record["case_s"] = time.perf_counter() - start
    return record
