"""The one step function, shared by the batch runner and the live runner.

observe -> recommend (the five advisors) -> aggregate (a strategy) -> ``Community.step``.
Pure: no I/O, no wall clock (``wall_s`` is measured by the caller and passed in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .advisors.registry import FORECASTER, recommend_all
from .advisors.types import Recommendation, canonical_order
from .coordination.registry import make_strategy
from .coordination.types import Decision, Strategy
from .sim.community import Community
from .sim.kpis import compute_kpis
from .sim.observation import Observation
from .sim.params import Scenario


def coordinate(
    strategy: Strategy,
    obs: Observation,
    state: Mapping[str, Any],
    recommendations: Sequence[Recommendation] | None = None,
) -> tuple[Decision, list[Recommendation], dict[str, Any]]:
    """The decision for ``obs``: advisors run here unless their recommendations are given
    (the live mode passes what the agents posted)."""
    if recommendations is None:
        recommendations = recommend_all(obs) if strategy.uses_advisors else []
    recommendations = canonical_order(recommendations)
    decision, new_state = strategy.decide(obs, recommendations, state)
    return decision, recommendations, new_state


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
    """Run every step of ``scenario`` under one strategy, in one process."""
    strategy = make_strategy(strategy_name, scenario)
    community = Community(scenario)
    state: dict[str, Any] = {}
    decisions: list[Decision] = []
    forecast_mae: float | None = None  # the forecaster's own running error, latest value
    while not community.done:
        obs = community.observe()
        decision, recs, state = coordinate(strategy, obs, state)
        community.step(decision.parameters)
        for rec in recs:
            if rec.agent_name == FORECASTER and "running_mae_kwh" in rec.data:
                forecast_mae = float(rec.data["running_mae_kwh"])
        if keep_decisions:
            decisions.append(decision)
        if on_step is not None:
            on_step(community.t)
    kpis = compute_kpis(community, baseline_spent_ct)
    kpis["strategy"] = strategy_name
    kpis["forecast_mae_kwh"] = forecast_mae
    return BatchRun(strategy_name, community, kpis, decisions, state)
