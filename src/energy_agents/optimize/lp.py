"""The community's cost-minimizing dispatch as one linear program on HiGHS (pure: numpy + highspy).

The LP mirrors ``sim/community.py`` step by step (docs/optimize.md has the formulation, units and
the proofs). Two variants share one builder:

- ``relaxed=True`` (:func:`lp_lower_bound`): a *relaxation* of every run the simulator can
  produce, for any sequence of :class:`~energy_agents.sim.Levers` (burn > 0 included), so its
  optimum is a true lower bound on ``tokens_spent_ct``:

  * grid exchange netted at the community meter (P2P on); per-member metering (P2P off) only
    adds simultaneous import and export, which costs ``>= (p_is - p_fi) >= 0`` per kWh;
  * home batteries summed per exact group (:func:`battery_groups`: the same efficiencies, C-rate
    ``power/capacity``, ``soc_min``/``soc_max``/``soc_init``), or per efficiency class beyond
    :data:`MAX_EXACT_GROUPS` groups: the sum of feasible individual schedules is feasible for
    the summed battery (capacities, powers and energies add), so the sum is a relaxation; per
    exact group it is tight, since the summed schedule splits pro rata to capacity into
    feasible individual schedules;
  * flexible load shifted freely within the simulation day (defer up to the flexible share,
    release any time, backlog >= 0 and empty at the day's last step), without the burn it
    costs in the simulator, and summed over members (exact, given the netted meter);
  * charging and discharging in the same step allowed (only wastes energy).

- ``relaxed=False`` (:func:`executable_plan`): the best plan the simulator can execute exactly
  with ``storage_follow=False``, ``p2p_enabled=True`` and burn 0: no load shifting, and a
  setpoint per exact group (``members``, or ``battery_setpoints``); beyond
  :data:`MAX_EXACT_GROUPS` groups one common setpoint fraction for all home batteries, so each
  home battery's energy is ``e_i(0) + power_i * w(t)`` for a shared "hours at rated power"
  track ``w`` per efficiency class, bounded by the tightest battery. Its objective is what the
  executed run costs (up to solver tolerance); it equals the bound when the relaxation is
  tight (:func:`relaxation_is_tight`).

Costs per step ``t`` [CT]: ``p_da*Q + p_ib*S - p_is*E - p_fi*X`` with ``I - Q = S - E``; the
simulator's ``shortfall = max(I - Q, 0)`` and ``excess = max(Q - I, 0)`` are feasible
values of ``S, E``, and ``p_is <= p_da <= p_ib`` (checked by ``Prices.check``) keeps the LP
bounded: with these prices the optimum procures exactly its import.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np

from ..sim import grid
from ..sim.appliances import Appliances
from ..sim.params import MEMBER_BATTERIES, Scenario, StorageBank, Tariff
from .ev_lp import is_ev_key, scenario_ev_storages
from .solver import quiet_highs
from .storages import LPStorage, Track
from .tank_lp import is_tank_key, scenario_tank_storages

__all__ = ["LPStorage", "Track"]  # re-exported: where the LPs' users found them first

INF = highspy.kHighsInf


class LPError(RuntimeError):
    """HiGHS did not return an optimal solution (the message says its status)."""


@dataclass(frozen=True)
class LPResult:
    """Optimum of one LP. Arrays have shape ``(n_steps,)`` [kWh per step]; storage dicts are
    keyed by lever key, flows ``> 0`` charging (net of charge and discharge)."""

    cost_ct: float  # the objective J (tokens for ``cost``): the lower bound when ``relaxed``
    relaxed: bool
    status: str
    build_s: float
    solve_s: float
    n_cols: int
    n_rows: int
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    procurement_kwh: np.ndarray
    shortfall_kwh: np.ndarray
    excess_kwh: np.ndarray
    deferred_kwh: np.ndarray
    released_kwh: np.ndarray
    storage_flow_kwh: Mapping[str, np.ndarray] = field(default_factory=dict)
    storage_power_kw: Mapping[str, float] = field(default_factory=dict)
    cost_per_step_ct: np.ndarray = field(default_factory=lambda: np.zeros(0))
    job_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Per appliance job: the start step of its largest share (the plan's start)."""
    optimum_ct: float = math.nan
    """The LP's optimum before the plan's own passes (``fix_job_starts``, ``one_direction``):
    when the relaxation is tight, the bound itself."""


# --------------------------------------------------------------------------- storages
def _grouped(mb: StorageBank, *columns: np.ndarray) -> dict[tuple[float, ...], np.ndarray]:
    """Indices of the home batteries that can move energy, grouped by their values in
    ``columns`` (per-battery arrays), in the order of those values."""
    active = np.flatnonzero((mb.capacity_kwh > 0) & (mb.power_kw > 0))
    groups: dict[tuple[float, ...], list[int]] = {}
    for i in active:
        groups.setdefault(tuple(float(c[i]) for c in columns), []).append(int(i))
    return {k: np.asarray(v) for k, v in sorted(groups.items())}


def member_groups(mb: StorageBank) -> dict[tuple[float, ...], np.ndarray]:
    """Indices of the home batteries that can move energy, per (eta_c, eta_d) class."""
    return _grouped(mb, mb.eta_charge, mb.eta_discharge)


