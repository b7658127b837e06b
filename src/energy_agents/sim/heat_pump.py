"""A heat pump's coefficient of performance: CityLearn's Carnot-fraction model (pure numpy)."""

from __future__ import annotations

import numpy as np

COP_MAX = 20.0
"""CityLearn's cap (``HeatPump.get_cop``): a negative or larger COP is taken as this."""


def heat_pump_cop(
    efficiency: float, supply_c: float, outdoor_c: np.ndarray, heating: bool
) -> np.ndarray:
    """Carnot-fraction COP, CityLearn's ``HeatPump.get_cop`` (negative or > 20 -> 20)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = supply_c - outdoor_c if heating else outdoor_c - supply_c
        cop = efficiency * (supply_c + 273.15) / lift
    cop = np.where((cop < 0) | (cop > COP_MAX) | ~np.isfinite(cop), COP_MAX, cop)
    return np.asarray(cop, dtype=float)
