"""CityLearn <-> our observation contract and levers: pure, standard library only.

It runs inside CityLearn's own venv (numpy < 2, no simulator of ours), so it builds the JSON
that ``POST /state`` accepts (``Observation.to_dict``'s fields) from plain numbers, and turns a
decision's ``parameters`` (``Levers.to_dict``) into CityLearn's actions.

CityLearn -> observation (:class:`ObservationBuilder`): one member per building, one storage
key ``members`` (the home batteries summed, as ``scenarios.citylearn`` does); the step's own
load and PV are NOT in the observation (ours holds the past only): they enter the history once
the step is over. Prices look one day ahead (the 2022 data's predictions equal the actual
values), feed-in 0 (CityLearn's cost pays nothing for export), no imbalance market.

Thermal storage tanks (the 2023 datasets' ``dhw_storage``, ``cooling_storage``,
``heating_storage``): a building's ``load`` is its non-shiftable load plus the electricity its heat
pumps and heaters draw to serve this step's recorded demand as it comes (what our CityLearn
loader puts in the load); a tank's state and its device's COP fill the ``tank_*`` fields
(:func:`tank_fields`), and ``thermal_setpoints`` become the ``<use>_storage`` actions as they are
(both are a fraction of the tank's capacity per hour, :func:`tank_actions`).

Levers -> actions (:func:`actions_from_levers`): CityLearn's battery action is the energy to
move this step as a fraction of capacity, in [-1, 1]. Each battery's flow follows our model's
rules for home batteries (schedule, follow with the setpoint as floor, pooled steering of the
district's net), on this step's load and PV as CityLearn shows them to its controllers before
they act; it is limited by the rated power and by the room left on either side (the schema's
efficiency on each side, as our CityLearn loader does; CityLearn then applies its own power
and efficiency curves, docs/integrations.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MEMBERS = "members"
HISTORY_DAYS = 7  # as sim.community: a week of community history, a day per member
TANK_HISTORY_DAYS = 7  # as sim.observation: a week of each tank's thermal demand
EV_HISTORY_DAYS = 7  # as sim.observation: a week of each charger's sessions
BLOCK_STEPS = 730  # CityLearn 2022's load-factor block


class MappingError(ValueError):
    """An input the mapping cannot use; the message names the field."""


METERINGS = ("district", "building")
"""How the homes are metered: ``district`` (one meter, as the 2022 score nets the district;
pooled batteries serve each other) or ``building`` (each home its own, as ``env.evaluate()``'s
per-building ``cost_total`` counts)."""

CITYLEARN_CAPACITY_POWER_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 1.0),
    (0.8, 1.0),
    (1.0, 0.2),
)
"""CityLearn 3.0.2's default ``capacity_power_curve`` (``energy_model.Battery``)."""


@dataclass(frozen=True)
class Battery:
    """One building's battery as the schema gives it."""

    capacity_kwh: float  # 0: the building has no battery (CityLearn then still lists one)
    power_kw: float
    efficiency: float  # CityLearn's ``efficiency``: applied on charge and on discharge
    soc_min: float = 0.0  # 1 - depth_of_discharge
    capacity_power_curve: tuple[tuple[float, float], ...] = CITYLEARN_CAPACITY_POWER_CURVE
    """(SOC, share of ``power_kw``) points: CityLearn limits charge *and* discharge power by the
    SOC at the step's start, linearly between the points (its ``get_max_input_power``)."""
    action_kwh: float | None = None
    """The energy an action of 1.0 asks for in one step. CityLearn 3.0.2 scales the action by
    the nominal power (``normalized_power_action_to_energy_kwh``), earlier versions by the
    capacity; None: the capacity. Asking by the wrong one moves ``power/capacity`` of the
    intended energy (0.78 on the 2022 homes)."""
    name: str = ""
    """Its building's name: the key of its own setpoint in the levers' ``battery_setpoints``."""

    def __post_init__(self) -> None:
        if not (self.capacity_kwh >= 0 and self.power_kw >= 0 and 0 < self.efficiency <= 1):
            raise MappingError(f"battery: capacity >= 0, power >= 0, efficiency in (0, 1]: {self}")
        if self.action_kwh is not None and not self.action_kwh > 0:
            raise MappingError(f"battery.action_kwh: must be > 0: {self}")
        xs = [x for x, _ in self.capacity_power_curve]
        if len(xs) < 2 or xs != sorted(xs) or len(set(xs)) != len(xs):
            raise MappingError(f"battery.capacity_power_curve: two or more increasing SOCs: {self}")

    def max_power_kw(self, soc: float) -> float:
        """The power CityLearn allows at ``soc`` (interpolated; the end segments extrapolate,
        as CityLearn's does)."""
        c = self.capacity_power_curve
        i = min(len(c) - 2, max(0, sum(1 for x, _ in c if x < soc) - 1))
        (x0, y0), (x1, y1) = c[i], c[i + 1]
        return max(self.power_kw * (y0 + (y1 - y0) * (soc - x0) / (x1 - x0)), 0.0)


