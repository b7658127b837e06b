"""The five advisors: Observation (present and past only) -> Recommendation. Pure."""

from .types import AGENT_NAMES, Recommendation, RecommendationError

__all__ = ["AGENT_NAMES", "Recommendation", "RecommendationError"]
