"""The thermal tanks in the LPs: each tank is an LP storage in electric units.

Its charge ``c`` and discharge ``d`` [kWh electric per step] are what the tank adds to or
saves of its device's electricity; its track is the heat in the tank [kWh_th]:
``z_t = (1 - l dt) z_{t-1} + COP_t sqrt(eta) c_t - COP_t / sqrt(eta) d_t``, ``0 <= z_t <= C``,
``z_{-1} = soc_init C``, with ``c_t <= min(max(Dmax_t - D_t, 0), P_in dt) / COP_t`` and
``d_t <= min(D_t, P_out dt) / COP_t`` (the tank never gives more than the demand). This is the
simulator's tank (``sim/thermal_storage.py``) exactly, so the bound stays a bound and the
executed plan reproduces it.

A planner that sees only an observation (:func:`observed_tank_storages`) plans on a forecast
of the demand, this step's COP held over its horizon, and no device headroom or power limit
(the observation carries neither; the simulator clips a charge to them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..sim.observation import Observation
from ..sim.thermal_storage import ThermalTanks
from .storages import LPStorage, Track

TANK_KEY = "tank:"
"""Prefix of a thermal tank's key among the LP's storages (``tank:<tank name>``)."""


def tank_key(name: str) -> str:
    return TANK_KEY + name


def is_tank_key(key: str) -> bool:
    return key.startswith(TANK_KEY)


def _tank_storage(
    name: str,
    capacity_kwh: float,
    energy_kwh: float,
    retention: float,
    cop: np.ndarray,
    root: float,
    charge_kwh: np.ndarray,
    discharge_kwh: np.ndarray,
) -> LPStorage:
    """One tank as an LP storage: its flows in electricity (``charge_kwh``/``discharge_kwh``
    per step, the bounds), its track the heat in the tank [kWh_th] (charging stores ``COP x
    sqrt(eta)`` per kWh, discharging takes ``COP / sqrt(eta)``)."""
    track = Track(
        1.0,
        1.0,
        1.0,
        0.0,
        capacity_kwh,
        energy_kwh,
        retention=retention,
        charge_coef=cop * root,
        discharge_coef=cop / root,
    )
    top = float(max(charge_kwh.max(initial=0.0), discharge_kwh.max(initial=0.0)))
    return LPStorage(tank_key(name), top, (track,), 0.0, discharge_kwh, charge_kwh)


def scenario_tank_storages(tanks: ThermalTanks, dt_h: float) -> list[LPStorage]:
    """Every tank over the whole scenario (perfect foresight of the demand and the COP)."""
    out = []
    for k, name in enumerate(tanks.names):
        per = tanks.elec_per_kwh[:, k]  # kWh electric per kWh_th
        cop = np.divide(1.0, per, out=np.zeros_like(per), where=per > 0)
        root = float(np.sqrt(tanks.efficiency[k]))
        demand = tanks.demand_kwh[:, k]
        head = np.maximum(tanks.device_max_kwh[:, k] - demand, 0.0)
        c_th = np.minimum(head, tanks.max_input_kw[k] * dt_h)
        c_th = np.minimum(c_th, tanks.capacity_kwh[k] / root)  # finite bound for the LP
        d_th = np.minimum(demand, tanks.max_output_kw[k] * dt_h)
        charge = np.where(per > 0, c_th * per, 0.0)
        discharge = np.where(per > 0, d_th * per, 0.0)
        cap = float(tanks.capacity_kwh[k])
        retention = max(1.0 - float(tanks.loss_coefficient[k]) * dt_h, 0.0)
        energy = float(tanks.soc_init[k]) * cap
        out.append(_tank_storage(name, cap, energy, retention, cop, root, charge, discharge))
    return out


def tank_setpoints(
    flows_kwh: Mapping[str, float],
    tanks: ThermalTanks,
    t: int,
    dt_h: float,
) -> dict[str, float]:
    """Lever setpoints from planned electric flows keyed ``tank:<name>``: the thermal flow
    ``flow x COP`` as a fraction of the capacity per hour."""
    out = {}
    for k, name in enumerate(tanks.names):
        f = flows_kwh.get(tank_key(name))
        if f is None:
            continue
        per = float(tanks.elec_per_kwh[t, k])
        th = f / per if per > 0 else 0.0
        out[name] = float(np.clip(th / (tanks.capacity_kwh[k] * dt_h), -1.0, 1.0))
    return out


def observed_tank_storages(obs: Observation, demand_kwh: np.ndarray) -> list[LPStorage]:
    """Every tank of the observation over the horizon of ``demand_kwh`` (its forecast thermal
    demand, ``(n_tanks, horizon)`` [kWh_th per step]): the tank's present heat, this step's COP
    held over the horizon, discharge up to the forecast demand."""
    out = []
    dt = obs.dt_h
    demand = np.maximum(np.asarray(demand_kwh, dtype=float), 0.0)
    h = demand.shape[1] if demand.ndim == 2 else 0
    for k, name in enumerate(obs.tank_names):
        cop = float(obs.tank_cop[k])
        if cop <= 0 or h == 0:
            continue  # no device (or no horizon): nothing to shift
        cap = float(obs.tank_capacity_kwh[k])
        root = float(np.sqrt(max(float(obs.tank_efficiency[k]), 1e-6)))
        charge = np.full(h, cap / root / cop)  # the room of an empty tank, in electricity
        discharge = demand[k] / cop
        energy = float(np.clip(obs.tank_energy_kwh[k], 0.0, cap))
        retention = max(1.0 - float(obs.tank_loss_coefficient[k]) * dt, 0.0)
        out.append(
            _tank_storage(name, cap, energy, retention, np.full(h, cop), root, charge, discharge)
        )
    return out


def observed_tank_setpoints(obs: Observation, flows_kwh: Mapping[str, float]) -> dict[str, float]:
    """Lever setpoints from planned electric flows keyed ``tank:<name>``: a planned charge at
    this step's COP as a fraction of the capacity per hour (as :func:`tank_setpoints`), a
    planned discharge ``-1`` (the tank serves what the demand really is, up to its content:
    the plan discharges where heat is worth most, and the forecast demand is only an estimate;
    measured on the 2023 homes, docs/performance.md)."""
    out = {}
    for k, name in enumerate(obs.tank_names):
        f = flows_kwh.get(tank_key(name))
        if f is None:
            continue
        if f < -1e-9:
            out[name] = -1.0
            continue
        th = f * float(obs.tank_cop[k])
        cap = float(obs.tank_capacity_kwh[k]) * obs.dt_h
        out[name] = float(np.clip(th / cap, -1.0, 1.0)) if cap > 0 else 0.0
    return out


def tank_terminal_value(obs: Observation, key: str, refill_ct_per_kwh: float) -> float:
    """What a kWh_th left in tank ``key`` at the horizon is worth: refilling it, ``refill``
    per kWh of electricity over ``COP sqrt(eta)``."""
    k = obs.tank_names.index(key[len(TANK_KEY) :])
    cop = float(obs.tank_cop[k])
    root = float(np.sqrt(max(float(obs.tank_efficiency[k]), 1e-6)))
    return refill_ct_per_kwh / (cop * root) if cop > 0 else 0.0