@dataclass(frozen=True)
class BuildingStep:
    """What CityLearn shows about one building before a step (its observation names)."""

    non_shiftable_load: float  # kWh this step
    solar_generation: float  # kWh this step (CityLearn's own, already scaled by the PV size)
    electrical_storage_soc: float  # fraction of capacity
    device_kwh: float = 0.0  # heat pumps' and heaters' electricity for this step's demand

    @property
    def load(self) -> float:
        """The building's electric load this step before any flexibility [kWh]."""
        return self.non_shiftable_load + self.device_kwh


@dataclass(frozen=True)
class Charger:
    """One EV charger as CityLearn describes it (``Building.electric_vehicle_chargers``)."""

    name: str
    member: int  # index of its building
    charge_kw: float
    discharge_kw: float
    efficiency: float
    min_charge_kw: float = 0.0  # CityLearn's dead band: a smaller request is not served
    min_discharge_kw: float = 0.0


@dataclass(frozen=True)
class EVState:
    """One charger before a step, from CityLearn's observation (its ``*_charger_<id>_*`` names).

    CityLearn's departure countdown is 0 on a session's last step, so the steps left, this
    one included, are ``departure_time / dt + 1``."""

    connected: bool
    energy_kwh: float = 0.0
    capacity_kwh: float = 0.0
    required_kwh: float = 0.0
    steps_left: int = 0
    min_kwh: float = 0.0


def ev_states(
    names: Sequence[str],
    values: Sequence[float],
    chargers: Sequence[Charger],
    dt_h: float,
    steps_left: Sequence[int | None] | None = None,
) -> list[EVState]:
    """The :class:`EVState` of ``chargers`` from one building's observation names and values;
    ``steps_left`` per charger from its file (:func:`session_steps_left`) replaces the
    observation's countdown where given."""
    obs = dict(zip(names, values, strict=True))
    out = []
    for c in chargers:
        key = f"electric_vehicle_charger_{c.name}_connected_state"
        if key not in obs:
            raise MappingError(f"citylearn observation: {key} missing (activate it in the schema)")
        if obs[key] < 0.5:
            out.append(EVState(False))
            continue
        at = f"connected_electric_vehicle_at_charger_{c.name}_"
        try:
            cap = float(obs[at + "battery_capacity"])
            soc = min(max(float(obs[at + "soc"]), 0.0), 1.0)
            req = min(max(float(obs[at + "required_soc_departure"]), 0.0), 1.0)
            left = int(round(float(obs[at + "departure_time"]) / dt_h)) + 1
        except KeyError as exc:
            raise MappingError(f"citylearn observation: {exc.args[0]} missing") from None
        known = None if steps_left is None else steps_left[len(out)]
        out.append(EVState(True, soc * cap, cap, req * cap, max(known or left, 1)))
    return out


def session_steps_left(
    state: Sequence[float], ev_id: Sequence[str], countdown: Sequence[float]
) -> list[int]:
    """Per row of a charger file: the connected rows left in its session, this one included
    (0 where no EV is connected), with the session boundaries of our loader
    (``scenarios.citylearn_ev``: the EV id changes, the state leaves 1, or the departure
    countdown restarts after reaching 1). CityLearn's observation carries the countdown only
    where the file has one (-1 elsewhere); the file's rows say when the EV really leaves."""
    n = len(state)
    left = [0] * n
    run = 0
    for t in range(n - 1, -1, -1):
        if state[t] != 1:
            run = 0
        else:
            nxt = t + 1
            goes_on = (
                nxt < n
                and state[nxt] == 1
                and ev_id[nxt] == ev_id[t]
                and not (countdown[t] <= 1 and countdown[nxt] > countdown[t])
            )
            run = run + 1 if goes_on else 1
        left[t] = run
    return left


