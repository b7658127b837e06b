"""The batch loop: every step of a scenario under one strategy, in one process.

Each step is the one step function: ``Community.observe`` -> :func:`coordination.step.coordinate`
(the five advisors and the strategy) -> :func:`apply_decision`. The live runner applies the
server's decision with the same :func:`apply_decision`; the server decides with the same
``coordinate``. Pure: no I/O, no wall clock (callers time the run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..advisors.types import FORECASTER, Recommendation
from ..coordination.registry import make_strategy
from ..coordination.step import coordinate
from ..coordination.types import Decision
from ..sim.community import Community, StepResult
from ..sim.kpis import compute_kpis
from ..sim.levers import Levers
from ..sim.params import Scenario


def apply_decision(community: Community, levers: Levers) -> StepResult:
    """The simulation half of the step: the decided levers applied to the community's next step
    (clipped to physical limits inside ``Community.step``)."""
    return community.step(levers)


def forecaster_mae(recommendations: Sequence[Recommendation]) -> float | None:
    """The demand forecaster's own running error, if it reported one this step."""
    for rec in recommendations:
        if rec.agent_name == FORECASTER and "running_mae_kwh" in rec.data:
            return float(rec.data["running_mae_kwh"])
    return None


@dataclass
class BatchRun:
    """A finished batch run: the community (with per-step results), KPIs, decisions."""

    strategy: str
    community: Community
    kpis: dict[str, Any]
    decisions: list[Decision] = field(default_factory=list)
    strategy_state: dict[str, Any] = field(default_factory=dict)


def run_batch(
    scenario: Scenario,
    strategy_name: str,
    *,
    on_step: Callable[[int], None] | None = None,
    keep_decisions: bool = False,
    baseline_spent_ct: float | None = None,
) -> BatchRun:
    """Run every step of ``scenario`` under one strategy."""
    strategy = make_strategy(strategy_name, scenario)
    community = Community(scenario)
    state: dict[str, Any] = {}
    decisions: list[Decision] = []
    forecast_mae: float | None = None  # the latest value the forecaster reported
    while not community.done:
        decision, recs, state = coordinate(strategy, community.observe(), state)
        apply_decision(community, decision.parameters)
        mae = forecaster_mae(recs)
        if mae is not None:
            forecast_mae = mae
        if keep_decisions:
            decisions.append(decision)
        if on_step is not None:
            on_step(community.t)
    kpis = compute_kpis(community, baseline_spent_ct)
    kpis["strategy"] = strategy_name
    kpis["forecast_mae_kwh"] = forecast_mae
    return BatchRun(strategy_name, community, kpis, decisions, state)
