"""The EVs in the LPs: each charger is an LP storage whose bounds follow its sessions.

Per charger, the track is the energy in the connected EV after each step: 0 while no EV is
connected (the track restarts at 0), the arrival energy when a session starts (it restarts
there), between the EV's lowest energy and its capacity while connected, and at least the
required energy at a departure (or what the session can reach at full power, if less: the
simulator then charges at full power, docs/model.md). Charge and discharge are bounded by the
charger's powers while connected and 0 otherwise. This is exact for the simulator's EV (no
summing), so the perfect-foresight bound stays a bound and the executed plan reproduces it.

A planner that sees only an observation knows the sessions now connected, up to their
departures; beyond its horizon it keeps the departure reachable (the simulator's floor).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..sim.ev import EVChargers
from ..sim.observation import Observation
from .storages import LPStorage, Track

EV_KEY = "ev:"
"""Prefix of an EV charger's key among the LP's storages (``ev:<charger name>``)."""
SLACK_KWH = 1e-6
"""Taken off a departure's required energy in the LP, so that rounding never makes it
infeasible."""


def ev_key(name: str) -> str:
    return EV_KEY + name


def is_ev_key(key: str) -> bool:
    return key.startswith(EV_KEY)


def _storage(
    name: str,
    eta: float,
    charge_kwh: np.ndarray,
    discharge_kwh: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    reset: np.ndarray,
    reset_value: np.ndarray,
    init: float,
    power_kw: float,
) -> LPStorage:
    track = Track(eta, eta, 1.0, lo, hi, init, reset, reset_value)
    top = float(max(charge_kwh.max(initial=0.0), discharge_kwh.max(initial=0.0)))
    return LPStorage(ev_key(name), top, (track,), power_kw, discharge_kwh, charge_kwh)


def scenario_ev_storages(ev: EVChargers, dt_h: float) -> list[LPStorage]:
    """Every charger over the whole scenario (perfect foresight of the sessions)."""
    out = []
    steps = np.arange(ev.n_steps)
    for c, name in enumerate(ev.names):
        conn = ev.connected[:, c] > 0
        arrive = ev.arrival[:, c] > 0
        cap = ev.capacity_kwh[:, c]
        eta = float(ev.efficiency[c])
        p_c = np.where(conn, ev.charge_kw[c] * dt_h, 0.0)
        p_d = np.where(conn, ev.discharge_kw[c] * dt_h, 0.0)
        e0 = ev.arrival_soc[:, c] * cap
        first = np.maximum.accumulate(np.where(arrive, steps, 0))  # the session's first step
        start_e = e0[first]
        lo = np.where(conn, np.minimum(ev.soc_min[:, c] * cap, start_e), 0.0)
        reach = np.minimum(cap, start_e + ev.steps_left[first, c] * p_c * eta)
        need = np.minimum(ev.required_soc[:, c] * cap, reach) - SLACK_KWH
        leave = (ev.departs[:, c] > 0) & (ev.required_now[:, c] > 0)
        lo = np.where(leave, np.maximum(lo, need), lo)
        hi = np.where(conn, cap, 0.0)
        reset = arrive | ~conn
        out.append(
            _storage(
                name,
                eta,
                p_c,
                p_d,
                lo,
                hi,
                reset,
                np.where(arrive, e0, 0.0),
                0.0,
                float(ev.charge_kw[c]),
            )  # fmt: skip
        )
    return out


def observed_ev_storages(obs: Observation, horizon: int) -> list[LPStorage]:
    """The chargers with an EV connected now, over ``horizon`` steps from the observation:
    connected until their departure, the requirement at it (or, beyond the horizon, the
    energy at its end from which full power still reaches it)."""
    out = []
    dt = obs.dt_h
    ahead = np.arange(horizon)
    for c, name in enumerate(obs.ev_names):
        if obs.ev_connected[c] <= 0:
            continue
        left = int(obs.ev_steps_left[c])
        conn = ahead < max(left, 1)
        e = float(obs.ev_energy_kwh[c])
        cap = float(obs.ev_capacity_kwh[c])
        eta = float(obs.ev_efficiency[c])
        p_c = np.where(conn, float(obs.ev_charge_kw[c]) * dt, 0.0)
        p_d = np.where(conn, float(obs.ev_discharge_kw[c]) * dt, 0.0)
        lo = np.where(conn, min(float(obs.ev_min_kwh[c]), e), 0.0)
        required = float(obs.ev_required_kwh[c])
        if required > 0:
            k = min(max(left, 1), horizon) - 1
            full = float(obs.ev_charge_kw[c]) * dt * eta
            reach = min(cap, e + (k + 1) * full)
            need = min(required - max(left - horizon, 0) * full, reach) - SLACK_KWH
            lo[k] = max(lo[k], need)
        hi = np.where(conn, cap, 0.0)
        out.append(
            _storage(
                name, eta, p_c, p_d, lo, hi, ~conn, np.zeros(horizon), e, float(obs.ev_charge_kw[c])
            )  # fmt: skip
        )
    return out


def ev_setpoints(
    flows_kwh: Mapping[str, float],
    names: tuple[str, ...],
    charge_kw: np.ndarray,
    discharge_kw: np.ndarray,
    dt_h: float,
) -> dict[str, float]:
    """Lever setpoints from planned flows keyed ``ev:<name>`` [kWh at the terminals]: a
    fraction of the charge power, or (below 0) of the discharge power."""
    out = {}
    for c, name in enumerate(names):
        f = flows_kwh.get(ev_key(name))
        if f is None:
            continue
        p = (charge_kw[c] if f >= 0 else discharge_kw[c]) * dt_h
        out[name] = float(np.clip(f / p, -1.0, 1.0)) if p > 0 else 0.0
    return out