BATTERY_GROUP_KEY = "batteries:"
"""Lever-key prefix of a group of home batteries in the executable plan (``batteries:0``...),
when the home batteries form several exact groups (:func:`battery_groups`)."""

MAX_EXACT_GROUPS = 64
"""Above this many exact groups the executable plan falls back to one shared setpoint (an LP
of a storage per group grows with the groups; ResStock's 100-home sets have about 50)."""


def battery_groups(mb: StorageBank) -> list[np.ndarray]:
    """Indices of the home batteries that can move energy, in groups that are one storage up to
    scale: the same efficiencies, C-rate, SOC bounds and start. The pooled schedule of such a
    group splits pro rata to capacity into feasible schedules at one common fraction of each
    battery's power, so a group is exact in the LP and needs one setpoint."""
    power = mb.power_kw
    hours = np.divide(mb.capacity_kwh, power, out=np.zeros_like(power), where=power > 0)
    return list(
        _grouped(
            mb, mb.eta_charge, mb.eta_discharge, np.round(hours, 9), mb.soc_min, mb.soc_max,
            mb.soc_init,
        ).values()
    )  # fmt: skip


def is_battery_group_key(key: str) -> bool:
    return key.startswith(BATTERY_GROUP_KEY)


def community_storages(
    cs: StorageBank, dt_h: float, energy_kwh: np.ndarray | None = None
) -> list[LPStorage]:
    """Each community storage as itself (exact); ``energy_kwh`` overrides the initial energy."""
    e0 = cs.soc_init * cs.capacity_kwh if energy_kwh is None else np.asarray(energy_kwh, float)
    out = []
    for k, name in enumerate(cs.names):
        cap = float(cs.capacity_kwh[k])
        lo, hi = float(cs.soc_min[k]) * cap, float(cs.soc_max[k]) * cap
        track = Track(
            float(cs.eta_charge[k]), float(cs.eta_discharge[k]), 1.0, lo, hi, _clip(e0[k], lo, hi)
        )
        p = float(cs.power_kw[k])
        out.append(LPStorage(name, p * dt_h if cap > 0 else 0.0, (track,), p))
    return out


def member_storages(
    mb: StorageBank,
    dt_h: float,
    relaxed: bool,
    energy_kwh: np.ndarray | None = None,
    exact_groups: bool = False,
) -> list[LPStorage]:
    """The home batteries. With ``exact_groups`` (the whole-horizon LPs), up to
    :data:`MAX_EXACT_GROUPS` groups: one exact storage per :func:`battery_groups` group, in
    both variants (keyed ``members``; in the executable one ``batteries:k`` when there are
    several). Otherwise: ``relaxed``, summed per efficiency class; executable, one
    common-fraction storage with a shared track per class. ``energy_kwh`` overrides the
    initial energy per battery."""
    e0 = mb.soc_init * mb.capacity_kwh if energy_kwh is None else np.asarray(energy_kwh, float)
    e_min, e_max = mb.soc_min * mb.capacity_kwh, mb.soc_max * mb.capacity_kwh
    e0 = np.minimum(np.maximum(e0, e_min), e_max)
    groups = member_groups(mb)
    if not groups:
        return []

    def pooled(key: str, idx: np.ndarray) -> LPStorage:
        track = Track(
            float(mb.eta_charge[idx[0]]),
            float(mb.eta_discharge[idx[0]]),
            1.0,
            float(e_min[idx].sum()),
            float(e_max[idx].sum()),
            float(e0[idx].sum()),
        )
        p = float(mb.power_kw[idx].sum())
        return LPStorage(key, p * dt_h, (track,), p)

    exact = battery_groups(mb) if exact_groups else []
    if 0 < len(exact) <= MAX_EXACT_GROUPS:
        if relaxed or len(exact) == 1:
            return [pooled(MEMBER_BATTERIES, idx) for idx in exact]
        return [pooled(f"{BATTERY_GROUP_KEY}{k}", idx) for k, idx in enumerate(exact)]
    if relaxed:
        return [pooled(MEMBER_BATTERIES, idx) for idx in groups.values()]
    p_tot = float(sum(mb.power_kw[idx].sum() for idx in groups.values()))
    tracks = []
    for (eta_c, eta_d), idx in groups.items():
        pw = mb.power_kw[idx]
        lo = float(np.max((e_min[idx] - e0[idx]) / pw))
        hi = float(np.min((e_max[idx] - e0[idx]) / pw))
        tracks.append(Track(eta_c, eta_d, 1.0 / p_tot, min(lo, 0.0), max(hi, 0.0), 0.0))
    return [LPStorage(MEMBER_BATTERIES, p_tot * dt_h, tuple(tracks), p_tot)]


def scenario_storages(scenario: Scenario, relaxed: bool) -> list[LPStorage]:
    """Every storage of the scenario in the LP, the EV chargers included (:mod:`.ev_lp`)."""
    s = scenario
    return [
        *community_storages(s.community_storages, s.dt_h),
        *member_storages(s.member_batteries, s.dt_h, relaxed, exact_groups=True),
        *scenario_ev_storages(s.evs, s.dt_h),
        *scenario_tank_storages(s.tanks, s.dt_h),
    ]


def _head(v: float | np.ndarray, n: int) -> float | np.ndarray:
    """A per-step bound's first ``n`` steps (a scalar as it is)."""
    return v[:n] if isinstance(v, np.ndarray) else v


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(float(x), lo), hi)