def ev_fields(chargers: Sequence[Charger], states: Sequence[EVState]) -> dict[str, Any]:
    """The observation's ``ev_*`` fields (``Observation`` docs) for the chargers' states."""
    if len(chargers) != len(states):
        raise MappingError("ev states: one per charger")
    return {
        "ev_names": [c.name for c in chargers],
        "ev_member": [float(c.member) for c in chargers],
        "ev_connected": [1.0 if s.connected else 0.0 for s in states],
        "ev_energy_kwh": [s.energy_kwh for s in states],
        "ev_capacity_kwh": [s.capacity_kwh for s in states],
        "ev_min_kwh": [s.min_kwh for s in states],
        "ev_required_kwh": [s.required_kwh for s in states],
        "ev_steps_left": [float(s.steps_left) for s in states],
        "ev_charge_kw": [c.charge_kw for c in chargers],
        "ev_discharge_kw": [c.discharge_kw for c in chargers],
        "ev_efficiency": [c.efficiency for c in chargers],
    }


def ev_flows(
    parameters: Mapping[str, Any],
    chargers: Sequence[Charger],
    states: Sequence[EVState],
    home_net_kwh: Sequence[float],
    dt_h: float = 1.0,
) -> list[float]:
    """Each charger's terminal flow [kWh, > 0 charging] by our model's rules (``sim.ev.flows``,
    restated without numpy): the decision's setpoint (no setpoint: uncontrolled, full power to
    the required energy), with ``storage_follow`` its home's surplus soaked up toward what the
    EV still needs, never below the departure floor, within the limits."""
    setpoints = parameters.get("ev_setpoints") or {}
    if not isinstance(setpoints, Mapping):
        raise MappingError("parameters.ev_setpoints: must be an object")
    follow = parameters.get("storage_follow") is True
    n_conn: dict[int, int] = {}
    for c, st in zip(chargers, states, strict=True):
        n_conn[c.member] = n_conn.get(c.member, 0) + (1 if st.connected else 0)
    out = []
    for c, st in zip(chargers, states, strict=True):
        if not st.connected:
            out.append(0.0)
            continue
        eta, e = c.efficiency, st.energy_kwh
        p_c, p_d = c.charge_kw * dt_h, c.discharge_kw * dt_h
        max_c = min(p_c, max(st.capacity_kwh - e, 0.0) / eta)
        max_d = min(p_d, max(e - st.min_kwh, 0.0) * eta)
        need = st.required_kwh - (st.steps_left - 1) * p_c * eta
        floor = (need - e) / eta if need > e else -(e - need) * eta
        to_required = min(max(st.required_kwh - e, 0.0) / eta, max_c)
        if c.name in setpoints:
            sp = min(max(_finite(f"parameters.ev_setpoints.{c.name}", setpoints[c.name]), -1), 1)
            f = sp * p_c if sp >= 0 else sp * p_d
            if follow and f >= 0:  # (a V2G request on a charge-only charger is 0)
                surplus = max(-float(home_net_kwh[c.member]), 0.0) / max(n_conn[c.member], 1)
                f = max(f, min(surplus, to_required))
        else:
            f = to_required
        f = min(max(f, floor, -max_d), max_c)
        # CityLearn serves no request below the charger's minimum power: a needed top-up is
        # raised to it (the EV then holds a little more), an optional one dropped.
        if 0.0 < f < c.min_charge_kw * dt_h:
            f = c.min_charge_kw * dt_h if floor > 0 else 0.0
        elif 0.0 < -f < c.min_discharge_kw * dt_h:
            f = 0.0
        out.append(f)
    return out


def ev_actions(
    flows: Sequence[float], chargers: Sequence[Charger], dt_h: float = 1.0
) -> list[float]:
    """CityLearn's charger actions: a fraction of the charge power (below 0: of the discharge
    power), as its ``Charger`` reads them."""
    out = []
    for f, c in zip(flows, chargers, strict=True):
        p = (c.charge_kw if f >= 0 else c.discharge_kw) * dt_h
        out.append(min(max(f / p, -1.0), 1.0) if p > 0 else 0.0)
    return out


TANK_USES = ("cooling", "heating", "dhw")
"""CityLearn's thermal storages, ``<use>_storage``; our tank names are ``<building>/<use>``."""


