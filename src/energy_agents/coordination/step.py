"""The decision half of the one step function, shared by the batch loop, the server and the
live runner's baseline: observation (+ recommendations) -> a strategy's ``Decision``.

observe -> recommend (the five advisors) -> aggregate (a strategy) -> ``Community.step``: the
batch loop (``runner.batch``) calls :func:`coordinate` with the advisors run in process; the
server calls it with the recommendations the live agents posted. Pure: no I/O, no wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..advisors.types import Recommendation, canonical_order
from ..sim.observation import Observation
from .types import Decision, Strategy


def coordinate(
    strategy: Strategy,
    obs: Observation | None,
    state: Mapping[str, Any],
    recommendations: Sequence[Recommendation] | None = None,
) -> tuple[Decision, list[Recommendation], dict[str, Any]]:
    """The decision for ``obs``: advisors run here unless their recommendations are given
    (the live mode passes what the agents posted), always in the canonical order, so a
    strategy sees the same inputs in batch and live mode."""
    if recommendations is None:
        if strategy.uses_advisors and obs is not None:
            # imported here: the advisors pull in the LP solver, which `none` does not need
            from ..advisors.registry import recommend_all

            recommendations = recommend_all(obs)
        else:
            recommendations = []
    recommendations = canonical_order(recommendations)
    decision, new_state = strategy.decide(obs, recommendations, state)
    return decision, recommendations, dict(new_state)
