"""Thermal storage tanks: a bank of hot-water / heating / cooling tanks that shift the
electricity of the heat pumps and electric heaters serving a recorded thermal demand.

One tank per building and use (CityLearn's ``dhw_storage``, ``heating_storage``,
``cooling_storage``). Per tank ``k`` and step ``t`` (arrays ``(n_steps, n_tanks)``): the
recorded thermal demand ``demand_kwh`` [kWh_th per step], the device's electricity per kWh of
heat (or cold) ``elec_per_kwh = 1 / COP`` (heat pumps: CityLearn's Carnot fraction on the
outdoor temperature; electric heaters: ``1 / efficiency``) and the device's largest thermal
output ``device_max_kwh`` [kWh_th per step] (nominal electric power x dt x COP; ``inf`` when
the schema gives no power). Per tank: its capacity [kWh_th], CityLearn's standby
``loss_coefficient`` [share of the content lost per hour], its ``efficiency`` (round trip,
``sqrt`` of it on each way, as CityLearn's ``StorageDevice``) and optional input/output power
limits [kW_th].

A step, with ``e`` the energy in the tank [kWh_th] (CityLearn's order, docs/model.md):

1. standby loss: ``e0 = e * (1 - loss_coefficient * dt_h)``;
2. the setpoint ``a`` in ``[-1, 1]`` asks for ``a * capacity * dt_h`` [kWh_th] (CityLearn's
   ``*_storage`` action, a fraction of the capacity per hour); charging ``q`` is at most the
   device's headroom above the demand, the input limit and the room ``(capacity - e0) /
   sqrt(eta)``; discharging ``d`` is at most the demand, the output limit and ``e0 *
   sqrt(eta)``;
3. ``e = e0 + q * sqrt(eta) - d / sqrt(eta)``; the device delivers ``demand - d + q``;
4. the device's electricity changes by ``(q - d) * elec_per_kwh`` against serving the demand
   as it comes (which the scenario's load already holds).

The demand is always served (by the device and the tank); without a setpoint a tank is idle
(it still loses its content), so a run without the lever is the run without tanks.
Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .checks import ScenarioError

USES = ("cooling", "heating", "dhw")
PER_STEP = ("demand_kwh", "elec_per_kwh", "device_max_kwh")
PER_TANK = (
    "capacity_kwh",
    "loss_coefficient",
    "efficiency",
    "soc_init",
    "max_input_kw",
    "max_output_kw",
)


def _array(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` without NaN (``inf`` is "no limit")."""
    arr = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    if arr.shape != shape:
        raise ScenarioError(f"{name}: expected shape {shape}, got {arr.shape}")
    if np.any(np.isnan(arr)):
        raise ScenarioError(f"{name}: NaN")
    return arr