@dataclass(frozen=True)
class Tank:
    """One thermal storage tank as CityLearn describes it (``Building.<use>_storage``)."""

    name: str  # "<building>/<use>", as scenarios.citylearn_tanks names it
    member: int  # index of its building
    use: str  # one of TANK_USES
    capacity_kwh: float  # kWh_th
    efficiency: float  # round trip (sqrt of it on each way)
    loss_coefficient: float  # share of the content lost per hour

    def __post_init__(self) -> None:
        if self.use not in TANK_USES:
            raise MappingError(f"tank {self.name}: use must be one of {TANK_USES}")
        _finite(f"tank {self.name}: capacity_kwh", self.capacity_kwh)
        if self.capacity_kwh <= 0:
            raise MappingError(f"tank {self.name}: capacity_kwh must be > 0")
        if not 0 < self.efficiency <= 1:
            raise MappingError(f"tank {self.name}: efficiency must be in (0, 1]")
        if not 0 <= self.loss_coefficient <= 1:
            raise MappingError(f"tank {self.name}: loss_coefficient must be in [0, 1]")

    @property
    def action(self) -> str:
        """Its CityLearn action name."""
        return f"{self.use}_storage"


@dataclass(frozen=True)
class TankState:
    """One tank before a step: its SOC (CityLearn's ``<use>_storage_soc``) and its device's
    kWh of heat (or cold) per kWh of electricity this step (COP, or a heater's efficiency)."""

    soc: float
    cop: float
    demand_kwh: float = 0.0  # kWh_th of its use this step (CityLearn's ``<use>_demand``)
    device_max_kwh: float = math.inf  # the device's largest output this step [kWh_th]


def tank_electricity_kwh(
    parameters: Mapping[str, Any],
    tanks: Sequence[Tank],
    states: Sequence[TankState],
    n_buildings: int,
    dt_h: float = 1.0,
) -> list[float]:
    """Per building the extra electricity [kWh, < 0 a saving] its tanks' ``thermal_setpoints``
    cause this step, by our model's tank rules (``sim.thermal_storage.step``, restated without
    numpy: the standby loss first, charging within the device's headroom above the demand and
    the room, discharging within the demand and the content, ``sqrt(efficiency)`` each way;
    input and output limits are not modelled here, CityLearn applies its own). The batteries'
    follow rule sees it, as in our model (tanks before batteries)."""
    if len(tanks) != len(states):
        raise MappingError("tank states: one per tank")
    asked = tank_actions(parameters, tanks)
    out = [0.0] * n_buildings
    for k, st in zip(tanks, states, strict=True):
        if not 0 <= k.member < n_buildings:
            raise MappingError(f"tank {k.name}: member {k.member} is not a building")
        root = math.sqrt(k.efficiency)
        e0 = min(max(st.soc, 0.0), 1.0) * k.capacity_kwh * max(1.0 - k.loss_coefficient * dt_h, 0.0)
        ask = asked[k.name] * k.capacity_kwh * dt_h
        head = max(st.device_max_kwh - st.demand_kwh, 0.0)
        max_c = min(head, max(k.capacity_kwh - e0, 0.0) / root)
        max_d = min(max(st.demand_kwh, 0.0), e0 * root)
        flow = min(max(ask, -max_d), max_c)
        out[k.member] += flow / st.cop if st.cop > 0 else 0.0
    return out


def tank_fields(
    tanks: Sequence[Tank], states: Sequence[TankState], history: Sequence[Sequence[float]] = ()
) -> dict[str, Any]:
    """The observation's ``tank_*`` fields (``Observation`` docs) for the tanks' states, and
    ``hist_tank_demand_kwh`` from ``history`` (one row of the tanks' demands per past step)."""
    if len(tanks) != len(states):
        raise MappingError("tank states: one per tank")
    for k, st in zip(tanks, states, strict=True):
        _finite(f"tank {k.name}: soc", st.soc)
        _finite(f"tank {k.name}: cop", st.cop)
        if st.cop < 0:
            raise MappingError(f"tank {k.name}: cop must be >= 0")
    return {
        "tank_names": [k.name for k in tanks],
        "tank_member": [float(k.member) for k in tanks],
        "tank_energy_kwh": [
            min(max(st.soc, 0.0), 1.0) * k.capacity_kwh for k, st in zip(tanks, states, strict=True)
        ],
        "tank_capacity_kwh": [k.capacity_kwh for k in tanks],
        "tank_efficiency": [k.efficiency for k in tanks],
        "tank_loss_coefficient": [k.loss_coefficient for k in tanks],
        "tank_cop": [st.cop for st in states],
        "hist_tank_demand_kwh": [list(row) for row in history],
    }


