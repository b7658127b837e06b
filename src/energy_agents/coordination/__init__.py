"""Coordination: recommendations -> one Decision, by a strategy from the registry."""

from .registry import STRATEGIES, UnknownStrategyError, make_strategy
from .types import Decision, Strategy

__all__ = ["STRATEGIES", "Decision", "Strategy", "UnknownStrategyError", "make_strategy"]
