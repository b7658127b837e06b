"""EV chargers: an EV is a battery while it is plugged in, and leaves with its required SOC.

Per charger ``c`` and step ``t`` (arrays ``(n_steps, n_chargers)``, from CityLearn's charger
files): whether an EV is connected, whether a charging *session* starts (the EV arrives with
``arrival_soc``), the EV's capacity, its lowest SOC (``1 - depth_of_discharge``), the SOC it
must have when it leaves (``required_soc``) and whether the session ends with a departure
(``departs``; a session cut by the end of the data has no requirement). Energy ``e`` [kWh]
in the EV evolves like a battery's, ``e += eta * f`` charging and ``e += f / eta`` discharging
(V2G), ``f`` the flow at the charger's terminals [kWh per step, > 0 charging], at most
``charge_kw * dt`` and ``discharge_kw * dt`` (0: no V2G).

The departure requirement is hard where it is physically feasible: whatever a lever asks,
the charger takes at least the *floor* that keeps the required energy reachable at full power
over the steps left (docs/model.md). A requirement above what the session can reach is
charged at full power and counted (``ev_infeasible_departures``, ``ev_shortfall_kwh``).
Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .checks import ScenarioError, as_array

PER_STEP = (
    "connected",
    "arrival",
    "departs",
    "capacity_kwh",
    "arrival_soc",
    "required_soc",
    "soc_min",
)
PER_CHARGER = ("charge_kw", "discharge_kw", "efficiency")
REQUIRED_TOL_KWH = 1e-6
"""A departure counts as short when the EV lacks more than this [kWh] of its required energy."""


@dataclass(frozen=True)
class EVChargers:
    """The chargers of a community and their EVs' sessions (see the module docstring)."""

    names: tuple[str, ...]
    member: np.ndarray  # (n,) index of the home whose meter the charger is behind
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    efficiency: np.ndarray  # on each direction, in (0, 1]
    connected: np.ndarray  # (T, n) 0/1
    arrival: np.ndarray  # (T, n) 0/1: a session starts at this step
    departs: np.ndarray  # (T, n) 0/1: the EV leaves after this step
    capacity_kwh: np.ndarray  # (T, n), 0 while nothing is connected
    arrival_soc: np.ndarray  # (T, n), read where ``arrival``
    required_soc: np.ndarray  # (T, n), the session's requirement on each of its steps
    soc_min: np.ndarray  # (T, n)

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(set(self.names)) != n:
            raise ScenarioError("ev_chargers.names: must be unique")
        member = np.asarray(self.member)
        if member.shape != (n,) or (
            n and (member.min() < 0 or not np.all(member == member.astype(int)))
        ):
            raise ScenarioError("ev_chargers.member: one home index >= 0 per charger")
        object.__setattr__(self, "member", member.astype(np.int64))
        for key in PER_CHARGER:
            object.__setattr__(self, key, as_array(f"ev_chargers.{key}", getattr(self, key), (n,)))
        if np.any(self.charge_kw < 0) or np.any(self.discharge_kw < 0):
            raise ScenarioError("ev_chargers.charge_kw/discharge_kw: must be >= 0")
        if np.any((self.efficiency <= 0) | (self.efficiency > 1)):
            raise ScenarioError("ev_chargers.efficiency: must be in (0, 1]")
        steps = np.asarray(self.connected).shape[0] if np.ndim(self.connected) == 2 else -1
        for key in PER_STEP:
            object.__setattr__(
                self, key, as_array(f"ev_chargers.{key}", getattr(self, key), (steps, n))
            )
        conn = self.connected > 0
        for key in ("arrival", "departs"):
            if np.any((getattr(self, key) > 0) & ~conn):
                t, c = np.argwhere((getattr(self, key) > 0) & ~conn)[0]
                raise ScenarioError(
                    f"ev_chargers.{key}: step {t}, charger {self.names[c]}: no EV connected"
                )
        starts = conn & ~np.vstack((np.zeros((1, n), bool), conn[:-1]))
        if np.any(starts & (self.arrival <= 0)):
            t, c = np.argwhere(starts & (self.arrival <= 0))[0]
            raise ScenarioError(
                f"ev_chargers.arrival: step {t}, charger {self.names[c]}: an EV connects "
                "without an arrival"
            )
        if np.any(conn & (self.capacity_kwh <= 0)):
            t, c = np.argwhere(conn & (self.capacity_kwh <= 0))[0]
            raise ScenarioError(
                f"ev_chargers.capacity_kwh: step {t}, charger {self.names[c]}: must be > 0 "
                "while an EV is connected"
            )
        for key in ("arrival_soc", "required_soc", "soc_min"):
            v = getattr(self, key)
            if np.any((v < 0) | (v > 1)):
                raise ScenarioError(f"ev_chargers.{key}: must be within [0, 1]")

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def n_steps(self) -> int:
        return int(self.connected.shape[0])

    @classmethod
    def empty(cls, n_steps: int = 0) -> EVChargers:
        z = np.zeros(0)
        zz = np.zeros((n_steps, 0))
        return cls((), np.zeros(0, np.int64), z, z, z, zz, zz, zz, zz, zz, zz, zz)

    def head(self, n_steps: int) -> EVChargers:
        """The first ``n_steps`` steps (a session cut there has no departure within them, so
        no requirement)."""
        return replace(self, **{key: getattr(self, key)[:n_steps] for key in PER_STEP})

    @cached_property
    def steps_left(self) -> np.ndarray:
        """(T, n) connected steps left in the session, this one included (0: not connected)."""
        conn = self.connected > 0
        end = (self.departs > 0) | np.vstack((self.arrival[1:] > 0, np.ones((1, self.n), bool)))
        end |= conn & ~np.vstack((conn[1:], np.zeros((1, self.n), bool)))
        left = np.zeros(conn.shape, np.int64)
        run = np.zeros(self.n, np.int64)
        for t in range(self.n_steps - 1, -1, -1):
            run = np.where(conn[t], np.where(end[t], 1, run + 1), 0)
            left[t] = run
        return left

    @cached_property
    def required_now(self) -> np.ndarray:
        """(T, n) 0/1: the session of this step ends with a departure (its requirement counts)."""
        left = self.steps_left
        t = np.arange(self.n_steps)[:, None]
        last = np.minimum(t + np.maximum(left, 1) - 1, self.n_steps - 1)
        return np.where(left > 0, np.take_along_axis(self.departs, last, axis=0), 0.0)