def tank_actions(parameters: Mapping[str, Any], tanks: Sequence[Tank]) -> dict[str, float]:
    """Per tank name its CityLearn ``<use>_storage`` action: the decision's
    ``thermal_setpoints`` (a fraction of the capacity per hour, as CityLearn's action), clipped
    to [-1, 1]; 0 (idle, as in our model) for a tank without one."""
    given = parameters.get("thermal_setpoints") or {}
    if not isinstance(given, Mapping):
        raise MappingError("parameters.thermal_setpoints: must be an object")
    out = {}
    for k in tanks:
        v = _finite(f"parameters.thermal_setpoints.{k.name}", given.get(k.name, 0.0))
        out[k.name] = min(max(v, -1.0), 1.0)
    return out


OBSERVED = ("non_shiftable_load", "solar_generation", "electrical_storage_soc")
"""CityLearn observations :func:`building_steps` reads (the driver activates them)."""


def building_steps(
    names: Sequence[str], values: Sequence[float], device_kwh: float = 0.0
) -> BuildingStep:
    """One building's :class:`BuildingStep` from CityLearn's observation names and values
    (``device_kwh``: its heat pumps' and heaters' electricity for this step's demand)."""
    obs = dict(zip(names, values, strict=True))
    try:
        return BuildingStep(
            float(obs["non_shiftable_load"]),
            float(obs["solar_generation"]),
            float(obs["electrical_storage_soc"]),
            _finite("device_kwh", device_kwh),
        )
    except KeyError as exc:
        raise MappingError(f"citylearn observation: {exc.args[0]} missing") from None