# --------------------------------------------------------------------------- grid terms
@dataclass(frozen=True)
class PeakGroup:
    """A peak variable ``P >= floor`` with ``P >= scale * x_t`` for every step in ``steps``,
    ``x`` the import (``of="import"``) or the district net ``E = I - X`` (``of="net"``), at
    ``cost`` CT per unit of ``P``: a demand-charge period (import, ``scale = 1/dt``: kW), a
    day's peak, a load-factor block's max(E)."""

    steps: np.ndarray
    cost: float
    of: str = "import"
    scale: float = 1.0
    floor: float = 0.0


@dataclass(frozen=True)
class GridTerms:
    """The objective's and the tariff's parts beyond the energy prices, over the LP's steps.

    ``tokens`` weighs every CT cost (prices, overrun); ``import_cost`` adds CT per kWh imported
    at step t (carbon), ``net_cost`` CT per kWh of ``E_t`` (the load factor's block means);
    ``import_limit_kwh``/``export_limit_kwh`` per step: export is bounded (the rest is
    curtailed, at no gain), import above the limit costs ``overrun_ct_per_kwh``; ``ramping``
    CT per kWh of ``|E_t - E_(t-1)|`` (from ``ramp_start_kwh`` before step 0 when given);
    ``peaks``: :class:`PeakGroup` s. The default is the plain cost LP."""

    tokens: float = 1.0
    import_cost: np.ndarray | None = None
    net_cost: np.ndarray | None = None
    import_limit_kwh: float = math.inf
    export_limit_kwh: float = math.inf
    overrun_ct_per_kwh: float = 0.0
    ramping: float = 0.0
    ramp_start_kwh: float | None = None
    peaks: tuple[PeakGroup, ...] = ()


# --------------------------------------------------------------------------- builder
def _filled(value: object, size: int) -> np.ndarray:
    """A fresh float array of ``size``: a scalar repeated, or a copy of an array of that size
    (np.full for scalars: np.broadcast_to's Python wrapper cost most of the LP build)."""
    if isinstance(value, int | float):
        return np.full(size, float(value))
    a = np.array(value, dtype=float)
    return a if a.shape == (size,) else np.broadcast_to(a, (size,)).copy()


