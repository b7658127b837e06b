"""The community model: pure numpy, no I/O (see docs/model.md)."""

from .community import Community, StepResult
from .kpis import compute_kpis
from .levers import P2P_PRICE_RULES, LeverError, Levers, Setpoints
from .observation import Observation
from .params import MEMBER_BATTERIES, Prices, Scenario, ScenarioError, StorageBank

__all__ = [
    "MEMBER_BATTERIES",
    "P2P_PRICE_RULES",
    "Community",
    "LeverError",
    "Levers",
    "Setpoints",
    "Observation",
    "Prices",
    "Scenario",
    "ScenarioError",
    "StepResult",
    "StorageBank",
    "compute_kpis",
]
