"""Static description of a community: members, storages, prices (the ``...Params`` of the model).

Everything here is checked once, in ``__post_init__``, so that a bad scenario is refused
before step 0 with a :class:`ScenarioError` that names the field. Units are in the names:
``_kwh`` per step, ``_kw`` power, ``_ct_per_kwh`` community-token prices, ``soc`` a fraction.
Time series have shape ``(n_steps,)`` or ``(n_steps, n_members)`` (row ``t`` is one step).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from . import appliances as appliance_model
from . import ev as ev_model
from .appliances import Appliances
from .checks import ScenarioError, as_array
from .ev import EVChargers
from .objective import Objective
from .thermal_storage import ThermalTanks

__all__ = [
    "MEMBER_BATTERIES",
    "Appliances",
    "EVChargers",
    "Prices",
    "Scenario",
    "ScenarioError",
    "StorageBank",
    "Tariff",
]

MEMBER_BATTERIES = "members"
"""Lever key of the member-owned batteries (driven as one group, each at its own power)."""


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class StorageBank:
    """A group of batteries, vectorized: every array has shape ``(n,)``.

    Energy ``e`` [kWh] evolves as ``e += eta_charge * charge - discharge / eta_discharge``;
    ``charge``/``discharge`` are energy at the battery's terminals [kWh per step], each at most
    ``power_kw * dt_h``; ``soc = e / capacity_kwh`` stays within ``[soc_min, soc_max]``.
    A capacity of 0 means "no battery" (the member still has a slot).
    """

    names: tuple[str, ...]
    capacity_kwh: np.ndarray
    power_kw: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    soc_init: np.ndarray

    def __post_init__(self) -> None:
        n = (len(self.names),)
        for fname in (
            "capacity_kwh",
            "power_kw",
            "eta_charge",
            "eta_discharge",
            "soc_min",
            "soc_max",
            "soc_init",
        ):
            object.__setattr__(self, fname, as_array(f"storage.{fname}", getattr(self, fname), n))
        if np.any(self.capacity_kwh < 0):
            raise ScenarioError("storage.capacity_kwh: must be >= 0")
        if np.any(self.power_kw < 0):
            raise ScenarioError("storage.power_kw: must be >= 0")
        for eta in ("eta_charge", "eta_discharge"):
            v = getattr(self, eta)
            if np.any((v <= 0) | (v > 1)):
                raise ScenarioError(f"storage.{eta}: must be in (0, 1]")
        if np.any((self.soc_min < 0) | (self.soc_max > 1) | (self.soc_min > self.soc_max)):
            raise ScenarioError("storage.soc_min/soc_max: need 0 <= soc_min <= soc_max <= 1")
        if np.any((self.soc_init < self.soc_min) | (self.soc_init > self.soc_max)):
            raise ScenarioError("storage.soc_init: must lie within [soc_min, soc_max]")

    @property
    def n(self) -> int:
        return len(self.names)

    # The step's constants, computed once (the arrays above are not changed after __init__).
    @cached_property
    def energy_max_kwh(self) -> np.ndarray:
        """``soc_max * capacity_kwh``: the most energy each may hold."""
        return _frozen(self.soc_max * self.capacity_kwh)

    @cached_property
    def energy_min_kwh(self) -> np.ndarray:
        """``soc_min * capacity_kwh``: the least energy each may hold."""
        return _frozen(self.soc_min * self.capacity_kwh)

    @cached_property
    def zeros(self) -> np.ndarray:
        """Zeros of the bank's shape: ``np.maximum(x, bank.zeros)`` is ``np.maximum(x, 0.0)``
        to the bit, about 1 us faster at 1,000 entries (a Python scalar operand costs numpy a
        conversion on every call)."""
        return _frozen(np.zeros(self.n))

    def step_power_kwh(self, dt_h: float) -> np.ndarray:
        """``power_kw * dt_h``: the most energy a step moves at the terminals."""
        cache = self.__dict__.setdefault("_step_power", {})
        p = cache.get(dt_h)
        if p is None:
            p = cache[dt_h] = _frozen(self.power_kw * dt_h)
        return p

    @classmethod
    def empty(cls) -> StorageBank:
        z = np.zeros(0)
        return cls((), z, z, z, z, z, z, z)

    @classmethod
    def uniform(
        cls,
        names: tuple[str, ...],
        capacity_kwh: object,
        power_kw: object,
        efficiency: float = 0.95,
        soc_min: float = 0.0,
        soc_max: float = 1.0,
        soc_init: float = 0.5,
    ) -> StorageBank:
        """Batteries sharing efficiency and SOC bounds; ``efficiency`` applies on each side."""
        n = len(names)
        cap = np.broadcast_to(np.asarray(capacity_kwh, dtype=float), (n,)).copy()
        pw = np.broadcast_to(np.asarray(power_kw, dtype=float), (n,)).copy()
        return cls(
            names,
            cap,
            pw,
            np.full(n, efficiency),
            np.full(n, efficiency),
            np.full(n, soc_min),
            np.full(n, soc_max),
            np.full(n, soc_init),
        )


@dataclass(frozen=True)
class Prices:
    """Grid prices per step [CT/kWh], each of shape ``(n_steps,)``.

    ``day_ahead`` buys the procured volume; a shortfall is bought at ``imbalance_buy``, an excess
    procurement sold back at ``imbalance_sell``; exports earn ``feed_in``. The model needs
    ``feed_in <= imbalance_sell <= day_ahead <= imbalance_buy`` at every step (otherwise buying
    to resell would make money and the optimum would be unbounded).
    """

    day_ahead: np.ndarray
    imbalance_buy: np.ndarray
    imbalance_sell: np.ndarray
    feed_in: np.ndarray

    def check(self, n_steps: int) -> None:
        for fname in ("day_ahead", "imbalance_buy", "imbalance_sell", "feed_in"):
            object.__setattr__(
                self, fname, as_array(f"prices.{fname}", getattr(self, fname), (n_steps,))
            )
        eps = 1e-12
        checks = (
            ("feed_in", "imbalance_sell", self.feed_in <= self.imbalance_sell + eps),
            ("imbalance_sell", "day_ahead", self.imbalance_sell <= self.day_ahead + eps),
            ("day_ahead", "imbalance_buy", self.day_ahead <= self.imbalance_buy + eps),
        )
        for lo, hi, ok in checks:
            if not np.all(ok):
                t = int(np.flatnonzero(~ok)[0])
                raise ScenarioError(
                    f"prices.{lo}: must be <= prices.{hi} (first violated at step {t})"
                )
        if np.any(self.feed_in < 0):
            raise ScenarioError("prices.feed_in: must be >= 0")


DEMAND_CHARGE_PERIODS = ("month", "day")


@dataclass(frozen=True)
class Tariff:
    """The grid's tariff components at the community's meter beyond the per-kWh prices.

    - **Demand charge**: ``demand_charge_ct_per_kw`` CT per kW of the highest import of each
      ``demand_charge_period`` (calendar ``month`` of the step timestamps, or simulation
      ``day``), billed at the period's last step (a real example: US utilities' residential
      demand rates, e.g. Arizona Public Service's R-3 at about $17/kW-month on the on-peak
      maximum; Germany's ``Leistungspreis`` for metered business connections per kW-year).
    - **Connection limit**: ``import_limit_kw`` and ``export_limit_kw`` at the meter. Export
      above the limit is curtailed (PV spilled, counted as ``curtailed_kwh``; e.g. Germany's
      feed-in cap of 60 % of the PV's rating for new systems without a smart meter, 2025).
      Import above the limit is still served, but each kWh above it costs
      ``overrun_ct_per_kwh`` on top of the energy price and is counted
      (``limit_violation_kwh``, ``limit_violation_steps``; e.g. the excess-capacity charges UK
      distribution operators bill for exceeding the agreed supply capacity).
    """

    demand_charge_ct_per_kw: float = 0.0
    demand_charge_period: str = "month"
    import_limit_kw: float = math.inf
    export_limit_kw: float = math.inf
    overrun_ct_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        for key in ("demand_charge_ct_per_kw", "overrun_ct_per_kwh"):
            v = getattr(self, key)
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or v < 0
            ):
                raise ScenarioError(f"tariff.{key}: must be a finite number >= 0, got {v!r}")
            object.__setattr__(self, key, float(v))
        for key in ("import_limit_kw", "export_limit_kw"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v) or v <= 0:
                raise ScenarioError(
                    f"tariff.{key}: must be a number > 0 (inf: no limit), got {v!r}"
                )
            object.__setattr__(self, key, float(v))
        if self.demand_charge_period not in DEMAND_CHARGE_PERIODS:
            raise ScenarioError(
                f"tariff.demand_charge_period: must be one of {', '.join(DEMAND_CHARGE_PERIODS)},"
                f" got {self.demand_charge_period!r}"
            )

    @property
    def has_limits(self) -> bool:
        return math.isfinite(self.import_limit_kw) or math.isfinite(self.export_limit_kw)

    def to_dict(self) -> dict[str, float | str | None]:
        """JSON form: an infinite limit is ``None``."""
        return {
            "demand_charge_ct_per_kw": self.demand_charge_ct_per_kw,
            "demand_charge_period": self.demand_charge_period,
            "import_limit_kw": self.import_limit_kw
            if math.isfinite(self.import_limit_kw)
            else None,
            "export_limit_kw": self.export_limit_kw
            if math.isfinite(self.export_limit_kw)
            else None,
            "overrun_ct_per_kwh": self.overrun_ct_per_kwh,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Tariff:
        """Inverse of :meth:`to_dict`; unknown keys are refused (the message names them)."""
        known = set(cls.__dataclass_fields__)
        for key in data:
            if key not in known:
                raise ScenarioError(
                    f"tariff.{key}: unknown tariff component; known: {', '.join(sorted(known))}"
                )
        kwargs = dict(data)
        for key in ("import_limit_kw", "export_limit_kw"):
            if key in kwargs and kwargs[key] is None:
                kwargs[key] = math.inf
        return cls(**kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scenario:
    """Everything static about one simulated community over ``n_steps`` steps of ``dt_h`` hours.

    ``load_kwh`` and ``pv_kwh`` are ``(n_steps, n_members)``, energy per step. A share
    ``flexible_share[i]`` of member i's load can be deferred within the simulation day (see
    docs/model.md); ``elasticity`` scales how much of it the burn rate defers.
    ``carbon_kg_per_kwh`` is the grid's carbon intensity per step (None: unknown, zeros);
    ``tariff`` the grid's demand charge and connection limits; ``objective`` what a run on
    this scenario minimizes and is judged on (a run may choose another).
    """

    name: str
    start: str  # ISO timestamp of step 0, e.g. "2022-08-01T00:00:00"
    dt_h: float
    member_names: tuple[str, ...]
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    prices: Prices
    member_batteries: StorageBank
    community_storages: StorageBank
    flexible_share: np.ndarray
    elasticity: float = 10.0
    mint_rate_ct_per_kwh: float = 0.05
    max_burn_rate_ct_per_kwh: float = 1.0
    weather: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    carbon_kg_per_kwh: np.ndarray | None = None
    tariff: Tariff = field(default_factory=Tariff)
    objective: Objective = field(default_factory=Objective)
    ev_chargers: EVChargers | None = None
    appliances: Appliances | None = None
    thermal_tanks: ThermalTanks | None = None

    def __post_init__(self) -> None:
        if not self.dt_h > 0 or (self.dt_h * 4) % 1 != 0:
            raise ScenarioError("dt_h: must be a positive multiple of 0.25 h")
        if 24 % self.dt_h != 0:
            raise ScenarioError("dt_h: must divide 24 h")
        n_members = len(self.member_names)
        if n_members == 0:
            raise ScenarioError("member_names: a community needs at least one member")
        load = np.asarray(self.load_kwh)
        if load.ndim != 2:
            raise ScenarioError(
                f"load_kwh: expected 2 dimensions (steps, members), got {load.ndim}"
            )
        shape = (load.shape[0], n_members)
        if shape[0] < 1:
            raise ScenarioError("load_kwh: needs at least one step")
        object.__setattr__(self, "load_kwh", as_array("load_kwh", load, shape))
        object.__setattr__(self, "pv_kwh", as_array("pv_kwh", self.pv_kwh, shape))
        if np.any(self.load_kwh < 0):
            raise ScenarioError("load_kwh: must be >= 0")
        if np.any(self.pv_kwh < 0):
            raise ScenarioError("pv_kwh: must be >= 0")
        flex = as_array("flexible_share", self.flexible_share, (n_members,))
        if np.any((flex < 0) | (flex > 1)):
            raise ScenarioError("flexible_share: must be within [0, 1]")
        object.__setattr__(self, "flexible_share", flex)
        self.prices.check(shape[0])
        if self.member_batteries.n != n_members:
            raise ScenarioError(
                f"member_batteries: need one slot per member ({n_members}), got {self.member_batteries.n}"
            )
        if MEMBER_BATTERIES in self.community_storages.names:
            raise ScenarioError(f"community_storages: the name {MEMBER_BATTERIES!r} is reserved")
        if len(set(self.community_storages.names)) != self.community_storages.n:
            raise ScenarioError("community_storages: names must be unique")
        for key, value in (
            ("elasticity", self.elasticity),
            ("mint_rate_ct_per_kwh", self.mint_rate_ct_per_kwh),
            ("max_burn_rate_ct_per_kwh", self.max_burn_rate_ct_per_kwh),
        ):
            if not (np.isfinite(value) and value >= 0):
                raise ScenarioError(f"{key}: must be a finite number >= 0")
        weather = {
            k: as_array(f"weather.{k}", v, (shape[0],)) for k, v in dict(self.weather).items()
        }
        object.__setattr__(self, "weather", weather)
        carbon = np.zeros(shape[0]) if self.carbon_kg_per_kwh is None else self.carbon_kg_per_kwh
        carbon = as_array("carbon_kg_per_kwh", carbon, (shape[0],))
        if np.any(carbon < 0):
            raise ScenarioError("carbon_kg_per_kwh: must be >= 0")
        object.__setattr__(self, "carbon_kg_per_kwh", carbon)
        if not isinstance(self.tariff, Tariff):
            raise ScenarioError("tariff: must be a Tariff")
        if not isinstance(self.objective, Objective):
            raise ScenarioError("objective: must be an Objective")
        for key, kind in (
            ("ev_chargers", EVChargers),
            ("appliances", Appliances),
            ("thermal_tanks", ThermalTanks),
        ):
            dev = getattr(self, key)
            dev = kind.empty(shape[0]) if dev is None else dev
            if not isinstance(dev, kind):
                raise ScenarioError(f"{key}: must be {kind.__name__}")
            if dev.n_steps != shape[0]:
                raise ScenarioError(f"{key}: {dev.n_steps} steps, the scenario has {shape[0]}")
            if dev.n and dev.member.max() >= n_members:
                raise ScenarioError(f"{key}.member: index beyond the {n_members} members")
            object.__setattr__(self, key, dev)

    @property
    def n_steps(self) -> int:
        return int(self.load_kwh.shape[0])

    @property
    def n_members(self) -> int:
        return len(self.member_names)

    @property
    def steps_per_day(self) -> int:
        return int(round(24 / self.dt_h))

    @property
    def evs(self) -> EVChargers:
        """The EV chargers (none: an empty set)."""
        assert self.ev_chargers is not None  # set in __post_init__
        return self.ev_chargers

    @property
    def flexible_appliances(self) -> Appliances:
        """The flexible appliances (none: an empty set)."""
        assert self.appliances is not None  # set in __post_init__
        return self.appliances

    @property
    def tanks(self) -> ThermalTanks:
        """The thermal storage tanks (none: an empty set)."""
        assert self.thermal_tanks is not None  # set in __post_init__
        return self.thermal_tanks

    def uncontrolled_blocks(self, rows: int = 256) -> Iterator[tuple[int, np.ndarray]]:
        """What the devices draw without control [kWh]: the EVs charging on arrival, the
        appliances starting as their windows open (the no-control run's), in blocks of ``rows``
        steps, each ``(first step, (rows, n_members))``. Its readers want sums of it, and at
        10,000 homes the whole year would be 700 MB."""
        ap = self.flexible_appliances
        for lo, block in ev_model.uncontrolled_blocks(self.evs, self.n_members, self.dt_h, rows):
            if ap.n:
                block += appliance_model.uncontrolled_kwh(ap, self.n_members, lo, lo + len(block))
            yield lo, block

    @cached_property
    def no_control_totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per step of the no-control run (storages idle, P2P off, no demand response, the
        devices uncontrolled), summed over the members [kWh]: what the devices draw, the
        members' imports and their exports (before the connection limit), each member meeting
        the grid alone. One pass over :meth:`uncontrolled_blocks` for the community's base cost
        and the objectives' reference run: the devices' draw is a simulation of its own (the
        EVs' sessions). Read-only."""
        n, rows = self.n_steps, 64  # blocks of 64 steps: small temporaries (15 MB at 10,000)
        draw, imp, exp = np.zeros(n), np.empty(n), np.empty(n)
        devices = bool(self.evs.n or self.flexible_appliances.n)
        blocks = (
            self.uncontrolled_blocks(rows)
            if devices
            else ((lo, None) for lo in range(0, n, rows))  # no devices: the load and PV alone
        )
        for lo, extra in blocks:
            hi = min(lo + rows, n)
            own = self.load_kwh[lo:hi] - self.pv_kwh[lo:hi]
            if extra is not None:
                draw[lo:hi] = extra.sum(axis=1)
                own += extra
            imp[lo:hi] = np.maximum(own, 0.0).sum(axis=1)
            exp[lo:hi] = np.maximum(-own, 0.0).sum(axis=1)
        for a in (draw, imp, exp):
            a.flags.writeable = False
        return draw, imp, exp

    @property
    def carbon(self) -> np.ndarray:
        """The carbon intensity per step [kg CO2/kWh] (zeros when the data had none)."""
        assert self.carbon_kg_per_kwh is not None  # set in __post_init__
        return self.carbon_kg_per_kwh

    @property
    def storage_names(self) -> tuple[str, ...]:
        """Lever keys: the community storages, then ``"members"`` if any member has a battery."""
        names = self.community_storages.names
        if np.any(self.member_batteries.capacity_kwh > 0):
            names = (*names, MEMBER_BATTERIES)
        return names

    def timestamps(self) -> np.ndarray:
        """Step start times as ``datetime64[s]`` (the only calendar the model uses)."""
        start = np.datetime64(self.start, "s")
        step = np.timedelta64(int(round(self.dt_h * 3600)), "s")
        return start + step * np.arange(self.n_steps)

    def head(self, n_steps: int) -> Scenario:
        """The same community over its first ``n_steps`` steps."""
        n = max(1, min(n_steps, self.n_steps))
        p = self.prices
        return replace(
            self,
            load_kwh=self.load_kwh[:n],
            pv_kwh=self.pv_kwh[:n],
            prices=Prices(
                p.day_ahead[:n], p.imbalance_buy[:n], p.imbalance_sell[:n], p.feed_in[:n]
            ),
            weather={k: v[:n] for k, v in self.weather.items()},
            carbon_kg_per_kwh=self.carbon[:n],
            ev_chargers=self.evs.head(n),
            appliances=self.flexible_appliances.head(n),
            thermal_tanks=self.tanks.head(n),
        )
