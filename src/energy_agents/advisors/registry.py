"""Advisors keyed by agent name. An advisor is ``(observation, forecast) -> Recommendation``;
``forecast`` is the demand forecaster's ``Recommendation.data`` for the same step (what the
live forecaster sends the other agents), or ``None`` when it did not arrive."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..sim.observation import Observation
from . import demand_forecaster, grid_trader, p2p_trader, storage_optimizer, token_economist
from .types import FORECASTER, Recommendation

Advisor = Callable[[Observation, Mapping[str, Any] | None], Recommendation]

ADVISORS: dict[str, Advisor] = {
    "token_economist": token_economist.advise,
    "storage_optimizer": storage_optimizer.advise,
    "grid_trader": grid_trader.advise,
    "demand_forecaster": demand_forecaster.advise,
    "p2p_trader": p2p_trader.advise,
}


def recommend_all(obs: Observation, names: tuple[str, ...] | None = None) -> list[Recommendation]:
    """Every advisor's recommendation for ``obs``: the forecaster first, its forecast then
    handed to the others (the batch twin of the live agents' forecast messages)."""
    names = tuple(ADVISORS) if names is None else names
    forecast: Mapping[str, Any] | None = None
    out: list[Recommendation] = []
    if FORECASTER in names and FORECASTER in ADVISORS:
        first = ADVISORS[FORECASTER](obs, None)
        forecast = first.data
        out.append(first)
    for name in names:
        if name != FORECASTER:
            out.append(ADVISORS[name](obs, forecast))
    return out