class _Blocks:
    """Consecutive blocks of one array (column bounds, costs, row bounds): a scalar repeated
    or an array per block, joined once. The same array as concatenating the blocks filled by
    :func:`_filled`, with one ``np.repeat`` for all the scalar blocks."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.scalars: list[float] = []
        self.arrays: dict[int, np.ndarray] = {}  # block number -> its values

    def append(self, value: object, size: int) -> None:
        if isinstance(value, int | float):
            self.scalars.append(float(value))
        else:
            self.scalars.append(0.0)
            self.arrays[len(self.sizes)] = _filled(value, size)
        self.sizes.append(size)

    def add(self, at: int, values: np.ndarray) -> bool:
        """Add ``values`` from position ``at`` (inside one block); False if no block has it."""
        start = 0
        for k, size in enumerate(self.sizes):
            if start <= at < start + size:
                block = self.arrays.get(k)
                if block is None:
                    block = self.arrays[k] = np.full(size, self.scalars[k])
                block[at - start : at - start + values.size] += values
                return True
            start += size
        return False

    def joined(self) -> np.ndarray:
        out = np.repeat(np.array(self.scalars, dtype=float), self.sizes)
        if self.arrays:
            starts = [0, *itertools.accumulate(self.sizes)]
            for k, a in self.arrays.items():
                out[starts[k] : starts[k + 1]] = a
        return out


_PATTERNS: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
"""The constraint matrix's sparsity pattern per structure (:meth:`_Matrix.arrays`): the look-ahead
LP of a rolling planner has a few structures (its horizon, where a day or a block ends in it,
its storages), built again at every step with new costs, bounds and right-hand sides."""
_PATTERNS_MAX = 1024  # structures kept (a year of hourly look-aheads needs a few dozen)
_PATTERN_COLS_MAX = 5000  # LPs up to this many columns keep their pattern (look-aheads)


class _Matrix:
    """Column and row blocks, coefficients as blocks of triplets, assembled into HiGHS'
    column-wise arrays. Blocks have length ``T`` unless given another ``n``.

    The coefficients' positions (the structure) are recorded apart from their values: the
    column-wise order of the positions is computed once per structure and kept
    (``_PATTERNS``), so a matrix whose structure was seen before is assembled by placing its
    values only. The arrays are the same as a fresh assembly's, bit for bit."""

    def __init__(self, n_steps: int) -> None:
        self.T = n_steps
        self.n_cols = 0
        self.n_rows = 0
        self._lb, self._ub, self._cost = _Blocks(), _Blocks(), _Blocks()
        self._rl, self._ru = _Blocks(), _Blocks()
        self._diag: list[tuple[int, int, int]] = []  # per block: (row, col, lag) or (-1, ...)
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []  # the (rows, cols) of ``add``
        self._v = _Blocks()  # per block: its value (repeated) or its values

    def cols(self, lb: object, ub: object, cost: object = 0.0, n: int | None = None) -> int:
        start, size = self.n_cols, self.T if n is None else n
        self._lb.append(lb, size)
        self._ub.append(ub, size)
        self._cost.append(cost, size)
        self.n_cols += size
        return start

    def rows(self, lower: object, upper: object, n: int | None = None) -> int:
        start, size = self.n_rows, self.T if n is None else n
        self._rl.append(lower, size)
        self._ru.append(upper, size)
        self.n_rows += size
        return start

    def coef(self, row: int, col: int, value: float, lag: int = 0) -> None:
        """``value`` at (row + t, col + t - lag) for every t >= lag."""
        self._diag.append((int(row), int(col), int(lag)))
        self._v.append(float(value), max(self.T - int(lag), 0))

    def add(self, rows: np.ndarray, cols: np.ndarray, values: object) -> None:
        """Coefficients at arbitrary (row, col) pairs."""
        rows = np.asarray(rows, dtype=np.int64)
        self._diag.append((-1, len(self._pairs), 0))
        self._pairs.append((rows, np.asarray(cols, dtype=np.int64)))
        self._v.append(values, rows.size)

    def add_cost(self, col: int, values: np.ndarray) -> None:
        """Add ``values`` to the costs of the ``T`` columns from ``col``."""
        if not self._cost.add(col, np.asarray(values, dtype=float)[: self.T]):
            raise IndexError(col)

    def _key(self) -> tuple[object, ...]:
        """The structure: the shape and every block's positions."""
        pairs = tuple(r.tobytes() + b"|" + c.tobytes() for r, c in self._pairs)
        return (self.T, self.n_cols, self.n_rows, tuple(self._diag), pairs)

    def _pattern(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order of the triplets column-wise, column starts, row indices) of a fresh assembly."""
        rs, cs = [], []
        for row, col, lag in self._diag:
            if row < 0:  # an ``add`` block: col is its number
                rs.append(self._pairs[col][0])
                cs.append(self._pairs[col][1])
            else:
                t = np.arange(lag, self.T)
                rs.append(row + t)
                cs.append(col - lag + t)
        r = np.concatenate(rs) if rs else np.zeros(0, np.int64)
        c = np.concatenate(cs) if cs else np.zeros(0, np.int64)
        order = np.lexsort((r, c))
        start = np.zeros(self.n_cols + 1, dtype=np.int32)
        np.cumsum(np.bincount(c, minlength=self.n_cols), out=start[1:])
        pattern = (order, start, r[order].astype(np.int32))
        for a in pattern:
            a.flags.writeable = False  # shared by every LP of the structure (and threads)
        return pattern

    def arrays(self) -> LPArrays:
        small = self.n_cols <= _PATTERN_COLS_MAX  # a whole-horizon LP is built once
        key = self._key() if small else None
        pattern = _PATTERNS.get(key) if key is not None else None
        if pattern is None:
            pattern = self._pattern()
            if key is not None:
                if len(_PATTERNS) >= _PATTERNS_MAX:
                    _PATTERNS.clear()
                _PATTERNS[key] = pattern
        order, start, index = pattern
        return LPArrays(
            self.n_cols,
            self.n_rows,
            self._cost.joined(),
            self._lb.joined(),
            self._ub.joined(),
            self._rl.joined(),
            self._ru.joined(),
            start,
            index,
            self._v.joined()[order],
        )


@dataclass(frozen=True)
class LPArrays:
    """An LP in HiGHS' column-wise arrays (``start`` has ``n_cols + 1`` entries)."""

    n_cols: int
    n_rows: int
    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray

    def highs_lp(self) -> highspy.HighsLp:
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.n_rows
        lp.col_cost_ = self.cost
        lp.col_lower_ = self.col_lower
        lp.col_upper_ = self.col_upper
        lp.row_lower_ = self.row_lower
        lp.row_upper_ = self.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = self.start
        lp.a_matrix_.index_ = self.index
        lp.a_matrix_.value_ = self.value
        return lp

    def pass_to(self, h: highspy.Highs) -> None:
        """``h.passModel`` of this LP from the arrays directly: the same model as passing
        :meth:`highs_lp`, without the ``HighsLp`` attributes' conversions (about 0.1 ms of a
        look-ahead's build). All columns continuous."""
        status = h.passModel(
            self.n_cols,
            self.n_rows,
            int(self.value.size),
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            self.cost,
            self.col_lower,
            self.col_upper,
            self.row_lower,
            self.row_upper,
            self.start[:-1],
            self.index,
            self.value,
            np.zeros(self.n_cols, dtype=np.int32),
        )
        if status != highspy.HighsStatus.kOk:
            raise LPError(f"HiGHS: passModel returned {status}")


@dataclass(frozen=True)
class Layout:
    """Where each variable block and row block starts (column/row index of step 0)."""

    T: int
    Q: int
    S: int
    E: int
    I: int  # noqa: E741
    X: int
    D: int | None
    R: int | None
    charge: tuple[int, ...]
    discharge: tuple[int, ...]
    track_cols: tuple[tuple[int, ...], ...]  # per storage, per track: energy column block
    balance_row: int
    track_rows: tuple[tuple[int, ...], ...]
    K: int | None = None  # curtailed export
    V: int | None = None  # import above the limit
    peak_cols: tuple[int, ...] = ()  # per peak group: its variable
    ramp_rows: int | None = None  # 2 T rows: u_t -/+ (E_t - E_(t-1)) >= 0
    job_cols: np.ndarray | None = None  # per start option: its column
    job_of: np.ndarray | None = None  # per start option: its job
    job_step: np.ndarray | None = None  # per start option: its start step


