"""The community model: ``Community(scenario)``, then ``observe()`` -> ``step(levers)`` per step.

The equations, units and sign conventions are in docs/model.md; this module follows them in
the same order. Pure numpy: no I/O, no wall clock, no global randomness (``sim.kernel``, the
compiled members' part for large communities, reads and writes only numba's cache).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from . import appliances as appliance_model
from . import ev as ev_model
from . import grid, market, storage
from . import thermal_storage as tank_model
from .history import RecentRows
from .ledger import TokenLedger
from .levers import Levers, Setpoints, setpoint_array
from .observation import (
    APPLIANCE_FIELDS,
    EV_FIELDS,
    EV_HISTORY_DAYS,
    EV_HISTORY_FIELDS,
    TANK_FIELDS,
    TANK_HISTORY_DAYS,
    TANK_HISTORY_FIELDS,
    Observation,
)
from .params import MEMBER_BATTERIES, Scenario, StorageBank
from .sums import largest_abs, sum_of

HISTORY_DAYS = 14
# From this many member-steps (members x steps) up the members' arithmetic runs in the compiled
# kernel (sim/kernel.py). It saves about 55-80 ns a member-step and costs about 0.55 s once
# (numba's import and loading the compiled functions): at 1,000 members x a year (8.76 million)
# the loop takes half the time and the whole process the same; below, numba costs more.
KERNEL_MIN_MEMBER_STEPS = 8_000_000

# Per-step result columns (community level, shape (n_steps,)); the SOC columns are added per
# storage as ``soc_<name>`` and ``flow_<name>_kwh``.
RESULT_COLUMNS = (
    "load_kwh",  # demand before demand response
    "served_kwh",  # load actually served this step
    "pv_kwh",
    "import_kwh",
    "export_kwh",
    "procurement_kwh",
    "shortfall_kwh",  # import above procurement, bought at the imbalance buy price
    "excess_kwh",  # procurement not used, sold at the imbalance sell price
    "grid_cost_ct",  # energy + overrun + demand charge (what the community pays the grid)
    "demand_charge_ct",  # billed at the last step of each demand-charge period
    "overrun_ct",  # import above the connection limit x the overrun price
    "overrun_kwh",  # import above the connection limit (served, but penalized)
    "curtailed_kwh",  # export above the connection limit (PV spilled)
    "period_peak_kw",  # highest import of the demand-charge period so far, after this step
    "net_kwh",  # the district's net exchange E = import - export (after curtailment)
    "carbon_kg",  # carbon intensity x import
    "burned_ct",
    "minted_ct",
    "tokens_spent_ct",  # grid_cost_ct + burned_ct
    "p2p_kwh",
    "p2p_price_ct_per_kwh",
    "deferred_kwh",
    "backlog_kwh",
    "burn_rate_ct_per_kwh",
    "price_day_ahead",
    "city_cost_ct",  # CityLearn 2022: max(0, price * district net) with storage
    "city_base_cost_ct",  # the same without any storage and without demand response
    "storage_discharge_kwh",
    "ev_kwh",  # EV charging at the chargers' terminals (< 0: V2G)
    "ev_energy_kwh",  # energy in the connected EVs after the step
    "appliance_kwh",  # the flexible appliances' running cycles
    "tank_kwh",  # thermal tanks' flow [kWh_th] (> 0 charging, < 0 serving the demand)
    "tank_energy_kwh",  # heat (or cold) in the tanks after the step [kWh_th]
    "tank_electricity_kwh",  # extra device electricity for the tanks (< 0: saved)
    "tank_loss_kwh",  # standby loss of the step [kWh_th]
)


# The per-step results every step writes, in the order of one row of ``Community._rows`` (one
# row write a step instead of one write per column; ``results[name]`` is a view of its column).
_STEP_ROW = (
    "served_kwh",
    "import_kwh",
    "export_kwh",
    "procurement_kwh",
    "shortfall_kwh",
    "excess_kwh",
    "grid_cost_ct",
    "demand_charge_ct",
    "overrun_ct",
    "overrun_kwh",
    "curtailed_kwh",
    "period_peak_kw",
    "net_kwh",
    "carbon_kg",
    "burned_ct",
    "minted_ct",
    "tokens_spent_ct",
    "p2p_kwh",
    "p2p_price_ct_per_kwh",
    "deferred_kwh",
    "backlog_kwh",
    "burn_rate_ct_per_kwh",
    "price_day_ahead",
    "city_cost_ct",
    "storage_discharge_kwh",
    "p2p_enabled",
)


def _frozen_view(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class StepResult:
    """What one step did. Member arrays have shape ``(n_members,)``, all in kWh or CT."""

    step: int
    levers: Levers  # as applied, after clipping
    served_kwh: np.ndarray
    battery_kwh: np.ndarray  # member battery terminal flow, > 0 charging
    p2p_bought_kwh: np.ndarray
    p2p_sold_kwh: np.ndarray
    residual_deficit_kwh: np.ndarray  # member need met by community storage or grid
    residual_surplus_kwh: np.ndarray  # member surplus left to community storage or grid
    community_storage_kwh: np.ndarray  # (n_community_storages,), > 0 charging
    import_kwh: float
    export_kwh: float
    grid_cost_ct: float
    burned_ct: float
    minted_ct: float
    p2p_kwh: float
    energy_balance_error_kwh: float
    token_conservation_error_ct: float


def demand_response(
    flex_kwh: np.ndarray,
    backlog_kwh: np.ndarray,
    burn: float,
    price: float,
    elasticity: float,
    day_end: bool,
    zero: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1: (deferred, released) per member [kWh]. A burn defers the share
    ``min(1, elasticity * burn / price)`` of the flexible load; the backlog is released at the
    first step without a burn, and at the latest at the day's end (nothing deferred then).
    The side that is nothing is ``zero`` when given (a read-only zeros array), else new zeros."""
    zero = np.zeros_like(flex_kwh) if zero is None else zero
    if day_end:
        return zero, backlog_kwh
    if burn > 0.0:
        share = min(1.0, elasticity * burn / price) if price > 0 else 1.0
        return share * flex_kwh, zero
    return zero, backlog_kwh