# ------------------------------------------------------------------------------ physics
def plug_in(ev: EVChargers, t: int, energy_kwh: np.ndarray) -> np.ndarray:
    """Energy in each connected EV at the start of step ``t``: an arriving EV's arrival SOC,
    a staying EV's energy, 0 at a charger without an EV."""
    arriving = ev.arrival_soc[t] * ev.capacity_kwh[t]
    return np.where(ev.arrival[t] > 0, arriving, np.where(ev.connected[t] > 0, energy_kwh, 0.0))


def limits(
    ev: EVChargers, t: int, energy_kwh: np.ndarray, dt_h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max charge, max discharge, floor) at the terminals for step ``t`` [kWh, >= 0, >= 0,
    signed]. The floor is the least flow that keeps the departure requirement reachable: the
    energy after this step must be at least ``required - (steps left after it) * full charge``
    (a negative floor allows that much discharge)."""
    conn = ev.connected[t] > 0
    cap, eta = ev.capacity_kwh[t], ev.efficiency
    p_c = np.where(conn, ev.charge_kw * dt_h, 0.0)
    p_d = np.where(conn, ev.discharge_kw * dt_h, 0.0)
    max_c = np.minimum(p_c, np.maximum(cap - energy_kwh, 0.0) / eta)
    max_d = np.minimum(p_d, np.maximum(energy_kwh - ev.soc_min[t] * cap, 0.0) * eta)
    after = np.maximum(ev.steps_left[t] - 1, 0)
    need = ev.required_soc[t] * cap - after * p_c * eta
    gap = need - energy_kwh
    floor = np.where(gap > 0.0, gap / eta, gap * eta)
    floor = np.where((ev.required_now[t] > 0) & conn, floor, -np.inf)
    return max_c, max_d, np.minimum(np.maximum(floor, -max_d), max_c)


def to_required(
    ev: EVChargers, t: int, energy_kwh: np.ndarray, max_charge_kwh: np.ndarray
) -> np.ndarray:
    """Uncontrolled charging (no lever for the charger): full power on arrival until the
    required SOC is reached, as a plugged-in EV charges by itself."""
    short = np.maximum(ev.required_soc[t] * ev.capacity_kwh[t] - energy_kwh, 0.0)
    return np.minimum(short / ev.efficiency, max_charge_kwh)


def flows(
    ev: EVChargers,
    t: int,
    energy_kwh: np.ndarray,
    dt_h: float,
    setpoints: np.ndarray,
    follow: bool,
    home_net_kwh: np.ndarray,
) -> np.ndarray:
    """Terminal flow per charger [kWh, > 0 charging] for step ``t``.

    ``setpoints`` per charger in ``[-1, 1]`` (a fraction of the charge power, below 0 of the
    discharge power), NaN for "no lever": uncontrolled charging (:func:`to_required`). With
    ``follow`` a charging setpoint is a floor above which the EV also absorbs its home's
    surplus (``home_net_kwh`` < 0, shared among the home's connected EVs), up to the energy it
    still needs for its departure. The departure floor and the limits always hold."""
    max_c, max_d, floor = limits(ev, t, energy_kwh, dt_h)
    p_c = ev.charge_kw * dt_h
    sched = np.where(setpoints >= 0, setpoints * p_c, setpoints * ev.discharge_kw * dt_h)
    if follow and ev.n:
        # Soak up the home's surplus toward what the EV still needs for its departure (beyond
        # it the energy would leave with the car, and the home battery needs it more); a
        # planned V2G discharge stays as planned (it reaches the neighbours through the market).
        conn = ev.connected[t] > 0
        share = np.bincount(ev.member[conn], minlength=home_net_kwh.size)[ev.member]
        own = home_net_kwh[ev.member] / np.maximum(share, 1)
        needed = to_required(ev, t, energy_kwh, max_c)
        soak = np.minimum(np.maximum(-own, 0.0), needed)
        sched = np.where(conn & (sched >= 0), np.maximum(sched, soak), sched)
    flow = np.where(np.isnan(setpoints), to_required(ev, t, energy_kwh, max_c), sched)
    return np.minimum(np.maximum(np.maximum(flow, floor), -max_d), max_c)


def apply_flow(ev: EVChargers, t: int, energy_kwh: np.ndarray, flow_kwh: np.ndarray) -> np.ndarray:
    """Energy after the step's flow (losses on each way), clipped against rounding."""
    eta = ev.efficiency
    stored = energy_kwh + np.where(flow_kwh > 0, flow_kwh * eta, flow_kwh / eta)
    return np.minimum(np.maximum(stored, 0.0), ev.capacity_kwh[t])


def reachable_kwh(ev: EVChargers, t: int, energy_kwh: np.ndarray, dt_h: float) -> np.ndarray:
    """The most energy each EV can hold when it leaves, charging at full power from step ``t``."""
    full = ev.steps_left[t] * ev.charge_kw * dt_h * ev.efficiency
    return np.minimum(energy_kwh + full, ev.capacity_kwh[t])


def uncontrolled_kwh(ev: EVChargers, n_members: int, dt_h: float) -> np.ndarray:
    """(T, n_members) the EVs' charging when no lever drives them (the no-control run's)."""
    out = np.zeros((ev.n_steps, n_members))
    if ev.n == 0:
        return out
    e = np.zeros(ev.n)
    none = np.full(ev.n, np.nan)
    zero = np.zeros(n_members)
    for t in range(ev.n_steps):
        e = plug_in(ev, t, e)
        f = flows(ev, t, e, dt_h, none, False, zero)
        e = apply_flow(ev, t, e, f)
        np.add.at(out[t], ev.member, f)
    return out