def build_arrays(
    net_kwh: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    storages: list[LPStorage],
    flex_max_kwh: np.ndarray | None = None,
    day_end: np.ndarray | None = None,
    terminal_value_ct_per_kwh: np.ndarray | None = None,
    terms: GridTerms | None = None,
    appliances: Appliances | None = None,
) -> tuple[LPArrays, Layout]:
    """The LP over ``T = len(net_kwh)`` steps.

    ``appliances``: jobs that start within their windows (``sim.appliances``); each start step
    is a share ``x >= 0`` of the job, the shares sum to 1, and the job's profile enters the
    meter's balance from each start in proportion (a relaxation of the one start the model
    takes; :func:`solve_scenario` fixes the largest share for an executable plan).

    ``net_kwh``: community load - PV per step; ``prices``: (day_ahead, imbalance_buy,
    imbalance_sell, feed_in) [CT/kWh]; ``flex_max_kwh``: deferrable load per step (None: no
    load shifting); ``day_end``: steps where nothing may be deferred and the backlog must be 0;
    ``terminal_value_ct_per_kwh``: value per storage of the energy left in its first track at
    the horizon's end (MPC only; the bound uses none); ``terms``: the objective's and the
    tariff's grid terms (:class:`GridTerms`; None: energy prices only).
    """
    g = terms or GridTerms()
    T = int(np.asarray(net_kwh).size)
    p_da, p_ib, p_is, p_fi = (np.asarray(p, dtype=float) for p in prices)
    w = g.tokens
    m = _Matrix(T)
    Q = m.cols(0.0, INF, w * p_da)
    S = m.cols(0.0, INF, w * p_ib)
    E = m.cols(0.0, INF, -w * p_is)
    I = m.cols(0.0, INF, 0.0 if g.import_cost is None else g.import_cost[:T])  # noqa: E741
    X = m.cols(0.0, g.export_limit_kwh if math.isfinite(g.export_limit_kwh) else INF, -w * p_fi)
    bal = m.rows(net_kwh, net_kwh)  # I - X - K + D - R - sum(c - d) = load - pv
    m.coef(bal, I, 1.0)
    m.coef(bal, X, -1.0)
    proc = m.rows(0.0, 0.0)  # I - Q - S + E = 0
    m.coef(proc, I, 1.0)
    m.coef(proc, Q, -1.0)
    m.coef(proc, S, -1.0)
    m.coef(proc, E, 1.0)
    K = V = None
    if math.isfinite(g.export_limit_kwh):
        # Spilling costs nothing but the feed-in it forgoes (a hair of cost on it, 1e-6 or
        # 1e-4 CT/kWh, made HiGHS' simplex 20x slower on the synthetic year: degeneracy).
        K = m.cols(0.0, INF, 0.0)
        m.coef(bal, K, -1.0)
    if math.isfinite(g.import_limit_kwh):
        V = m.cols(0.0, INF, w * g.overrun_ct_per_kwh)
        over = m.rows(-INF, g.import_limit_kwh)  # I - V <= limit
        m.coef(over, I, 1.0)
        m.coef(over, V, -1.0)
    if g.net_cost is not None:
        m.add_cost(I, g.net_cost[:T])
        m.add_cost(X, -g.net_cost[:T])
    D = R = None
    if flex_max_kwh is not None:
        ends = np.zeros(T, bool) if day_end is None else np.asarray(day_end, bool)
        D = m.cols(0.0, np.where(ends, 0.0, flex_max_kwh))
        R = m.cols(0.0, INF)
        B = m.cols(0.0, np.where(ends, 0.0, INF))
        m.coef(bal, D, 1.0)
        m.coef(bal, R, -1.0)
        back = m.rows(0.0, 0.0)  # B_t - B_{t-1} - D_t + R_t = 0, B_{-1} = 0
        m.coef(back, B, 1.0)
        m.coef(back, B, -1.0, lag=1)
        m.coef(back, D, -1.0)
        m.coef(back, R, 1.0)
    peak_cols = []
    for grp in g.peaks:
        steps = np.asarray(grp.steps, dtype=np.int64)
        col = m.cols(grp.floor, INF, grp.cost, n=1)
        first = m.rows(-INF, 0.0, n=steps.size)  # scale * x_t - P <= 0
        r = first + np.arange(steps.size)
        m.add(r, I + steps, grp.scale)
        if grp.of == "net":
            m.add(r, X + steps, -grp.scale)
        m.add(r, np.full(steps.size, col), -1.0)
        peak_cols.append(col)
    ramp_rows = None
    if g.ramping > 0 and T > 0:
        u = m.cols(0.0, INF, g.ramping)
        start = 0.0 if g.ramp_start_kwh is None else float(g.ramp_start_kwh)
        lo = np.zeros(T)
        first = g.ramp_start_kwh is not None
        # u_t - E_t + E_(t-1) >= 0 and u_t + E_t - E_(t-1) >= 0; E_(-1) = start (a constant).
        lo_dn, lo_up = lo.copy(), lo.copy()
        lo_dn[0], lo_up[0] = (-start, start) if first else (-INF, -INF)
        ramp_rows = m.rows(lo_dn, INF)
        up = m.rows(lo_up, INF)
        for row, sign in ((ramp_rows, 1.0), (up, -1.0)):
            m.coef(row, u, 1.0)
            m.coef(row, I, -sign)
            m.coef(row, X, sign)
            m.coef(row, I, sign, lag=1)
            m.coef(row, X, -sign, lag=1)
    charge, discharge, track_cols, track_rows = [], [], [], []
    for j, st in enumerate(storages):
        c_hi: object = st.max_flow_kwh
        if st.charge_cap_kwh is not None:
            c_hi = np.minimum(st.max_flow_kwh, st.charge_cap_kwh[:T])
        c = m.cols(0.0, c_hi)
        d_hi: object = st.max_flow_kwh
        if st.discharge_cap_kwh is not None:
            d_hi = np.minimum(st.max_flow_kwh, st.discharge_cap_kwh[:T])
        d = m.cols(0.0, d_hi)
        m.coef(bal, c, -1.0)
        m.coef(bal, d, 1.0)
        cols, rows = [], []
        for k, tr in enumerate(st.tracks):
            cost = np.zeros(T)
            if terminal_value_ct_per_kwh is not None and k == 0:
                cost[-1] = -float(terminal_value_ct_per_kwh[j]) / tr.scale
            z = m.cols(_head(tr.lo, T), _head(tr.hi, T), cost)
            rhs = np.zeros(T)
            rhs[0] = tr.init * tr.retention
            reset = None if tr.reset is None else np.asarray(tr.reset[:T], bool)
            if reset is not None:  # z_{t-1} replaced by a constant where reset
                rhs[reset] = np.asarray(tr.reset_value, float)[:T][reset]
            row = m.rows(rhs, rhs)  # z_t - z_{t-1} - scale*eta_c*c_t + scale/eta_d*d_t = init@0
            m.coef(row, z, 1.0)
            if reset is None:
                m.coef(row, z, -tr.retention, lag=1)
            else:
                t = np.flatnonzero(~reset[1:]) + 1
                m.add(row + t, z + t - 1, -tr.retention)
            steps = np.arange(T)
            if tr.charge_coef is None:
                m.coef(row, c, -tr.scale * tr.eta_charge)
            else:
                m.add(row + steps, c + steps, -np.asarray(tr.charge_coef, float)[:T])
            if tr.discharge_coef is None:
                m.coef(row, d, tr.scale / tr.eta_discharge)
            else:
                m.add(row + steps, d + steps, np.asarray(tr.discharge_coef, float)[:T])
            cols.append(z)
            rows.append(row)
        charge.append(c)
        discharge.append(d)
        track_cols.append(tuple(cols))
        track_rows.append(tuple(rows))
    job_cols = job_of = job_step = None
    if appliances is not None and appliances.n_jobs:
        ap = appliances
        lengths = ap.window_end - ap.window_start + 1
        job_of = np.repeat(np.arange(ap.n_jobs), lengths)
        job_step = ap.window_start[job_of] + (np.arange(job_of.size) - np.repeat(
            np.cumsum(lengths) - lengths, lengths))  # fmt: skip
        first = m.cols(0.0, 1.0, 0.0, n=job_of.size)
        job_cols = first + np.arange(job_of.size)
        one = m.rows(1.0, 1.0, n=ap.n_jobs)  # sum of a job's start shares = 1
        m.add(one + job_of, job_cols, 1.0)
        width = ap.profile_kwh.shape[1]
        for k in range(width):  # the profile's k-th step lands at start + k
            at = job_step + k
            draw = ap.profile_kwh[job_of, k]
            ok = (at < T) & (draw > 0)
            m.add(bal + at[ok], job_cols[ok], -draw[ok])
    layout = Layout(
        T,
        Q,
        S,
        E,
        I,
        X,
        D,
        R,
        tuple(charge),
        tuple(discharge),
        tuple(track_cols),
        bal,
        tuple(track_rows),
        K=K,
        V=V,
        peak_cols=tuple(peak_cols),
        ramp_rows=ramp_rows,
        job_cols=job_cols,
        job_of=job_of,
        job_step=job_step,
    )
    return m.arrays(), layout