def member_setpoints(
    levers: Levers,
    n: int,
    index: Mapping[str, int] | None = None,
    names: tuple[str, ...] | None = None,
) -> float | np.ndarray:
    """The home batteries' setpoint: the ``members`` one, or one per battery (``n``) where
    ``battery_setpoints`` name some (``index`` maps a member's name to its position; ``names``,
    the members in order, lets :class:`Setpoints` over all of them be taken as they are)."""
    setpoint: float | np.ndarray = levers.storage_setpoints.get(MEMBER_BATTERIES, 0.0)
    given = levers.battery_setpoints
    if given:  # clipped: the keys are known names
        if isinstance(given, Setpoints) and names is not None and given.names is names:
            return given.array
        if index is None:
            raise ValueError("home_battery_flow: battery_setpoints need the members' index")
        setpoint = np.full(n, setpoint)
        values = given.array if isinstance(given, Setpoints) else list(given.values())
        setpoint[[index[name] for name in given]] = values
    return setpoint


def home_battery_flow(
    bank: StorageBank,
    energy_kwh: np.ndarray,
    dt_h: float,
    levers: Levers,
    own_net_kwh: np.ndarray,
    index: Mapping[str, int] | None = None,
    names: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Step 2: every home battery's terminal flow [kWh, > 0 charging] under clipped ``levers``.

    Schedule (no follow): ``members`` setpoint x rating, or the battery's own
    (``battery_setpoints``, by member name; ``index`` maps a name to its position). Follow: each
    battery absorbs or covers its own home's residual ``own_net_kwh`` down to the setpoint
    floor. Pooled (follow, P2P on, ``home_batteries_pooled``): together they move the
    community's net toward the procurement, as the community storages do (their energy reaches
    neighbours through the local market)."""
    setpoint = member_setpoints(levers, energy_kwh.size, index, names)
    if levers.home_batteries_pooled and levers.storage_follow and levers.p2p_enabled:
        return storage.split_pooled(
            bank,
            energy_kwh,
            dt_h,
            setpoint if isinstance(setpoint, np.ndarray) else np.full(energy_kwh.size, setpoint),
            True,
            sum_of(own_net_kwh) - levers.steering_target_kwh,
        )
    return storage.dispatch(bank, energy_kwh, dt_h, setpoint, levers.storage_follow, own_net_kwh)


def _member_balance_error(
    served: np.ndarray,
    parts: tuple[np.ndarray, ...],
    pv: np.ndarray,
    own_net: np.ndarray,
    bought: np.ndarray,
    sold: np.ndarray,
    res_deficit: np.ndarray,
    res_surplus: np.ndarray,
    zero: np.ndarray,
    shortcuts: bool,
) -> float:
    """The largest |drawn - supplied| of a member [kWh]: what its home drew (``served``, the
    devices' and battery's ``parts``, less PV) against what the market, the community storages
    and the grid supplied it. ``zero`` marks a part that is nothing (skipped with shortcuts)."""
    if shortcuts and parts[0] is zero and parts[1] is zero and parts[2] is zero:
        drawn = own_net  # served - pv, computed by the step
    elif shortcuts:  # the parts that are not zero (drawn is only compared, in abs, below)
        drawn = served
        for part in parts:
            if part is not zero:
                drawn = drawn + part
        drawn = drawn - pv
    else:
        drawn = served + parts[0] + parts[1] + parts[2] - pv
    if shortcuts and bought is zero:
        supplied = res_deficit - res_surplus
    else:
        supplied = bought - sold + res_deficit - res_surplus
    return largest_abs(drawn - supplied)


def _load_kernel(required: bool) -> Any:
    """``sim.kernel`` (numba: imported only where it pays). Where numba cannot load or cache
    it (no writable cache directory, say), the default falls back to the numpy step, which
    gives the same results; ``Community(compiled=True)`` raises instead."""
    try:
        from . import kernel
    except (ImportError, OSError, RuntimeError):
        if required:
            raise
        return None
    return kernel


def _steps_left(index: np.ndarray) -> np.ndarray:
    """Per step: the steps left in its group, itself included (1 at a group's last step)."""
    n = index.size
    ends = np.flatnonzero(grid.last_of_group(index))
    end_of = ends[np.searchsorted(ends, np.arange(n))]
    return end_of - np.arange(n) + 1


class Community:
    """One simulated community, advanced one step at a time.

    ``shortcuts`` (the default) skips the arithmetic of parts that cannot change anything this
    step: demand response without a burn and without a backlog, idle home batteries (setpoint 0,
    not following, energy within its bounds), no community storages, the local market when off.
    Every skipped operation adds or subtracts zeros, so the results are the same (to the sign
    of a zero); ``shortcuts=False`` runs every equation (the tests' reference).

    ``compiled``: the members' arithmetic in the compiled kernel (``sim.kernel``, equal to
    rounding); by default from ``KERNEL_MIN_MEMBER_STEPS`` up, never without shortcuts."""

    def __init__(
        self, scenario: Scenario, *, shortcuts: bool = True, compiled: bool | None = None
    ) -> None:
        self.scenario = scenario
        self._shortcuts = shortcuts
        s = scenario
        self._kernel: Any = None
        if compiled or (compiled is None and s.n_members * s.n_steps >= KERNEL_MIN_MEMBER_STEPS):
            self._kernel = _load_kernel(required=compiled is True) if shortcuts else None
        self.t = 0
        mb, cs = s.member_batteries, s.community_storages
        self.member_energy = mb.soc_init * mb.capacity_kwh
        self.community_energy = cs.soc_init * cs.capacity_kwh
        self.backlog = np.zeros(s.n_members)
        self.ledger = TokenLedger(s.n_members)
        self.last_levers: Levers | None = None
        self.cumulative_cost = 0.0
        self.max_energy_error = 0.0
        self.max_token_error = 0.0
        self.discharge_throughput = 0.0
        self.storage_names = s.storage_names
        self._has_member_batteries = MEMBER_BATTERIES in self.storage_names
        self._member_cap_total = sum_of(mb.capacity_kwh)
        self._member_index = {n: i for i, n in enumerate(s.member_names)}
        self.results: dict[str, np.ndarray] = {c: np.zeros(s.n_steps) for c in RESULT_COLUMNS}
        self._rows = np.zeros((s.n_steps, len(_STEP_ROW)))
        for j, c in enumerate(_STEP_ROW):
            self.results[c] = self._rows[:, j]
        for name in self.storage_names:
            self.results[f"soc_{name}"] = np.zeros(s.n_steps)
            self.results[f"flow_{name}_kwh"] = np.zeros(s.n_steps)
        # The storages' columns, looked up once (not by an f-string name each step).
        self._soc_cols = {n: self.results[f"soc_{n}"] for n in self.storage_names}
        self._flow_cols = [self.results[f"flow_{n}_kwh"] for n in cs.names]
        self._member_flow_col = self.results.get(f"flow_{MEMBER_BATTERIES}_kwh", np.zeros(0))
        cap = mb.capacity_kwh
        self._inv_member_cap = np.divide(1.0, cap, out=np.zeros_like(cap), where=cap > 0)
        self._static = self._static_views()
        self._storage_caps = dict(zip(cs.names, cs.capacity_kwh.tolist(), strict=True))
        self._storage_caps[MEMBER_BATTERIES] = self._member_cap_total
        self._soc = self.storage_soc()
        self._n_steps, self._spd = s.n_steps, s.steps_per_day
        self._zero = np.zeros(s.n_members)
        self._zero.flags.writeable = False
        self._empty = np.zeros(0)
        self._empty.flags.writeable = False
        self._backlogged = False  # any member with deferred load
        self._n_community = cs.n
        e = self.member_energy
        self._member_in_bounds = bool(np.all((e >= mb.soc_min * cap) & (e <= mb.soc_max * cap)))
        # The load's per-step sums, the same floats as np.add.reduce of each row (which the
        # step's served total is without demand response); only if the rows are contiguous
        # (a contiguous copy of a large scenario would cost its size again in memory).
        self._load_totals: list[float] = (
            np.add.reduce(s.load_kwh, axis=1).tolist() if s.load_kwh.flags.c_contiguous else []
        )
        # Inputs known in advance: their community totals are filled once, not per step.
        self.results["load_kwh"][:] = s.load_kwh.sum(axis=1)
        self.results["pv_kwh"][:] = s.pv_kwh.sum(axis=1)
        base_net = self.results["load_kwh"] - self.results["pv_kwh"]
        self.results["city_base_cost_ct"][:] = np.maximum(0.0, s.prices.day_ahead * base_net)
        # The tariff: limits in kWh per step, the demand-charge periods, the load-factor blocks.
        tar = s.tariff
        self._imp_lim = tar.import_limit_kw * s.dt_h
        self._exp_lim = tar.export_limit_kw * s.dt_h
        stamps = s.timestamps()
        self._period = grid.period_index(tar.demand_charge_period, stamps, s.steps_per_day)
        self._period_end = grid.last_of_group(self._period)
        self._period_left = _steps_left(self._period)
        self._block = grid.block_index(s.n_steps, s.dt_h)
        self._block_left = _steps_left(self._block)
        self.period_peak_kw = 0.0
        self.block_peak_net_kwh = -np.inf
        # EVs: energy per charger (0 without an EV), and what their departures met.
        ev = s.evs
        self._ev_names = ev.names
        # The chargers at step t (the step's row of their sessions; the kernel advances it in
        # place), and where the sessions start, as the kernel reads them.
        self._ev_row = ev.row(0)
        if self._kernel is not None:
            changes = ev.changes
            by_start = (getattr(changes.by_start, key) for key in ev_model.SESSION_FIELDS)
            self._ev_changes = (changes.starts_at, changes.session, *by_start)
        self.ev_energy = ev_model.plug_in(self._ev_row, np.zeros(ev.n))
        # What each step's observation showed of the chargers (a week of it is kept).
        depth = self._ev_history_steps = EV_HISTORY_DAYS * s.steps_per_day
        self._ev_energy_seen = RecentRows(depth, ev.n)  # ev_energy at each step's start
        self._ev_connected_seen = RecentRows(depth, ev.n)
        self._ev_feasible = self._feasible(0)
        self._ev_arrives: np.ndarray = ev.arrives  # (n_steps,)
        self._ev_uncontrolled = np.full(ev.n, np.nan)
        self.ev_departures = 0
        self.ev_short_departures = 0  # below the requirement although it was reachable
        self.ev_infeasible_departures = 0  # the requirement was out of reach on arrival
        self.ev_shortfall_kwh = 0.0
        # Appliances: the step each job started at (-1: not yet).
        self.job_started = np.full(s.flexible_appliances.n_jobs, -1, np.int64)
        self._appliance_names = s.flexible_appliances.names
        # Thermal tanks: heat (or cold) per tank [kWh_th].
        self._tank_names = s.tanks.names
        self.tank_energy = s.tanks.initial_energy()
        if ev.n or s.flexible_appliances.n:
            base_net = base_net + s.no_control_totals[0]  # the devices' draw
            self.results["city_base_cost_ct"][:] = np.maximum(0.0, s.prices.day_ahead * base_net)
        # Read-only views of the series the observation slices (a slice of one is read-only
        # too), and every step's timestamp in the seed's format ("YYYY-MM-DD HH:MM:SS").
        p, r = s.prices, self.results
        self._ro = {
            k: _frozen_view(a)
            for k, a in (
                ("day_ahead", p.day_ahead),
                ("imbalance_buy", p.imbalance_buy),
                ("imbalance_sell", p.imbalance_sell),
                ("feed_in", p.feed_in),
                ("load", r["load_kwh"]),
                ("pv", r["pv_kwh"]),
                ("import", r["import_kwh"]),
                ("export", r["export_kwh"]),
                ("carbon", s.carbon),
                ("member_load", s.load_kwh),
                ("member_pv", s.pv_kwh),
            )
        }
        self._timestamps = [
            x.replace("T", " ") for x in np.datetime_as_string(stamps, unit="s").tolist()
        ]
        self._energy = self.storage_energy()
        # Per-step scalars as Python numbers (indexing a list beats a numpy scalar's float()).
        self._steps_left = list(
            zip(self._period_left.tolist(), self._block_left.tolist(), strict=True)
        )
        self._scalars = list(
            zip(
                p.day_ahead.tolist(),
                p.feed_in.tolist(),
                p.imbalance_buy.tolist(),
                p.imbalance_sell.tolist(),
                s.carbon.tolist(),
                self._period_end.tolist(),
                self._block_left.tolist(),
                strict=True,
            )
        )

    def _feasible(self, t: int) -> np.ndarray:
        """Per charger: can the EV's requirement still be met (checked when it arrives)?"""
        ev, row = self.scenario.evs, self._ev_row
        if not ev.n:
            return np.zeros(0, bool)
        need = row.required_soc * row.capacity_kwh - ev_model.REQUIRED_TOL_KWH
        reach = ev_model.reachable_kwh(ev, row, self.ev_energy, self.scenario.dt_h)
        ok = reach >= need
        if t > 0:
            ok = np.where(row.arrival, ok, self._ev_feasible)
        return ok

    def _step_appliances(self, t: int, lv: Levers) -> np.ndarray:
        """Jobs that start now (the lever, or their window's end), then what the running
        cycles draw per home [kWh]."""
        s = self.scenario
        ap = s.flexible_appliances
        lever = dict(lv.appliance_start) if lv.appliance_start else None
        self.job_started[appliance_model.starts(ap, t, self.job_started, lever)] = t
        draw = appliance_model.load_kwh(ap, t, self.job_started, s.n_members)
        self.results["appliance_kwh"][t] = sum_of(draw)
        return draw

    def _step_evs(self, t: int, lv: Levers, home_net: np.ndarray) -> np.ndarray:
        """The EVs' step: flows under the levers, departures counted, arrivals for ``t + 1``.
        Returns the charging per home [kWh]."""
        s = self.scenario
        ev, row = s.evs, self._ev_row
        given = lv.ev_setpoints
        setpoints = setpoint_array(given, ev.names) if given else self._ev_uncontrolled
        k = self._kernel
        if k is not None:  # the same step compiled, in one pass (the row advanced in place)
            ahead = t + 1 < self._n_steps
            home, flow_total, energy_total, departed, short, out_of_reach, shortfall = (
                k.chargers_step(
                    t, ahead, *self._ev_changes, *row[:-1],
                    ev.charge_kw, ev.discharge_kw, ev.efficiency, ev.member, self.ev_energy,
                    self._ev_feasible, setpoints, home_net, s.dt_h, lv.storage_follow,
                    s.n_members, ev_model.REQUIRED_TOL_KWH, self._ev_energy_seen.next_row(),
                    self._ev_connected_seen.next_row(),
                )
            )  # fmt: skip
            self.ev_departures += departed
            self.ev_short_departures += short
            self.ev_infeasible_departures += out_of_reach
            self.ev_shortfall_kwh += shortfall
            self.results["ev_kwh"][t] = flow_total
            self.results["ev_energy_kwh"][t] = energy_total
            if ahead:  # the same arrays, now of step t + 1 (NamedTuple._replace costs 4 us)
                self._ev_row = tuple.__new__(ev_model.EVRow, (*row[:-1], t + 1))
            return home
        self._ev_energy_seen.append(self.ev_energy)  # what step t's observation showed
        self._ev_connected_seen.append(row.connected)
        flow = ev_model.flows(
            ev, row, self.ev_energy, s.dt_h, setpoints, lv.storage_follow, home_net
        )
        self.ev_energy = ev_model.apply_flow(ev, row, self.ev_energy, flow)
        home = np.bincount(ev.member, weights=flow, minlength=s.n_members)
        flow_total, energy_total = sum_of(flow), sum_of(self.ev_energy)
        leaving = row.departs & row.required_now
        if leaving.any():
            short = np.maximum(row.required_soc * row.capacity_kwh - self.ev_energy, 0.0)
            short = np.where(leaving, short, 0.0)
            is_short = short > ev_model.REQUIRED_TOL_KWH
            self.ev_departures += int(leaving.sum())
            self.ev_short_departures += int((is_short & self._ev_feasible).sum())
            self.ev_infeasible_departures += int((leaving & ~self._ev_feasible).sum())
            self.ev_shortfall_kwh += float(short.sum())
        self.results["ev_kwh"][t] = flow_total
        self.results["ev_energy_kwh"][t] = energy_total
        if t + 1 < self._n_steps:
            self._ev_row = ev.row(t + 1, row)
            self.ev_energy = ev_model.plug_in(self._ev_row, self.ev_energy)
            if self._ev_arrives[t + 1]:  # feasibility is judged on arrival only
                self._ev_feasible = self._feasible(t + 1)
        return home

    def _step_tanks(self, t: int, lv: Levers) -> np.ndarray:
        """The thermal tanks' step under the levers (idle without a setpoint). Returns the
        change of the devices' electricity per home [kWh] against serving the demand as it
        comes (already in the load)."""
        s = self.scenario
        tk = s.tanks
        setpoints = setpoint_array(lv.thermal_setpoints, tk.names)
        before = tank_model.after_loss(tk, self.tank_energy, s.dt_h)
        r = self.results
        r["tank_loss_kwh"][t] = sum_of(self.tank_energy - before)
        self.tank_energy, flow, elec = tank_model.step(tk, t, self.tank_energy, s.dt_h, setpoints)
        r["tank_kwh"][t] = sum_of(flow)
        r["tank_energy_kwh"][t] = sum_of(self.tank_energy)
        r["tank_electricity_kwh"][t] = sum_of(elec)
        return np.bincount(tk.member, weights=elec, minlength=s.n_members)

    @property
    def compiled(self) -> bool:
        """Whether the step runs the compiled kernel (``sim.kernel``)."""
        return self._kernel is not None

    @property
    def done(self) -> bool:
        return self.t >= self._n_steps

    # ------------------------------------------------------------------ observe
    def storage_soc(self) -> dict[str, float]:
        s = self.scenario
        cs = s.community_storages
        out = {
            name: float(self.community_energy[k] / cs.capacity_kwh[k])
            if cs.capacity_kwh[k] > 0
            else 0.0
            for k, name in enumerate(cs.names)
        }
        if self._has_member_batteries:
            out[MEMBER_BATTERIES] = sum_of(self.member_energy) / self._member_cap_total
        return out

    def _soc_of(self, energy: dict[str, float]) -> dict[str, float]:
        """:meth:`storage_soc` from :meth:`storage_energy`'s result (the same floats: one
        IEEE division each, as numpy's)."""
        caps = self._storage_caps
        return {name: e / caps[name] if caps[name] > 0 else 0.0 for name, e in energy.items()}

    def storage_energy(self) -> dict[str, float]:
        """Energy per storage key now [kWh] (``members``: all home batteries summed)."""
        cs = self.scenario.community_storages
        out = {n: float(self.community_energy[k]) for k, n in enumerate(cs.names)}
        if self._has_member_batteries:
            out[MEMBER_BATTERIES] = sum_of(self.member_energy)
        return out

    def _static_views(self) -> dict[str, object]:
        """Observation fields that never change: built once, shared read-only by every snapshot."""
        s = self.scenario
        cs, mb = s.community_storages, s.member_batteries
        cap = {n: float(cs.capacity_kwh[k]) for k, n in enumerate(cs.names)}
        power = {n: float(cs.power_kw[k]) for k, n in enumerate(cs.names)}
        eff = {n: float(cs.eta_charge[k] * cs.eta_discharge[k]) for k, n in enumerate(cs.names)}
        smin = {n: float(cs.soc_min[k]) for k, n in enumerate(cs.names)}
        smax = {n: float(cs.soc_max[k]) for k, n in enumerate(cs.names)}
        if self._has_member_batteries:
            has = mb.capacity_kwh > 0
            total = self._member_cap_total
            cap[MEMBER_BATTERIES] = total
            power[MEMBER_BATTERIES] = float(mb.power_kw[has].sum())
            eff[MEMBER_BATTERIES] = float(np.mean(mb.eta_charge[has] * mb.eta_discharge[has]))
            smin[MEMBER_BATTERIES] = float((mb.soc_min * mb.capacity_kwh).sum() / total)
            smax[MEMBER_BATTERIES] = float((mb.soc_max * mb.capacity_kwh).sum() / total)

        def frozen(a: np.ndarray) -> np.ndarray:
            a = a.copy()
            a.flags.writeable = False
            return a

        static = {
            "storage_capacity_kwh": MappingProxyType(cap),
            "storage_power_kw": MappingProxyType(power),
            "storage_efficiency": MappingProxyType(eff),
            "storage_soc_min": MappingProxyType(smin),
            "storage_soc_max": MappingProxyType(smax),
            "member_battery_capacity_kwh": frozen(mb.capacity_kwh),
            "member_battery_power_kw": frozen(mb.power_kw),
            "flexible_share": frozen(s.flexible_share),
            "tariff": MappingProxyType(s.tariff.to_dict()),
            "objective": MappingProxyType(s.objective.to_dict()),
            "ev_names": s.evs.names,
            "ev_member": frozen(s.evs.member.astype(float)),
            "ev_charge_kw": frozen(s.evs.charge_kw),
            "ev_discharge_kw": frozen(s.evs.discharge_kw),
            "ev_efficiency": frozen(s.evs.efficiency),
            "appliance_names": s.flexible_appliances.names,
            "appliance_member": frozen(s.flexible_appliances.member.astype(float)),
            "tank_names": s.tanks.names,
            "tank_member": frozen(s.tanks.member.astype(float)),
            "tank_capacity_kwh": frozen(s.tanks.capacity_kwh),
            "tank_efficiency": frozen(s.tanks.efficiency),
            "tank_loss_coefficient": frozen(s.tanks.loss_coefficient),
        }
        # The per-step fields of devices the community does not have (each group's fields but
        # the static ones above): one shared empty array each, not a fresh default per snapshot.
        empty = frozen(np.zeros(0))
        absent: dict[str, object] = {}
        for n, group in (
            (s.evs.n, EV_FIELDS),
            (s.flexible_appliances.n, APPLIANCE_FIELDS),
            (s.tanks.n, TANK_FIELDS),
        ):
            if not n:
                absent.update((f, empty) for f in group if f not in static)
        history: tuple[str, ...]
        for n, history in ((s.tanks.n, TANK_HISTORY_FIELDS), (s.evs.n, EV_HISTORY_FIELDS)):
            if not n:
                absent.update(dict.fromkeys(history, frozen(np.zeros((0, 0)))))
        return absent | static

    def _appliance_view(self, t: int) -> dict[str, Any]:
        """Per appliance: whether a job waits now, the steps until it must start (this one
        included), its energy and length (empty without appliances)."""
        ap = self.scenario.flexible_appliances
        if not ap.n:
            return {}
        waiting = np.zeros(ap.n)
        left, energy, length = np.zeros(ap.n), np.zeros(ap.n), np.zeros(ap.n)
        lo = int(np.searchsorted(ap.window_start, t, side="right"))
        for j in np.flatnonzero((self.job_started[:lo] < 0) & (ap.window_end[:lo] >= t)):
            a = ap.job_appliance[j]
            if waiting[a]:
                continue  # the earliest waiting job of each appliance
            waiting[a] = 1.0
            left[a] = ap.window_end[j] - t + 1
            energy[a] = ap.profile_kwh[j].sum()
            length[a] = np.flatnonzero(ap.profile_kwh[j] > 0).max(initial=-1) + 1
        return {
            "appliance_waiting": waiting,
            "appliance_steps_left": left,
            "appliance_energy_kwh": energy,
            "appliance_steps": length,
        }

    def _ev_view(self, t: int) -> dict[str, Any]:
        """The EV fields of the observation of step ``t`` (empty arrays without chargers)."""
        if not self.scenario.evs.n:
            return {}  # the fields' defaults: no per-step cost without chargers
        row = self._ev_row  # the chargers at step t (the current one, or the last when done)
        lo = max(0, t - self._ev_history_steps)
        cap = row.capacity_kwh
        return {
            "hist_ev_connected": self._ev_connected_seen.rows(lo, t),
            "hist_ev_energy_kwh": self._ev_energy_seen.rows(lo, t),
            "ev_connected": row.connected.astype(float),
            "ev_energy_kwh": self.ev_energy.copy(),
            "ev_capacity_kwh": cap.copy(),
            "ev_min_kwh": row.soc_min * cap,
            "ev_required_kwh": row.required_soc * cap * row.required_now,
            "ev_steps_left": row.steps_left.astype(float),
        }

    def _tank_view(self, t: int) -> dict[str, Any]:
        """The tank fields of the observation of step ``t`` (empty without tanks)."""
        tk = self.scenario.tanks
        if not tk.n:
            return {}
        lo = max(0, self.t - TANK_HISTORY_DAYS * self.scenario.steps_per_day)
        return {
            "hist_tank_demand_kwh": _frozen_view(tk.demand_kwh[lo : self.t]),
            "tank_energy_kwh": self.tank_energy.copy(),
            "tank_cop": np.divide(
                1.0, tk.elec_per_kwh[t], out=np.zeros(tk.n), where=tk.elec_per_kwh[t] > 0
            ),
        }

    def observe(self) -> Observation:
        """The present state and the past; the step about to happen is not in it."""
        s, n, spd = self.scenario, self._n_steps, self._spd
        t = min(self.t, n - 1)
        lo = max(0, t - HISTORY_DAYS * spd)
        lo_m = max(0, t - spd)
        ahead = slice(t, min(t + spd, n))
        ro, now = self._ro, self.t
        imp, exp = ro["import"][lo:now], ro["export"][lo:now]
        fields = dict(
            step=now,
            n_steps=n,
            timestamp=self._timestamps[t],
            dt_h=s.dt_h,
            steps_per_day=spd,
            member_names=s.member_names,
            storage_names=self.storage_names,
            storage_soc=dict(self._soc),
            storage_energy_kwh=dict(self._energy),
            member_soc=self.member_energy * self._inv_member_cap,
            elasticity=s.elasticity,
            max_burn_rate_ct_per_kwh=s.max_burn_rate_ct_per_kwh,
            backlog_kwh=self.backlog.copy(),
            balances_ct=self.ledger.members.copy(),
            token_supply_ct=self.ledger.supply,
            # Past results and static inputs never change again: read-only views, no copies.
            price_day_ahead=ro["day_ahead"][ahead],
            price_imbalance_buy=ro["imbalance_buy"][ahead],
            price_imbalance_sell=ro["imbalance_sell"][ahead],
            price_feed_in=ro["feed_in"][ahead],
            hist_load_kwh=ro["load"][lo:now],
            hist_pv_kwh=ro["pv"][lo:now],
            hist_import_kwh=imp,
            hist_export_kwh=exp,
            hist_net_kwh=imp - exp,
            member_hist_load_kwh=ro["member_load"][lo_m:now],
            member_hist_pv_kwh=ro["member_pv"][lo_m:now],
            last_levers=self.last_levers,
            cumulative_cost_ct=self.cumulative_cost,
            hist_carbon_kg_per_kwh=ro["carbon"][lo:now],
            period_peak_import_kw=self.period_peak_kw,
            period_steps_left=self._steps_left[t][0],
            block_peak_net_kwh=float(self.block_peak_net_kwh)
            if math.isfinite(self.block_peak_net_kwh)
            else None,
            block_steps_left=self._steps_left[t][1],
            **self._static,
        )
        # The devices' per-step fields (a community without them shares empty ones, _static).
        if self._ev_names:
            fields.update(self._ev_view(t))
        if self._appliance_names:
            fields.update(self._appliance_view(t))
        if self._tank_names:
            fields.update(self._tank_view(t))
        return Observation.from_fields(fields)

    # --------------------------------------------------------------------- step
    def step(self, levers: Levers) -> StepResult:
        """Advance one step under ``levers`` (clipped to physical limits first)."""
        s, t = self.scenario, self.t
        if t >= self._n_steps:
            raise IndexError("the simulation has already run all its steps")
        lv = levers.clipped(
            self.storage_names,
            s.max_burn_rate_ct_per_kwh,
            self._ev_names,
            self._appliance_names,
            self._tank_names,
            s.member_names if self._has_member_batteries else (),
        )
        dt = s.dt_h
        p_da, p_fi, p_buy, p_sell, carbon, period_end, block_left = self._scalars[t]
        load, pv = s.load_kwh[t], s.pv_kwh[t]
        shortcuts = self._shortcuts
        zero = self._zero

        # 1. Demand response: the burn rate defers a share of flexible load; the backlog is
        #    served at the first step without a burn signal, and at the latest on the day's end.
        burn = lv.burn_rate_ct_per_kwh
        if burn > 0.0 or self._backlogged or not shortcuts:
            flex = s.flexible_share * load
            day_end = (t + 1) % self._spd == 0 or t == self._n_steps - 1
            deferred, released = demand_response(
                flex, self.backlog, burn, p_da, s.elasticity, day_end, zero
            )
            if not shortcuts:
                self.backlog = self.backlog + deferred - released
                served = load - deferred + released
                flex_served = flex - deferred + released
            elif released is zero:  # a burn defers (x + 0.0 == x but for the sign of a zero)
                self.backlog = self.backlog + deferred
                served, flex_served = load - deferred, flex - deferred
            else:  # the backlog is released (x - 0.0 == x)
                self.backlog = self.backlog - released
                served, flex_served = load + released, flex + released
            self._backlogged = bool(self.backlog.any())
            deferred_total = 0.0 if deferred is zero else sum_of(deferred)
            backlog_total = sum_of(self.backlog)
        else:  # nothing to defer, nothing deferred: the load is served as it comes
            served = flex_served = load  # flex_served is read only with a burn
            deferred_total = backlog_total = 0.0

        # 2. Appliances start (the lever, or their window's end) and run; EVs (uncontrolled
        #    charging, or the levers' setpoints above the departure floor); then home batteries
        #    (schedule, plus self-consumption when following).
        app_home = self._step_appliances(t, lv) if self._appliance_names else zero
        if self._tank_names:  # thermal tanks shift the heat pumps' and heaters' electricity
            app_home = app_home + self._step_tanks(t, lv)
        own_net = served - pv if app_home is zero else served + app_home - pv
        ev_home = self._step_evs(t, lv, own_net) if self._ev_names else zero
        if ev_home is not zero:
            own_net = own_net + ev_home
        mb = s.member_batteries
        battery = zero
        batteries_move = self._has_member_batteries and not (
            shortcuts
            and self._member_in_bounds
            and not lv.storage_follow
            and lv.storage_setpoints.get(MEMBER_BATTERIES, 0.0) == 0.0
            and not lv.battery_setpoints
        )  # else an idle battery within its bounds: no flow, the same energy
        k = self._kernel
        if k is not None:
            # 2-3 compiled: the home batteries, the members' net and the local market.
            setpoint = member_setpoints(lv, s.n_members, self._member_index, s.member_names)
            setpoints = setpoint if isinstance(setpoint, np.ndarray) else self._empty
            setpoint = 0.0 if isinstance(setpoint, np.ndarray) else setpoint
            mode, given = k.IDLE, self._empty
            if batteries_move and lv.home_batteries_pooled and lv.storage_follow and lv.p2p_enabled:
                given = k.pooled(
                    self.member_energy, mb.energy_max_kwh, mb.energy_min_kwh, mb.eta_charge,
                    mb.eta_discharge, mb.power_kw, dt, setpoints, setpoint, True,
                    sum_of(own_net) - lv.steering_target_kwh,
                )[0]  # fmt: skip
                mode = k.GIVEN
            elif batteries_move:
                mode = k.FOLLOW if lv.storage_follow else k.SCHEDULE
            (bat, energy, bought, sold, res_deficit, res_surplus, demand, supply, volume,
             deficit_total, surplus_total, net_total, bat_total, bat_discharge) = (
                k.members_before_grid(
                    own_net, self.member_energy, mb.energy_max_kwh, mb.energy_min_kwh,
                    mb.eta_charge, mb.eta_discharge, mb.power_kw, dt, setpoints, setpoint, mode,
                    given, lv.p2p_enabled,
                )
            )  # fmt: skip
            if batteries_move:
                battery, self.member_energy = bat, energy
                self._member_in_bounds = True  # clipped to the bounds, as apply_flow does
        else:
            if batteries_move:
                battery = home_battery_flow(
                    mb, self.member_energy, dt, lv, own_net, self._member_index, s.member_names
                )
                self.member_energy = storage.apply_flow(mb, self.member_energy, battery)
                self._member_in_bounds = True  # apply_flow clips to the bounds
            member_net = own_net if battery is zero else own_net + battery
            # zero, not 0.0: numpy converts a Python scalar operand on every call (about 1 us)
            deficit = np.maximum(member_net, zero)
            surplus = np.maximum(-member_net, zero)

            # 3. Local market (then the community storages, below).
            if lv.p2p_enabled or not shortcuts:
                if lv.p2p_enabled:
                    demand, supply = sum_of(deficit), sum_of(surplus)
                    bought, sold, volume = market.match(deficit, surplus, demand, supply)
                else:
                    bought, sold, volume = zero, zero, 0.0
                res_deficit = deficit - bought
                res_surplus = surplus - sold
            else:
                bought, sold, volume = zero, zero, 0.0
                res_deficit, res_surplus = deficit, surplus
            deficit_total, surplus_total = sum_of(res_deficit), sum_of(res_surplus)
            net_total = sum_of(member_net)
            bat_total = 0.0 if battery is zero else sum_of(battery)
            bat_discharge = 0.0 if battery is zero else sum_of(np.maximum(-battery, zero))

        # 3. Community storages against the community's residual.
        cs = s.community_storages
        members_total = deficit_total - surplus_total
        if self._n_community and k is not None:
            comm_flow, self.community_energy, comm_total, comm_charge, comm_discharge = k.pooled(
                self.community_energy, cs.energy_max_kwh, cs.energy_min_kwh, cs.eta_charge,
                cs.eta_discharge, cs.power_kw, dt,
                np.array([lv.storage_setpoints[n] for n in cs.names]), 0.0,
                lv.storage_follow and lv.p2p_enabled, members_total - lv.steering_target_kwh,
            )  # fmt: skip
        elif self._n_community or not shortcuts:
            setpoints = np.array([lv.storage_setpoints[n] for n in cs.names])
            comm_flow = storage.split_pooled(
                cs,
                self.community_energy,
                dt,
                setpoints,
                lv.storage_follow and lv.p2p_enabled,
                members_total - lv.steering_target_kwh,
            )
            self.community_energy = storage.apply_flow(cs, self.community_energy, comm_flow)
            comm_total = sum_of(comm_flow)
            comm_charge = sum_of(np.maximum(comm_flow, cs.zeros))
            comm_discharge = sum_of(np.maximum(-comm_flow, cs.zeros))
        else:  # no community storage
            comm_flow = self._empty
            comm_total = comm_charge = comm_discharge = 0.0

        # 4. Grid exchange: netted at the community meter with P2P on, per member without.
        if lv.p2p_enabled:
            net = members_total + comm_total
            imp, exp = max(net, 0.0), max(-net, 0.0)
        else:
            imp = deficit_total + comm_charge
            exp = surplus_total + comm_discharge
        # The connection limit: export above it is curtailed, import above it is penalized.
        curtailed = max(exp - self._exp_lim, 0.0)
        exported_share = 1.0 - curtailed / exp if exp > 0.0 else 1.0
        exp -= curtailed
        overrun = max(imp - self._imp_lim, 0.0)
        q = lv.procurement_kwh
        shortfall, excess = max(imp - q, 0.0), max(q - imp, 0.0)
        tar = s.tariff
        overrun_ct = tar.overrun_ct_per_kwh * overrun
        self.period_peak_kw = max(self.period_peak_kw, imp / dt)
        period_peak = self.period_peak_kw
        demand_charge = 0.0
        if period_end:
            demand_charge = tar.demand_charge_ct_per_kw * self.period_peak_kw
            self.period_peak_kw = 0.0
        grid_cost = (
            p_da * q + p_buy * shortfall - p_sell * excess - p_fi * exp + overrun_ct + demand_charge
        )

        # 5. Tokens: mint for local PV use, burn on flexible load drawn from outside the home,
        #    settle P2P member to member, members with the community, the community with the grid.
        led = self.ledger
        price = 0.0
        if volume > 0.0:
            price = market.clearing_price(lv.p2p_price_rule, p_da, p_fi, supply, demand)
        if k is not None:  # the same entries, compiled (with the members' balance check)
            minted, burned, paid, balances_total, member_err = k.members_settle(
                led.members, pv, res_deficit, res_surplus, bought, sold, flex_served, own_net,
                battery, s.mint_rate_ct_per_kwh, burn if burn > 0 else 0.0, price, p_da,
                p_fi * exported_share,
            )  # fmt: skip
            led.settled(minted, burned, paid)
        else:
            minted = led.mint(s.mint_rate_ct_per_kwh * np.maximum(pv - res_surplus, zero))
            burned = led.burn(burn * np.minimum(res_deficit, flex_served)) if burn > 0 else 0.0
            if volume > 0.0:
                led.members_trade(bought * price, sold * price)
            # Members are paid feed-in for the part of their surplus that was not curtailed.
            led.members_pay_community(res_deficit * p_da - res_surplus * (p_fi * exported_share))
            balances_total = None
        led.community_pays_grid(grid_cost)

        # 6. Checks and records (the members' balance: the kernel checked it in its loop).
        if k is None:
            member_err = _member_balance_error(
                served, (app_home, ev_home, battery), pv, own_net, bought, sold, res_deficit,
                res_surplus, zero, shortcuts,
            )  # fmt: skip
        grid_err = abs((imp - exp - curtailed) - (deficit_total - surplus_total + comm_total))
        self.max_energy_error = max(self.max_energy_error, member_err, grid_err)
        token_err = led.conservation_error(balances_total)
        self.max_token_error = max(self.max_token_error, token_err)
        discharge = bat_discharge + comm_discharge
        self.discharge_throughput += discharge
        spent = grid_cost + burned
        self.cumulative_cost += spent
        district_net = net_total + comm_total + curtailed
        self.block_peak_net_kwh = max(self.block_peak_net_kwh, district_net)
        if block_left == 1:  # the next step starts a new load-factor block
            self.block_peak_net_kwh = -np.inf

        served_total = (
            self._load_totals[t] if served is load and self._load_totals else sum_of(served)
        )
        self._rows[t] = (  # in the order of _STEP_ROW
            served_total,
            imp,
            exp,
            q,
            shortfall,
            excess,
            grid_cost,
            demand_charge,
            overrun_ct,
            overrun,
            curtailed,
            period_peak,
            district_net,
            carbon * imp,
            burned,
            minted,
            spent,
            volume,
            price,
            deferred_total,
            backlog_total,
            burn,
            p_da,
            max(0.0, p_da * district_net),
            discharge,
            1.0 if lv.p2p_enabled else 0.0,
        )
        if battery is not zero or self._n_community or not shortcuts:
            self._energy = self.storage_energy()  # else no storage's energy changed
            self._soc = self._soc_of(self._energy)
        for name, soc in self._soc.items():
            self._soc_cols[name][t] = soc
        for j, col in enumerate(self._flow_cols):
            col[t] = comm_flow[j]
        if self._has_member_batteries:
            self._member_flow_col[t] = bat_total

        self.last_levers = lv
        self.t = t + 1
        # The frozen dataclass filled at once: its __init__ spends about 3 us on one
        # object.__setattr__ per field (as Observation.from_fields avoids for the snapshot).
        res = object.__new__(StepResult)
        res.__dict__.update(
            step=t,
            levers=lv,
            served_kwh=served,
            battery_kwh=battery,
            p2p_bought_kwh=bought,
            p2p_sold_kwh=sold,
            residual_deficit_kwh=res_deficit,
            residual_surplus_kwh=res_surplus,
            community_storage_kwh=comm_flow,
            import_kwh=imp,
            export_kwh=exp,
            grid_cost_ct=grid_cost,
            burned_ct=burned,
            minted_ct=minted,
            p2p_kwh=volume,
            energy_balance_error_kwh=max(member_err, grid_err),
            token_conservation_error_ct=token_err,
        )
        return res
