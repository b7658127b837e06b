"""The typed message every advisor returns (and every agent posts, as JSON)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RECOMMENDATION_SCHEMA_VERSION = 1
AGENT_NAMES = (
    "token_economist",
    "storage_optimizer",
    "grid_trader",
    "demand_forecaster",
    "p2p_trader",
)
"""The five agents; one name each everywhere (module, registry key, uagents name, messages)."""
_RANK = {name: k for k, name in enumerate(AGENT_NAMES)}
FORECASTER = "demand_forecaster"
"""The advisor whose forecast the others use (sent to them first, in batch and live mode)."""


def canonical_order(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """Recommendations in ``AGENT_NAMES`` order (others after, by name): strategies see the same
    order in batch and live mode, whatever order the messages arrived in."""
    rank = _RANK
    return sorted(recommendations, key=lambda r: (rank.get(r.agent_name, len(rank)), r.agent_name))


class RecommendationError(ValueError):
    """Untrusted recommendation JSON that cannot be read; the message names the field."""


@dataclass(frozen=True)
class Recommendation:
    """One advisor's advice for one step.

    ``levers`` holds proposed values for the levers this advisor speaks to, with the same keys
    and units as :class:`energy_agents.sim.Levers` (``storage_setpoints`` may name a subset of
    storages). ``data`` carries structured extras, e.g. the demand forecaster's forecast.
    """

    agent_name: str
    step: int
    message: str
    levers: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 0.5
    expected_saving_ct: float = 0.0
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": RECOMMENDATION_SCHEMA_VERSION,
            "agent_name": self.agent_name,
            "step": self.step,
            "message": self.message,
            "levers": dict(self.levers),
            "confidence": self.confidence,
            "expected_saving_ct": self.expected_saving_ct,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recommendation:
        if not isinstance(d, Mapping):
            raise RecommendationError("recommendation: must be an object")
        version = d.get("schema_version", RECOMMENDATION_SCHEMA_VERSION)
        if version != RECOMMENDATION_SCHEMA_VERSION:
            raise RecommendationError(f"schema_version: unsupported version {version!r}")
        name = d.get("agent_name")
        if not isinstance(name, str) or not name:
            raise RecommendationError("agent_name: must be a non-empty string")
        step = d.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise RecommendationError("step: must be an integer >= 0")
        message = d.get("message")
        if not isinstance(message, str):
            raise RecommendationError("message: must be a string")
        levers = d.get("levers", {})
        if not isinstance(levers, Mapping):
            raise RecommendationError("levers: must be an object")
        data = d.get("data", {})
        if not isinstance(data, Mapping):
            raise RecommendationError("data: must be an object")
        conf = d.get("confidence", 0.5)
        if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0 <= conf <= 1:
            raise RecommendationError("confidence: must be a number in [0, 1]")
        saving = d.get("expected_saving_ct", 0.0)
        if (
            isinstance(saving, bool)
            or not isinstance(saving, int | float)
            or not math.isfinite(saving)
        ):
            raise RecommendationError("expected_saving_ct: must be a finite number")
        return cls(name, step, message, dict(levers), float(conf), float(saving), dict(data))