def build(
    net_kwh: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    storages: list[LPStorage],
    flex_max_kwh: np.ndarray | None = None,
    day_end: np.ndarray | None = None,
    terminal_value_ct_per_kwh: np.ndarray | None = None,
    terms: GridTerms | None = None,
    appliances: Appliances | None = None,
) -> tuple[highspy.HighsLp, Layout]:
    """:func:`build_arrays` as a ``highspy.HighsLp``."""
    arrays, layout = build_arrays(
        net_kwh, prices, storages, flex_max_kwh, day_end, terminal_value_ct_per_kwh, terms,
        appliances,
    )  # fmt: skip
    return arrays.highs_lp(), layout


def new_solver() -> highspy.Highs:
    """A quiet HiGHS instance on dual simplex (measured 2-3x faster than the default choice,
    interior point, on a year of hourly steps; docs/optimize.md)."""
    h = quiet_highs()
    h.setOptionValue("solver", "simplex")
    return h


def solve(h: highspy.Highs) -> None:
    run_status = h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise LPError(
            f"HiGHS: model status {h.modelStatusToString(status)!r}, run status {run_status}"
        )


def extract(
    values: np.ndarray,
    layout: Layout,
    storages: list[LPStorage],
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    **meta: object,
) -> LPResult:
    T = layout.T

    def block(start: int | None) -> np.ndarray:
        return np.zeros(T) if start is None else values[start : start + T].copy()

    flows: dict[str, np.ndarray] = {}
    power: dict[str, float] = {}
    for j, st in enumerate(storages):
        f = block(layout.charge[j]) - block(layout.discharge[j])
        flows[st.key] = flows.get(st.key, 0.0) + f
        power[st.key] = power.get(st.key, 0.0) + st.power_kw
    job_start = np.zeros(0, np.int64)
    if layout.job_cols is not None:
        assert layout.job_of is not None and layout.job_step is not None
        share = values[layout.job_cols]
        n_jobs = int(layout.job_of.max()) + 1
        best = np.full(n_jobs, -1.0)
        job_start = np.zeros(n_jobs, np.int64)
        for k in np.argsort(share, kind="stable"):  # the largest share of each job wins
            j = layout.job_of[k]
            if share[k] >= best[j]:
                best[j], job_start[j] = share[k], layout.job_step[k]
    q, s, e, x = block(layout.Q), block(layout.S), block(layout.E), block(layout.X)
    p_da, p_ib, p_is, p_fi = prices
    per_step = p_da * q + p_ib * s - p_is * e - p_fi * x
    return LPResult(
        import_kwh=block(layout.I),
        export_kwh=x,
        procurement_kwh=q,
        shortfall_kwh=s,
        excess_kwh=e,
        deferred_kwh=block(layout.D),
        released_kwh=block(layout.R),
        storage_flow_kwh=flows,
        storage_power_kw=power,
        cost_per_step_ct=per_step,
        job_start=job_start,
        **meta,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- entry points
def day_end_mask(n_steps: int, steps_per_day: int) -> np.ndarray:
    """The simulator's day ends: every ``steps_per_day`` steps from step 0, and the last step."""
    t = np.arange(n_steps)
    return ((t + 1) % steps_per_day == 0) | (t == n_steps - 1)


def _scenario_prices(s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = s.prices
    return p.day_ahead, p.imbalance_buy, p.imbalance_sell, p.feed_in


def grid_terms(
    weights: grid.LinearWeights,
    tariff: Tariff,
    dt_h: float,
    period: np.ndarray,
    days: np.ndarray,
    blocks: np.ndarray,
    *,
    period_floor_kw: float = 0.0,
    block_floor_kwh: float | None = None,
    ramp_start_kwh: float | None = None,
) -> GridTerms:
    """The objective's ``weights`` and the ``tariff`` as LP terms over steps whose demand-charge
    period, day and load-factor block are ``period``, ``days``, ``blocks`` (group numbers,
    sorted). A rolling plan passes the peaks so far of the groups it starts in (``*_floor``:
    only a higher peak costs more) and the district net just before its first step."""
    peaks: list[PeakGroup] = []

    def groups(index: np.ndarray) -> list[tuple[int, np.ndarray]]:
        ends = [0, *(np.flatnonzero(index[1:] != index[:-1]) + 1).tolist(), index.size]
        return [(int(index[a]), np.arange(a, b)) for a, b in itertools.pairwise(ends)]

    if tariff.demand_charge_ct_per_kw > 0:
        for k, (_, steps) in enumerate(groups(period)):
            peaks.append(
                PeakGroup(
                    steps,
                    weights.tokens * tariff.demand_charge_ct_per_kw,
                    "import",
                    1.0 / dt_h,
                    period_floor_kw if k == 0 else 0.0,
                )
            )
    if weights.daily_peak > 0:
        for _, steps in groups(days):
            peaks.append(PeakGroup(steps, weights.daily_peak, "import", 1.0 / dt_h))
    for k, (b, steps) in enumerate(groups(blocks)):
        cost = float(weights.block_peak[b]) if b < weights.block_peak.size else 0.0
        if cost > 0:
            floor = block_floor_kwh if k == 0 and block_floor_kwh is not None else -INF
            peaks.append(PeakGroup(steps, cost, "net", 1.0, floor))
    return GridTerms(
        tokens=weights.tokens,
        import_cost=weights.import_carbon,
        net_cost=weights.net if np.any(weights.net != 0) else None,
        import_limit_kwh=tariff.import_limit_kw * dt_h,
        export_limit_kwh=tariff.export_limit_kw * dt_h,
        overrun_ct_per_kwh=tariff.overrun_ct_per_kwh,
        ramping=weights.ramping,
        ramp_start_kwh=ramp_start_kwh,
        peaks=tuple(peaks),
    )


def scenario_terms(scenario: Scenario) -> tuple[GridTerms, float]:
    """The scenario's objective (against its no-control run) and tariff over the whole horizon,
    and the objective's constant (``J = LP objective + constant``)."""
    s = scenario
    w = grid.scenario_weights(s)
    terms = grid_terms(
        w,
        s.tariff,
        s.dt_h,
        grid.period_index(s.tariff.demand_charge_period, s.timestamps(), s.steps_per_day),
        grid.day_index(s.n_steps, s.steps_per_day),
        grid.block_index(s.n_steps, s.dt_h),
    )
    return terms, w.constant


def solve_scenario(scenario: Scenario, *, relaxed: bool) -> LPResult:
    """Build and solve the whole horizon at once (see the module docstring for the variants)."""
    s = scenario
    t0 = time.perf_counter()
    net = (s.load_kwh - s.pv_kwh).sum(axis=1)
    storages = scenario_storages(s, relaxed)
    flex = None
    if relaxed and np.any(s.flexible_share > 0):
        flex = s.load_kwh @ s.flexible_share
    prices = _scenario_prices(s)
    terms, constant = scenario_terms(s)
    lp, layout = build(
        net,
        prices,
        storages,
        flex,
        day_end_mask(s.n_steps, s.steps_per_day),
        terms=terms,
        appliances=s.flexible_appliances,
    )
    h = new_solver()
    h.passModel(lp)
    t1 = time.perf_counter()
    solve(h)
    optimum = float(h.getInfo().objective_function_value) + constant
    if not relaxed:
        fix_job_starts(h, layout)
        one_direction(h, layout)
    t2 = time.perf_counter()
    values = np.asarray(h.getSolution().col_value)
    return extract(
        values,
        layout,
        storages,
        prices,
        cost_ct=float(h.getInfo().objective_function_value) + constant,
        relaxed=relaxed,
        status=h.modelStatusToString(h.getModelStatus()),
        build_s=t1 - t0,
        solve_s=t2 - t1,
        n_cols=int(lp.num_col_),
        n_rows=int(lp.num_row_),
        optimum_ct=optimum,
    )


def fix_job_starts(h: highspy.Highs, layout: Layout) -> None:
    """Make the appliance jobs executable: each starts at its largest share (the shares of
    the other start steps fixed to 0, that one to 1), then solve again."""
    if layout.job_cols is None or layout.job_of is None:
        return
    x = np.asarray(h.getSolution().col_value)
    share = x[layout.job_cols]
    keep = np.zeros(share.size, bool)
    for j in np.unique(layout.job_of):
        opts = np.flatnonzero(layout.job_of == j)
        keep[opts[np.argmax(share[opts])]] = True
    cols = layout.job_cols.astype(np.int32)
    value = keep.astype(float)
    h.changeColsBounds(cols.size, cols, value, value)
    solve(h)


SIMULTANEOUS_KWH = 1e-7


def one_direction(h: highspy.Highs, layout: Layout, max_rounds: int = 10) -> int:
    """Make a solved plan executable: a storage cannot charge and discharge in one step, but
    the LP may do both where wasting energy pays (an objective that rewards ramps smoothed or
    the load factor's block means). At every such step the smaller of the two flows is fixed
    to 0 and the LP solved again (from its basis), until no step has both. Returns the rounds
    taken (0: the plan was executable already)."""
    for rounds in range(max_rounds):
        x = np.asarray(h.getSolution().col_value)
        cols: list[np.ndarray] = []
        for c0, d0 in zip(layout.charge, layout.discharge, strict=True):
            c, d = x[c0 : c0 + layout.T], x[d0 : d0 + layout.T]
            both = np.flatnonzero(np.minimum(c, d) > SIMULTANEOUS_KWH)
            cols.append(np.where(c[both] < d[both], c0 + both, d0 + both))
        fix = np.concatenate(cols).astype(np.int32) if cols else np.zeros(0, np.int32)
        if fix.size == 0:
            return rounds
        zero = np.zeros(fix.size)
        h.changeColsBounds(fix.size, fix, zero, zero)
        solve(h)
    return max_rounds


def lp_lower_bound(scenario: Scenario) -> LPResult:
    """The perfect-foresight lower bound on the scenario's objective ``J`` (``C_optimal``;
    tokens spent for ``cost``): no run of the simulator on ``scenario``, under any sequence of
    levers, has a lower ``objective_value`` than ``cost_ct`` (up to the solver's tolerance,
    about 1e-7 relative)."""
    return solve_scenario(scenario, relaxed=True)


def executable_plan(scenario: Scenario) -> LPResult:
    """The cheapest plan the simulator executes exactly (fixed setpoints, P2P on, no burn)."""
    return solve_scenario(scenario, relaxed=False)


def relaxation_is_tight(scenario: Scenario) -> bool:
    """True when the bound LP and the executable LP coincide: no flexible load, no appliance
    jobs, and the home batteries in at most :data:`MAX_EXACT_GROUPS` exact groups (both LPs
    then have a storage per group)."""
    if np.any(scenario.flexible_share > 0) or scenario.flexible_appliances.n_jobs:
        return False  # (appliance jobs: the bound may split a start, the plan cannot)
    return len(battery_groups(scenario.member_batteries)) <= MAX_EXACT_GROUPS


def plan_setpoints(plan: LPResult, dt_h: float) -> dict[str, np.ndarray]:
    """Setpoint fractions per lever key and step: planned net flow / (rated power * dt)."""
    out = {}
    for key, flow in plan.storage_flow_kwh.items():
        if is_ev_key(key) or is_tank_key(key):
            continue  # the chargers' and tanks' setpoints: ev_lp / tank_lp
        p = plan.storage_power_kw.get(key, 0.0) * dt_h
        out[key] = np.clip(flow / p, -1.0, 1.0) if p > 0 else np.zeros_like(flow)
    return out