@dataclass(frozen=True)
class ThermalTanks:
    """The thermal tanks of a community (see the module docstring)."""

    names: tuple[str, ...]
    member: np.ndarray  # (n,) index of the home whose devices the tank serves
    use: tuple[str, ...]  # one of USES per tank
    capacity_kwh: np.ndarray  # (n,) kWh_th, > 0
    loss_coefficient: np.ndarray  # (n,) share of the content lost per hour, in [0, 1]
    efficiency: np.ndarray  # (n,) round trip, in (0, 1]
    soc_init: np.ndarray  # (n,) in [0, 1]
    max_input_kw: np.ndarray  # (n,) kW_th (inf: no limit)
    max_output_kw: np.ndarray  # (n,) kW_th (inf: no limit)
    demand_kwh: np.ndarray  # (T, n) kWh_th per step
    elec_per_kwh: np.ndarray  # (T, n) kWh electric per kWh_th (1 / COP)
    device_max_kwh: np.ndarray  # (T, n) kWh_th per step (inf: no limit)

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(set(self.names)) != n:
            raise ScenarioError("thermal_tanks.names: must be unique")
        if len(self.use) != n or any(u not in USES for u in self.use):
            raise ScenarioError(f"thermal_tanks.use: one of {list(USES)} per tank")
        member = np.asarray(self.member)
        if member.shape != (n,) or (
            n and (member.min() < 0 or not np.all(member == member.astype(int)))
        ):
            raise ScenarioError("thermal_tanks.member: one home index >= 0 per tank")
        object.__setattr__(self, "member", member.astype(np.int64))
        for key in PER_TANK:
            object.__setattr__(self, key, _array(f"thermal_tanks.{key}", getattr(self, key), (n,)))
        steps = np.asarray(self.demand_kwh).shape[0] if np.ndim(self.demand_kwh) == 2 else -1
        for key in PER_STEP:
            object.__setattr__(
                self,
                key,
                _array(f"thermal_tanks.{key}", getattr(self, key), (steps, n)),
            )
        checks = (
            ("capacity_kwh", self.capacity_kwh > 0, "must be > 0"),
            ("loss_coefficient", (self.loss_coefficient >= 0) & (self.loss_coefficient <= 1),
             "must be in [0, 1]"),
            ("efficiency", (self.efficiency > 0) & (self.efficiency <= 1), "must be in (0, 1]"),
            ("soc_init", (self.soc_init >= 0) & (self.soc_init <= 1), "must be in [0, 1]"),
            ("max_input_kw", self.max_input_kw >= 0, "must be >= 0"),
            ("max_output_kw", self.max_output_kw >= 0, "must be >= 0"),
            ("demand_kwh", np.isfinite(self.demand_kwh) & (self.demand_kwh >= 0),
             "must be finite and >= 0"),
            ("elec_per_kwh", np.isfinite(self.elec_per_kwh) & (self.elec_per_kwh >= 0),
             "must be finite and >= 0"),
            ("device_max_kwh", self.device_max_kwh >= 0, "must be >= 0"),
        )  # fmt: skip
        for key, ok, what in checks:
            if not np.all(ok):
                raise ScenarioError(f"thermal_tanks.{key}: {what}")
        for key in PER_TANK[:4]:
            if not np.all(np.isfinite(getattr(self, key))):
                raise ScenarioError(f"thermal_tanks.{key}: must be finite")

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def n_steps(self) -> int:
        return int(self.demand_kwh.shape[0])

    @classmethod
    def empty(cls, n_steps: int = 0) -> ThermalTanks:
        z = np.zeros(0)
        zz = np.zeros((n_steps, 0))
        return cls((), np.zeros(0, np.int64), (), z, z, z, z, z, z, zz, zz, zz)

    def head(self, n_steps: int) -> ThermalTanks:
        return replace(self, **{key: getattr(self, key)[:n_steps] for key in PER_STEP})

    def initial_energy(self) -> np.ndarray:
        return self.soc_init * self.capacity_kwh


# ------------------------------------------------------------------------------ physics
def after_loss(tanks: ThermalTanks, energy_kwh: np.ndarray, dt_h: float) -> np.ndarray:
    """Step 1: the content after the step's standby loss (CityLearn's ``next_time_step``)."""
    return energy_kwh * np.maximum(1.0 - tanks.loss_coefficient * dt_h, 0.0)


def limits(
    tanks: ThermalTanks, t: int, e0_kwh: np.ndarray, dt_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """(largest charge, largest discharge) [kWh_th, >= 0] of step ``t`` from content ``e0``
    (after the loss): charge within the device's headroom above the demand, the input limit
    and the room; discharge within the demand, the output limit and the content."""
    root = np.sqrt(tanks.efficiency)
    demand = tanks.demand_kwh[t]
    head = np.maximum(tanks.device_max_kwh[t] - demand, 0.0)
    room = np.maximum(tanks.capacity_kwh - e0_kwh, 0.0) / root
    max_c = np.minimum(np.minimum(head, tanks.max_input_kw * dt_h), room)
    max_d = np.minimum(np.minimum(demand, tanks.max_output_kw * dt_h), e0_kwh * root)
    return max_c, max_d


def step(
    tanks: ThermalTanks, t: int, energy_kwh: np.ndarray, dt_h: float, setpoints: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step: (energy after it [kWh_th], tank flow [kWh_th, > 0 charging, < 0 the heat
    given to the demand], extra device electricity [kWh, < 0 a saving]).

    ``setpoints`` per tank in ``[-1, 1]`` (NaN: idle), a fraction of the capacity per hour."""
    e0 = after_loss(tanks, energy_kwh, dt_h)
    max_c, max_d = limits(tanks, t, e0, dt_h)
    ask = np.nan_to_num(np.clip(setpoints, -1.0, 1.0), nan=0.0) * tanks.capacity_kwh * dt_h
    flow = np.minimum(np.maximum(ask, -max_d), max_c)
    root = np.sqrt(tanks.efficiency)
    stored = e0 + np.where(flow > 0, flow * root, flow / root)
    stored = np.minimum(np.maximum(stored, 0.0), tanks.capacity_kwh)
    return stored, flow, flow * tanks.elec_per_kwh[t]