@dataclass
class ObservationBuilder:
    """Builds our observation dict step by step; keeps the history CityLearn does not."""

    names: tuple[str, ...]
    batteries: tuple[Battery, ...]
    n_steps: int
    start: str  # "YYYY-MM-DD HH:MM:SS" of step 0
    dt_h: float = 1.0
    tariff: Mapping[str, Any] = field(default_factory=dict)
    objective: Mapping[str, Any] = field(default_factory=dict)
    max_burn_rate_ct_per_kwh: float = 1.0
    elasticity: float = 10.0
    chargers: tuple[Charger, ...] = ()
    tanks: tuple[Tank, ...] = ()
    hist_load: list[float] = field(default_factory=list)
    hist_pv: list[float] = field(default_factory=list)
    hist_import: list[float] = field(default_factory=list)
    hist_export: list[float] = field(default_factory=list)
    hist_carbon: list[float] = field(default_factory=list)
    member_load: list[list[float]] = field(default_factory=list)
    member_pv: list[list[float]] = field(default_factory=list)
    tank_demand: list[list[float]] = field(default_factory=list)
    ev_connected: list[list[float]] = field(default_factory=list)
    ev_energy: list[list[float]] = field(default_factory=list)
    cumulative_cost_ct: float = 0.0
    period_peak_kw: float = 0.0
    block_peak: float | None = None
    last_parameters: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.batteries):
            raise MappingError("batteries: one per building")
        self._t0 = datetime.strptime(self.start, "%Y-%m-%d %H:%M:%S")

    @property
    def step(self) -> int:
        return len(self.hist_load)

    @property
    def steps_per_day(self) -> int:
        return round(24 / self.dt_h)

    def _time(self, t: int) -> datetime:
        return self._t0 + timedelta(hours=self.dt_h * t)

    def observation(
        self,
        buildings: Sequence[BuildingStep],
        prices_ahead: Sequence[float],
        evs: Sequence[EVState] = (),
        tank_states: Sequence[TankState] = (),
    ) -> dict[str, Any]:
        """The observation of the coming step: state now, the past, a day of prices ahead (and
        the chargers' ``evs`` states, one per charger of ``chargers``, and the ``tank_states``,
        one per tank of ``tanks``)."""
        if len(buildings) != len(self.names):
            raise MappingError(f"buildings: {len(buildings)} given, {len(self.names)} expected")
        if not prices_ahead:
            raise MappingError("prices_ahead: at least this step's price")
        t, spd = self.step, self.steps_per_day
        cap = [b.capacity_kwh for b in self.batteries]
        # A building without a battery has SOC 0 (CityLearn's may be undefined there).
        soc = [
            _soc(b.electrical_storage_soc) if c > 0 else 0.0
            for b, c in zip(buildings, cap, strict=True)
        ]
        energy = sum(s * c for s, c in zip(soc, cap, strict=True))
        total = sum(cap)
        prices = [float(p) for p in prices_ahead[:spd]]
        lo, lo_m = max(0, t - HISTORY_DAYS * spd), max(0, t - spd)
        imp, exp = self.hist_import[lo:], self.hist_export[lo:]
        now = self._time(t)
        return {
            "step": t,
            "n_steps": self.n_steps,
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
            "dt_h": self.dt_h,
            "steps_per_day": spd,
            "member_names": list(self.names),
            **(self._home_batteries(energy, total) if total > 0 else _no_storage()),
            "member_soc": soc,
            "member_battery_capacity_kwh": cap,
            "member_battery_power_kw": [b.power_kw for b in self.batteries],
            "flexible_share": [0.0] * len(self.names),
            "elasticity": self.elasticity,
            "max_burn_rate_ct_per_kwh": self.max_burn_rate_ct_per_kwh,
            "backlog_kwh": [0.0] * len(self.names),
            "balances_ct": [0.0] * len(self.names),
            "token_supply_ct": 0.0,
            "price_day_ahead": prices,
            "price_imbalance_buy": prices,
            "price_imbalance_sell": prices,
            "price_feed_in": [0.0] * len(prices),
            "hist_load_kwh": self.hist_load[lo:],
            "hist_pv_kwh": self.hist_pv[lo:],
            "hist_import_kwh": imp,
            "hist_export_kwh": exp,
            "hist_net_kwh": [i - e for i, e in zip(imp, exp, strict=True)],
            "member_hist_load_kwh": self.member_load[lo_m:],
            "member_hist_pv_kwh": self.member_pv[lo_m:],
            "last_levers": None if self.last_parameters is None else dict(self.last_parameters),
            "cumulative_cost_ct": self.cumulative_cost_ct,
            "hist_carbon_kg_per_kwh": self.hist_carbon[lo:],
            "period_peak_import_kw": self.period_peak_kw,
            "period_steps_left": self._month_steps_left(t),
            "block_peak_net_kwh": self.block_peak,
            "block_steps_left": BLOCK_STEPS - t % BLOCK_STEPS,
            "tariff": dict(self.tariff),
            "objective": dict(self.objective),
            **(ev_fields(self.chargers, evs) if self.chargers else {}),
            **(
                {
                    "hist_ev_connected": self.ev_connected[max(0, t - EV_HISTORY_DAYS * spd) :],
                    "hist_ev_energy_kwh": self.ev_energy[max(0, t - EV_HISTORY_DAYS * spd) :],
                }
                if self.chargers
                else {}
            ),
            **(
                tank_fields(
                    self.tanks, tank_states, self.tank_demand[max(0, t - TANK_HISTORY_DAYS * spd) :]
                )
                if self.tanks
                else {}
            ),
            "schema_version": 1,
        }

    def _home_batteries(self, energy: float, total: float) -> dict[str, Any]:
        """The homes' batteries as the one pooled storage ``members`` of the observation."""
        bats = self.batteries
        return {
            "storage_names": [MEMBERS],
            "storage_soc": {MEMBERS: energy / total},
            "storage_energy_kwh": {MEMBERS: energy},
            "storage_capacity_kwh": {MEMBERS: total},
            "storage_power_kw": {MEMBERS: sum(b.power_kw for b in bats)},
            "storage_efficiency": {
                MEMBERS: sum(b.efficiency**2 * b.capacity_kwh for b in bats) / total
            },
            "storage_soc_min": {MEMBERS: sum(b.soc_min * b.capacity_kwh for b in bats) / total},
            "storage_soc_max": {MEMBERS: 1.0},
        }

    def _month_steps_left(self, t: int) -> int:
        now = self._time(t)
        nxt = datetime(now.year + now.month // 12, now.month % 12 + 1, 1)
        left = math.ceil((nxt - now).total_seconds() / 3600 / self.dt_h)
        return max(1, min(left, self.n_steps - t))

    def record(
        self,
        buildings: Sequence[BuildingStep],
        net_kwh: Sequence[float],
        price: float,
        carbon: float,
        parameters: Mapping[str, Any] | None,
        tank_demand_kwh: Sequence[float] = (),
        evs: Sequence[EVState] = (),
    ) -> None:
        """Close the step: its loads, PV and each building's net consumption as CityLearn
        computed them, each tank's thermal demand (one per tank of ``tanks``) and the chargers'
        states before it (``evs``, one per charger of ``chargers``). Cost is CityLearn's
        district-netted one: max(0, sum net) x price."""
        if len(tank_demand_kwh) != len(self.tanks):
            raise MappingError(f"tank_demand_kwh: one per tank ({len(self.tanks)})")
        if len(evs) != len(self.chargers):
            raise MappingError(f"evs: one per charger ({len(self.chargers)})")
        loads = [b.load for b in buildings]
        pvs = [b.solar_generation for b in buildings]
        district = sum(net_kwh)
        t = self.step
        self.hist_load.append(sum(loads))
        self.hist_pv.append(sum(pvs))
        self.hist_import.append(max(district, 0.0))
        self.hist_export.append(max(-district, 0.0))
        self.hist_carbon.append(carbon)
        self.member_load.append(loads)
        self.member_pv.append(pvs)
        if self.chargers:
            self.ev_connected.append([1.0 if e.connected else 0.0 for e in evs])
            self.ev_energy.append([_finite("evs.energy_kwh", e.energy_kwh) if e.connected else 0.0
                                   for e in evs])  # fmt: skip
        if self.tanks:
            self.tank_demand.append([_finite("tank_demand_kwh", x) for x in tank_demand_kwh])
        self.cumulative_cost_ct += max(district, 0.0) * price
        self.last_parameters = parameters
        new_month = self._month_steps_left(t) == 1
        self.period_peak_kw = 0.0 if new_month else max(self.period_peak_kw, district / self.dt_h)
        block_peak = district if self.block_peak is None else max(self.block_peak, district)
        self.block_peak = None if (t + 1) % BLOCK_STEPS == 0 else block_peak


def actions_from_levers(
    parameters: Mapping[str, Any],
    buildings: Sequence[BuildingStep],
    batteries: Sequence[Battery],
    dt_h: float = 1.0,
    metering: str = "district",
    ev_kwh: Sequence[float] | None = None,
    tank_kwh: Sequence[float] | None = None,
) -> list[float]:
    """CityLearn battery actions (in [-1, 1], of ``Battery.action_kwh``) for a decision's levers.

    The rules of our model's home batteries (``sim.storage.dispatch`` and ``split_pooled``,
    restated here without numpy): schedule ``s * P * dt`` (``s`` the battery's own entry of
    ``battery_setpoints`` by its building's name, else ``members``); with ``storage_follow``
    the setpoint is a floor and each battery covers its own home's residual; pooled (follow, P2P,
    ``home_batteries_pooled``) the batteries together move the district's net toward the
    decision's exchange target, shared by each battery's room. ``ev_kwh``: each building's EV
    charging this step (:func:`ev_flows`), part of the residual the batteries see, as in our
    model (EVs first, then batteries); ``tank_kwh``: each building's extra electricity of its
    thermal tanks this step (:func:`tank_electricity_kwh`), likewise."""
    if len(buildings) != len(batteries):
        raise MappingError("buildings and batteries: one each per building")
    setpoints = parameters.get("storage_setpoints") or {}
    if not isinstance(setpoints, Mapping):
        raise MappingError("parameters.storage_setpoints: must be an object")
    s = _finite("parameters.storage_setpoints.members", setpoints.get(MEMBERS, 0.0))
    own = parameters.get("battery_setpoints") or {}
    if not isinstance(own, Mapping):
        raise MappingError("parameters.battery_setpoints: must be an object")
    own_s = [
        min(max(_finite(f"parameters.battery_setpoints.{b.name}", own.get(b.name, s)), -1.0), 1.0)
        for b in batteries
    ]
    follow = parameters.get("storage_follow") is True
    pooled = follow and parameters.get("p2p_enabled") is True
    pooled = pooled and parameters.get("home_batteries_pooled") is True
    if metering not in METERINGS:
        raise MappingError(f"metering: one of {METERINGS}, not {metering!r}")
    # Metered per building, a battery gains nothing from a neighbour's deficit (CityLearn has
    # no local market): the pool becomes each battery following its own home.
    pooled = pooled and metering == "district"
    target = parameters.get("exchange_target_kwh")
    if target is None:
        target = parameters.get("procurement_kwh", 0.0)
    target = _finite("parameters.exchange_target_kwh", target)
    max_in, max_out, floor = [], [], []
    for b, bat, sp in zip(buildings, batteries, own_s, strict=True):
        soc = min(max(b.electrical_storage_soc, 0.0), 1.0)
        e = soc * bat.capacity_kwh
        # CityLearn's power limit at this SOC, not the nameplate: near full it is a fifth of it.
        p = bat.max_power_kw(soc) * dt_h
        max_in.append(min(max((bat.capacity_kwh - e) / bat.efficiency, 0.0), p))
        max_out.append(min(max((e - bat.soc_min * bat.capacity_kwh) * bat.efficiency, 0.0), p))
        floor.append(min(max(sp * bat.power_kw * dt_h, -max_out[-1]), max_in[-1]))
    residual = [b.load - b.solar_generation for b in buildings]
    if ev_kwh is not None:
        residual = [r + float(e) for r, e in zip(residual, ev_kwh, strict=True)]
    if tank_kwh is not None:
        residual = [r + float(e) for r, e in zip(residual, tank_kwh, strict=True)]
    if pooled:
        flows = _split_pooled(floor, max_in, sum(residual) - target, residual)
    elif follow:
        flows = [
            min(max(max(-r, f), -mo), mi)
            for r, f, bat, mi, mo in zip(residual, floor, batteries, max_in, max_out, strict=True)
        ]
    else:
        flows = floor
    return [
        min(max(f / per, -1.0), 1.0) if (per := bat.action_kwh or bat.capacity_kwh) > 0 else 0.0
        for f, bat in zip(flows, batteries, strict=True)
    ]


def _split_pooled(
    floor: list[float], max_in: list[float], residual: float, own: list[float]
) -> list[float]:
    """The pooled flow ``clip(-residual, sum floors, sum max)`` of ``sim.storage.split_pooled``,
    split own home first: each battery starts at what covers its own home's residual (``own``,
    within its floor and room), the rest toward zero first (no battery charges from another),
    then by room. CityLearn has no local market, so a battery
    that exports to the neighbours earns nothing in its building's ``cost_total``; this split
    moves the same district total with the fewest such exports."""
    pooled = min(max(-residual, sum(floor)), sum(max_in))
    flows = [min(max(-r, f), m) for r, f, m in zip(own, floor, max_in, strict=True)]
    # Toward zero first, then by room: no battery charges from another.
    for phase in ("to_zero", "by_room"):
        rest = pooled - sum(flows)
        if rest > 0:
            top = [min(m, 0.0) if phase == "to_zero" else m for m in max_in]
            room = [max(t - a, 0.0) for t, a in zip(top, flows, strict=True)]
        else:
            bottom = [max(f, 0.0) if phase == "to_zero" else f for f in floor]
            room = [max(a - b, 0.0) for a, b in zip(flows, bottom, strict=True)]
        total = sum(room)
        if total <= 0 or rest == 0:
            continue
        share = min(abs(rest) / total, 1.0) * (1.0 if rest > 0 else -1.0)
        flows = [a + r * share for a, r in zip(flows, room, strict=True)]
    return flows


# sim.observation.STORAGE_FIELDS, restated: this module imports nothing of the model (it runs
# in CityLearn's venv beside the driver), as TANK_HISTORY_DAYS above.
_STORAGE_KEYS = (
    "storage_soc",
    "storage_energy_kwh",
    "storage_capacity_kwh",
    "storage_power_kw",
    "storage_efficiency",
    "storage_soc_min",
    "storage_soc_max",
)


def _no_storage() -> dict[str, Any]:
    """No building has a battery: the observation has no storage."""
    return {"storage_names": [], **{k: {} for k in _STORAGE_KEYS}}


def _soc(value: float) -> float:
    """A SOC in [0, 1] (0 where CityLearn's is not a number)."""
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MappingError(f"{name}: must be a finite number")
    return float(value)
