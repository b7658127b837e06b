"""Battery physics, vectorized over a bank of batteries (pure functions)."""

from __future__ import annotations

import numpy as np

from .params import StorageBank
from .sums import sum_of


def flow_limits(
    bank: StorageBank, energy_kwh: np.ndarray, dt_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Largest charge and discharge [kWh at the terminals] this step allows, both >= 0."""
    p, zero = bank.step_power_kwh(dt_h), bank.zeros  # the bank's constants, made once
    # np.minimum/np.maximum: np.clip's Python wrapper costs more than the arithmetic here.
    max_charge = np.minimum(
        np.maximum((bank.energy_max_kwh - energy_kwh) / bank.eta_charge, zero), p
    )
    max_discharge = np.minimum(
        np.maximum((energy_kwh - bank.energy_min_kwh) * bank.eta_discharge, zero), p
    )
    return max_charge, max_discharge


def dispatch(
    bank: StorageBank,
    energy_kwh: np.ndarray,
    dt_h: float,
    setpoint: np.ndarray | float,
    follow: bool,
    residual_kwh: np.ndarray | None,
) -> np.ndarray:
    """Terminal flow per battery [kWh, > 0 charging] for one step.

    Without ``follow`` each battery runs its schedule ``setpoint * power * dt``. With
    ``follow`` the setpoint is a floor: the battery absorbs the surplus in ``residual_kwh``
    (< 0 surplus, > 0 deficit) up to its rating and covers a deficit down to that floor, so
    ``setpoint = -1`` is full self-consumption, ``0`` charge-only, ``> 0`` a minimum charge.
    Energy and power bounds always hold.
    """
    max_charge, max_discharge = flow_limits(bank, energy_kwh, dt_h)
    floor = np.asarray(setpoint) * bank.power_kw * dt_h
    if follow and residual_kwh is not None:
        flow = np.minimum(np.maximum(-residual_kwh, floor), bank.step_power_kwh(dt_h))
    else:
        flow = floor
    return np.minimum(np.maximum(flow, -max_discharge), max_charge)


def apply_flow(bank: StorageBank, energy_kwh: np.ndarray, flow_kwh: np.ndarray) -> np.ndarray:
    """Stored energy after ``flow_kwh`` at the terminals (charging loses on the way in,
    discharging on the way out), clipped against rounding to the SOC bounds."""
    stored = energy_kwh + np.where(
        flow_kwh > bank.zeros, flow_kwh * bank.eta_charge, flow_kwh / bank.eta_discharge
    )
    return np.minimum(np.maximum(stored, bank.energy_min_kwh), bank.energy_max_kwh)


def split_pooled(
    bank: StorageBank,
    energy_kwh: np.ndarray,
    dt_h: float,
    setpoints: np.ndarray,
    follow: bool,
    residual_kwh: float,
) -> np.ndarray:
    """Flows of several storages that serve one residual together (the community storages, or
    the home batteries when pooled).

    The same rule as :func:`dispatch` applied to the pool: the pooled flow is
    ``clip(-residual, sum of floors, sum of charge limits)``. It is shared without flows
    against each other (one storage charging from another loses the round trip): every storage
    starts from the flow nearest to zero its floor allows, and the rest of the pooled flow is
    shared in proportion to each one's room in that direction (toward its charge limit, or
    toward its floor).
    """
    max_charge, max_discharge = flow_limits(bank, energy_kwh, dt_h)
    floor = np.minimum(np.maximum(setpoints * bank.power_kw * dt_h, -max_discharge), max_charge)
    if not follow or floor.size == 0:
        return floor
    pooled = min(max(-residual_kwh, sum_of(floor)), sum_of(max_charge))
    start = np.maximum(floor, bank.zeros)  # nearest to zero within [floor, max_charge]
    rest = pooled - sum_of(start)
    room = (max_charge - start) if rest > 0.0 else (start - floor)
    total_room = sum_of(room)
    if total_room <= 0.0:
        return start
    return start + room * (rest / total_room)
