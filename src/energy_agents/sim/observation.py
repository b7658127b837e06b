"""What an agent may see before deciding step ``t``: the present state and the past only.

Loads and PV of step ``t`` itself are not in it (they happen during the step). Prices for
the next 24 h are, because a real community knows its day-ahead prices and tariff. The
observation is a snapshot (its arrays are copies), and ``to_dict``/``from_dict`` round-trip
exactly through JSON, so a live agent reading ``/state`` sees what a batch advisor sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from .levers import Levers

PER_MEMBER_FIELDS = (  # shape (n_members,)
    "member_soc",
    "member_battery_capacity_kwh",
    "member_battery_power_kw",
    "flexible_share",
    "backlog_kwh",
    "balances_ct",
)
SERIES_FIELDS = (  # community-level series: prices ahead, history behind
    "price_day_ahead",
    "price_imbalance_buy",
    "price_imbalance_sell",
    "price_feed_in",
    "hist_load_kwh",
    "hist_pv_kwh",
    "hist_import_kwh",
    "hist_export_kwh",
    "hist_net_kwh",
    "hist_carbon_kg_per_kwh",
)
MEMBER_HISTORY_FIELDS = ("member_hist_load_kwh", "member_hist_pv_kwh")  # (h_m, n_members)
EV_FIELDS = (  # shape (n_chargers,), in the order of ev_names
    "ev_member",
    "ev_connected",
    "ev_energy_kwh",
    "ev_capacity_kwh",
    "ev_min_kwh",
    "ev_required_kwh",
    "ev_steps_left",
    "ev_charge_kw",
    "ev_discharge_kw",
    "ev_efficiency",
)
APPLIANCE_FIELDS = (  # shape (n_appliances,), in the order of appliance_names
    "appliance_member",
    "appliance_waiting",
    "appliance_steps_left",
    "appliance_energy_kwh",
    "appliance_steps",
)
TANK_FIELDS = (  # shape (n_tanks,), in the order of tank_names
    "tank_member",
    "tank_energy_kwh",
    "tank_capacity_kwh",
    "tank_efficiency",
    "tank_loss_coefficient",
    "tank_cop",
)
TANK_HISTORY_FIELDS = ("hist_tank_demand_kwh",)  # (h_t, n_tanks), h_t <= TANK_HISTORY_DAYS
TANK_HISTORY_DAYS = 7
"""Days of the tanks' thermal demand an observation carries (the forecaster's week)."""
EV_HISTORY_FIELDS = ("hist_ev_connected", "hist_ev_energy_kwh")  # (h_e, n_chargers)
EV_HISTORY_DAYS = 7
"""Days of the chargers' sessions an observation carries (the forecaster's week)."""
HISTORY_TABLES = {"hist_tank_demand_kwh": "tank_names"} | dict.fromkeys(
    EV_HISTORY_FIELDS, "ev_names"
)
"""The per-device history tables (one row per past step, one column per device) and the
names field their columns follow."""
_ARRAY_FIELDS = (
    PER_MEMBER_FIELDS
    + SERIES_FIELDS
    + MEMBER_HISTORY_FIELDS
    + EV_FIELDS
    + APPLIANCE_FIELDS
    + TANK_FIELDS
    + TANK_HISTORY_FIELDS
    + EV_HISTORY_FIELDS
)
STORAGE_FIELDS = (  # keyed by storage name
    "storage_soc",
    "storage_energy_kwh",
    "storage_capacity_kwh",
    "storage_power_kw",
    "storage_efficiency",
    "storage_soc_min",
    "storage_soc_max",
)


@dataclass(frozen=True)
class Observation:
    """State before step ``step``. History arrays are oldest first and end at step ``step - 1``.

    Community-level history (``hist_*``, shape ``(h,)``, h <= history length): ``load`` is the
    members' demand before demand response, ``net`` the community's net exchange
    (import - export). Member history (``member_hist_*``) covers the last day, ``(h_m, n)``.
    ``price_*`` look ahead: element 0 is this step's price, up to one day of steps.
    Storage dicts are keyed by lever key (``storage_A``..., ``members`` = all home batteries
    summed; its ``soc`` is energy-weighted).
    """

    step: int
    n_steps: int
    timestamp: str  # simulated start of the step, "YYYY-MM-DD HH:MM:SS" (the seed's format)
    dt_h: float
    steps_per_day: int
    member_names: tuple[str, ...]
    storage_names: tuple[str, ...]
    storage_soc: Mapping[str, float]
    storage_energy_kwh: Mapping[str, float]
    storage_capacity_kwh: Mapping[str, float]
    storage_power_kw: Mapping[str, float]
    storage_efficiency: Mapping[str, float]  # round trip: eta_charge * eta_discharge
    storage_soc_min: Mapping[str, float]
    storage_soc_max: Mapping[str, float]
    member_soc: np.ndarray
    member_battery_capacity_kwh: np.ndarray
    member_battery_power_kw: np.ndarray
    flexible_share: np.ndarray
    elasticity: float
    max_burn_rate_ct_per_kwh: float
    backlog_kwh: np.ndarray
    balances_ct: np.ndarray
    token_supply_ct: float
    price_day_ahead: np.ndarray
    price_imbalance_buy: np.ndarray
    price_imbalance_sell: np.ndarray
    price_feed_in: np.ndarray
    hist_load_kwh: np.ndarray
    hist_pv_kwh: np.ndarray
    hist_import_kwh: np.ndarray
    hist_export_kwh: np.ndarray
    hist_net_kwh: np.ndarray
    member_hist_load_kwh: np.ndarray
    member_hist_pv_kwh: np.ndarray
    last_levers: Levers | None
    cumulative_cost_ct: float
    # The grid's side (optional for other simulators: the defaults mean "no such tariff").
    hist_carbon_kg_per_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Carbon intensity of the past steps [kg CO2/kWh], aligned with ``hist_load_kwh``."""
    period_peak_import_kw: float = 0.0
    """Highest import of the current demand-charge period so far [kW] (0 at its start)."""
    period_steps_left: int = 1
    """Steps left in the current demand-charge period, this one included."""
    block_peak_net_kwh: float | None = None
    """Highest district net exchange E of the current 730-hour block so far [kWh per step]."""
    block_steps_left: int = 1
    """Steps left in the current load-factor block, this one included."""
    tariff: Mapping[str, Any] = field(default_factory=dict)
    """``Tariff.to_dict()``: demand charge, connection limits (``None``: no limit), overrun."""
    objective: Mapping[str, Any] = field(default_factory=dict)
    """``Objective.to_dict()``: what this run minimizes (empty: ``cost``)."""
    # EV chargers (optional: none by default). One value per charger, in ``ev_names`` order.
    ev_names: tuple[str, ...] = ()
    ev_member: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Index into ``member_names`` of the home each charger is behind."""
    ev_connected: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """1 while an EV is plugged in for this step, else 0."""
    ev_energy_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Energy in the connected EV now [kWh] (an arriving EV's arrival energy)."""
    ev_capacity_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ev_min_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The EV's lowest energy (V2G stops there) [kWh]."""
    ev_required_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Energy the EV must hold when it leaves [kWh] (0: no departure in the data)."""
    ev_steps_left: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Steps until the EV leaves, this one included (the driver's departure time)."""
    ev_charge_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ev_discharge_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The charger's V2G power (0: charge only) [kW]."""
    ev_efficiency: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """On each direction, in (0, 1]."""
    hist_ev_connected: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Whether an EV was plugged in at each past step (1 or 0), shape ``(h_e, n_chargers)``
    (columns in ``ev_names`` order), oldest first, ending at step ``step - 1``;
    ``h_e <= EV_HISTORY_DAYS`` days."""
    hist_ev_energy_kwh: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """The energy in the connected EV at the start of each past step (as ``ev_energy_kwh``
    showed it; 0 while none was connected) [kWh], shaped as ``hist_ev_connected``."""
    # Flexible appliances (optional: none by default), in ``appliance_names`` order.
    appliance_names: tuple[str, ...] = ()
    appliance_member: np.ndarray = field(default_factory=lambda: np.zeros(0))
    appliance_waiting: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """1 while a job of the appliance waits to start, else 0."""
    appliance_steps_left: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Steps until the waiting job must start, this one included."""
    appliance_energy_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    appliance_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Length of the waiting job's cycle [steps]."""
    # Thermal storage tanks (optional: none by default), in ``tank_names`` order.
    tank_names: tuple[str, ...] = ()
    tank_member: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tank_energy_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Heat (or cold) in the tank now [kWh_th]."""
    tank_capacity_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tank_efficiency: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Round trip (sqrt of it on each way)."""
    tank_loss_coefficient: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Share of the content lost per hour."""
    tank_cop: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The tank's device's kWh_th per kWh of electricity this step (COP, or efficiency)."""
    hist_tank_demand_kwh: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """The thermal demand each tank's use had in the past steps [kWh_th per step], shape
    ``(h_t, n_tanks)`` (columns in ``tank_names`` order), oldest first, ending at step
    ``step - 1``; ``h_t <= TANK_HISTORY_DAYS`` days. The demand is always served (by the
    device and the tank), so this is also the heat served."""

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> Observation:
        """The snapshot with every field given at once (the simulator's per-step observation):
        the object ``cls(**values)`` builds, without the frozen ``__init__``'s one
        ``object.__setattr__`` per field (about 6 us of its 8 us for 60 fields). Raises
        ``TypeError`` unless exactly the fields are given."""
        if values.keys() != _FIELD_NAMES:
            return cls(**values)  # the dataclass's own error for missing or unknown fields
        obs = object.__new__(cls)
        obs.__dict__.update(values)
        return obs

    @property
    def step_of_day(self) -> int:
        """Index of this step within the simulation day (day boundaries every 24 h from start)."""
        return self.step % self.steps_per_day

    @property
    def hour(self) -> float:
        """Hour of day of the step's start, from the timestamp."""
        hh, mm = self.timestamp[11:13], self.timestamp[14:16]
        return int(hh) + int(mm) / 60.0

    @property
    def n_members(self) -> int:
        return len(self.member_names)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                out[f.name] = v.tolist()
            elif isinstance(v, Levers):
                out[f.name] = v.to_dict()
            elif f.name in ("tariff", "objective"):
                out[f.name] = dict(v)
            elif isinstance(v, Mapping):
                out[f.name] = {k: float(x) for k, x in v.items()}
            elif isinstance(v, tuple):
                out[f.name] = list(v)
            else:
                out[f.name] = v
        out["schema_version"] = 1
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming a missing field."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.default is not MISSING or f.default_factory is not MISSING:
                    continue  # optional: the field's default
                raise ValueError(f"observation.{f.name}: missing")
            v = data[f.name]
            if f.name in _ARRAY_FIELDS:
                kwargs[f.name] = np.asarray(v, dtype=np.float64)
            elif f.name in STORAGE_FIELDS:
                kwargs[f.name] = {str(k): float(x) for k, x in dict(v).items()}
            elif f.name in (
                "member_names",
                "storage_names",
                "ev_names",
                "appliance_names",
                "tank_names",
            ):
                kwargs[f.name] = tuple(str(x) for x in v)
            elif f.name == "last_levers":
                kwargs[f.name] = None if v is None else Levers.from_dict(v)
            elif f.name in ("tariff", "objective"):
                kwargs[f.name] = MappingProxyType(dict(v))
            else:
                kwargs[f.name] = v
        n = len(kwargs["member_names"])
        for key in ("member_hist_load_kwh", "member_hist_pv_kwh"):
            kwargs[key] = kwargs[key].reshape(-1, n)
        for key, names in HISTORY_TABLES.items():
            if key in kwargs:
                n_d = len(kwargs.get(names, ()))
                kwargs[key] = kwargs[key].reshape(-1, n_d) if n_d else np.zeros((0, 0))
        return cls(**kwargs)


_FIELD_NAMES = frozenset(f.name for f in fields(Observation))
