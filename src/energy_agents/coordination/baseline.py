"""``none``: no coordination. Storages idle, P2P off, no burn, naive procurement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..advisors.types import Recommendation
from ..sim.levers import Levers
from ..sim.observation import Observation
from .types import Decision, make_decision


def naive_procurement_kwh(obs: Observation) -> float:
    """Yesterday's import at the same time of day (persistence); the last import before that."""
    hist = obs.hist_import_kwh
    if hist.size >= obs.steps_per_day:
        return float(hist[-obs.steps_per_day])
    return float(hist[-1]) if hist.size else 0.0


class NoControl:
    name = "none"
    uses_advisors = False

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        q = naive_procurement_kwh(obs) if obs is not None else 0.0
        decision = make_decision(self.name, obs, Levers(procurement_kwh=q), "No coordination.")
        return decision, dict(state)
