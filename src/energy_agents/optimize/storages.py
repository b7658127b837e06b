"""The storages of the LPs: an energy balance (``Track``) and its flows (``LPStorage``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Track:
    """One energy balance of an LP storage: ``z_t = z_{t-1} + scale*(eta_c*c_t - d_t/eta_d)``,
    ``z_{-1} = init``, ``lo <= z_t <= hi`` (kWh for a real storage, hours for a shared track).

    ``lo``/``hi`` may vary per step (an EV's bounds: 0 while away, its required energy at a
    departure). At the steps where ``reset`` is true ``z_{t-1}`` is replaced by
    ``reset_value[t]`` (an EV arriving with its arrival energy, a charger with no EV at 0)."""

    eta_charge: float
    eta_discharge: float
    scale: float
    lo: float | np.ndarray
    hi: float | np.ndarray
    init: float
    reset: np.ndarray | None = None
    reset_value: np.ndarray | None = None
    retention: float = 1.0
    """``z_{t-1}`` enters as ``retention * z_{t-1}`` (a thermal tank's standby loss)."""
    charge_coef: np.ndarray | None = None
    """Per step, replaces ``scale * eta_c`` (a tank: kWh_th stored per kWh of electricity)."""
    discharge_coef: np.ndarray | None = None
    """Per step, replaces ``scale / eta_d`` (a tank: kWh_th taken per kWh of electricity saved)."""


@dataclass(frozen=True)
class LPStorage:
    """One storage of the LP with charge/discharge ``c, d in [0, max_flow_kwh]`` [kWh/step]."""

    key: str  # lever key: a community storage's name or ``members``
    max_flow_kwh: float
    tracks: tuple[Track, ...]
    power_kw: float  # rated power the lever's setpoint fraction refers to
    discharge_cap_kwh: np.ndarray | None = None  # a tighter per-step bound on discharge
    charge_cap_kwh: np.ndarray | None = None  # a tighter per-step bound on charge
