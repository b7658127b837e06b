"""Planning on the run's objective without seeing the future: the objective's weights
estimated from what an observation holds, and one plan over a look-ahead.

The normalized terms of an objective (the ``citylearn2022`` preset's C0, G0, R0, 1 - L0) are
totals of the no-control run over the whole episode, which a planner cannot know. It
estimates them from the no-control net load it has seen (``hist_load - hist_pv``, the last
days, extended by the forecast ahead) as per-step rates times the episode's length. The
tariff's demand charge and the load-factor block peak count only above the peak so far of the
period or block the plan starts in (``period_peak_import_kw``, ``block_peak_net_kwh``).
Pure: numpy and highspy, no I/O.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import highspy
import numpy as np

from ..sim import grid
from ..sim.objective import Objective
from ..sim.observation import Observation
from ..sim.params import Tariff
from .lp import GridTerms, LPError, LPStorage, build_arrays, grid_terms, solve
from .solver import quiet_highs


def _mean(a: np.ndarray) -> float:
    """``float(a.mean())`` of a 1-d float array (the same sum and division, without the
    wrapper's cost); 0 for an empty one."""
    return float(a.sum() / a.size) if a.size else 0.0


def estimated_reference(
    obs: Observation, load_kwh: np.ndarray, pv_kwh: np.ndarray
) -> grid.NetTerms:
    """The no-control run's 2022 terms over the whole episode, estimated as per-step rates of
    the no-control net load seen so far and forecast (``load_kwh``, ``pv_kwh`` ahead)."""
    e0 = np.concatenate(
        (np.asarray(obs.hist_load_kwh) - np.asarray(obs.hist_pv_kwh), load_kwh - pv_kwh)
    )
    hist_ci = np.asarray(obs.hist_carbon_kg_per_kwh, dtype=float)
    pos = np.maximum(e0, 0.0)
    n = obs.n_steps
    price = _mean(np.asarray(obs.price_day_ahead, dtype=float))
    if hist_ci.size:
        k = min(hist_ci.size, obs.hist_load_kwh.size)
        carbon = _mean(pos[: obs.hist_load_kwh.size][-k:] * hist_ci[-k:]) if k else 0.0
    else:
        carbon = 0.0
    m0, big0 = _mean(e0), float(e0.max())
    one_minus = 1.0 - m0 / big0 if big0 > 1e-9 else 0.0
    n_blocks = -(-n // grid.block_steps(obs.dt_h))
    return grid.NetTerms(
        cost=_mean(pos) * price * n,
        carbon=carbon * n,
        ramping=_mean(np.abs(e0[1:] - e0[:-1])) * n if e0.size > 1 else 0.0,
        one_minus_load_factor=one_minus,
        block_mean=np.full(n_blocks, m0),
        block_max=np.full(n_blocks, big0),
        all_time_peak=big0,
        mean_daily_peak=big0,
    )


_PARSED: dict[tuple[object, ...], Any] = {}
_PARSED_MAX = 256
_P = TypeVar("_P", Tariff, Objective)


def _parsed(cls: type[_P], data: Mapping[str, Any]) -> _P:
    """``cls.from_dict(data)``, kept per content (a run's tariff and objective are the same at
    every step; both are frozen). Contents that cannot be a key are parsed every time."""
    try:
        key = (cls, tuple((k, type(v), v) for k, v in sorted(data.items())))
        hash(key)
    except TypeError:
        return cls.from_dict(dict(data))
    out = _PARSED.get(key)
    if out is None:
        out = cls.from_dict(dict(data))  # raises on bad content: nothing kept then
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = out
    return out


@functools.lru_cache(maxsize=64)
def _without_load_factor(objective: Objective) -> Objective:
    """The objective with no load-factor share (its weights are built apart), kept per
    objective (both frozen)."""
    return replace(objective, load_factor_share=0.0)


def observed_tariff(obs: Observation) -> Tariff:
    return _parsed(Tariff, obs.tariff) if obs.tariff else Tariff()


def observed_objective(obs: Observation) -> Objective:
    return _parsed(Objective, obs.objective) if obs.objective else Objective()


def _first_block(obs: Observation) -> int:
    """The load-factor block of the observation's step (``grid.block_index`` at the step)."""
    return min(obs.step, obs.n_steps - 1) // grid.block_steps(obs.dt_h)


def shapes_the_exchange(obs: Observation) -> bool:
    """True when the run pays for the shape of its grid exchange, not only its energy: a demand
    charge, an import limit, or an objective with peaks, ramping or the load factor. Then the
    steering storages cover a forecast error both ways (a higher load than forecast would make
    a ramp or a peak); otherwise a charge-only floor keeps energy for dearer hours."""
    tariff = observed_tariff(obs)
    o = observed_objective(obs)
    return (
        tariff.demand_charge_ct_per_kw > 0
        or math.isfinite(tariff.import_limit_kw)
        or o.peak_ct_per_kw > 0
        or o.ramping_ct_per_kwh > 0
        or o.ramping_share > 0
        or o.load_factor_share > 0
    )


def planning_weights(
    obs: Observation, load_kwh: np.ndarray, pv_kwh: np.ndarray, carbon_kwh: np.ndarray
) -> grid.LinearWeights:
    """The objective's weights over the look-ahead (``carbon_kwh``: forecast carbon intensity,
    one value per step ahead), against the estimated reference. The load factor's weights
    (:func:`grid.load_factor_weights`) are those of the block the plan starts in, for every
    block it reaches: the estimate is the same for all of them."""
    objective = observed_objective(obs)
    h = carbon_kwh.size
    ref = estimated_reference(obs, load_kwh[:h], pv_kwh[:h])
    carbon = np.asarray(carbon_kwh, dtype=float)
    w = grid.linear_weights(_without_load_factor(objective), ref, carbon, obs.dt_h)
    n_b = ref.block_max.size
    share = objective.load_factor_share
    peak = net = 0.0
    m0, big0 = float(ref.block_mean[0]), float(ref.block_max[0])
    if share > 0 and n_b and ref.one_minus_load_factor > 1e-12 and big0 > 1e-9:
        scale = share / ref.one_minus_load_factor / n_b
        peak = scale * max(m0, 0.0) / big0**2
        net = -scale / big0 / grid.block_steps(obs.dt_h)
    first = _first_block(obs)
    return replace(w, block_peak=np.full(first + 2, peak), net=np.full(h, net), constant=0.0)


def horizon_terms(obs: Observation, weights: grid.LinearWeights, horizon: int) -> GridTerms:
    """The grid terms over the ``horizon`` steps from ``obs.step``: the demand-charge period
    and load-factor block it starts in end after ``period_steps_left``/``block_steps_left``
    steps; days end at the simulation day's boundary."""
    h = horizon
    ahead = np.arange(h)
    period = (ahead >= obs.period_steps_left).astype(int)  # a look-ahead reaches one more
    days = (obs.step_of_day + ahead) // obs.steps_per_day
    blocks = (ahead >= obs.block_steps_left).astype(int)
    first_block = _first_block(obs)
    hist_net = np.asarray(obs.hist_net_kwh)
    return grid_terms(
        weights,
        observed_tariff(obs),
        obs.dt_h,
        period,
        days,
        blocks + first_block,
        period_floor_kw=float(obs.period_peak_import_kw),
        block_floor_kwh=obs.block_peak_net_kwh,
        ramp_start_kwh=float(hist_net[-1]) if hist_net.size else None,
    )


_SOLVERS = threading.local()


def _small_solver() -> highspy.Highs:
    """One HiGHS instance per thread, reused (building one costs about 0.1 ms, a tenth of a
    look-ahead solve): primal simplex without presolve, about 25% faster than dual on these
    small LPs. (No "threads" option: once another HiGHS solve in the process has started the
    global scheduler with more threads, asking for 1 thread fails.)"""
    h = getattr(_SOLVERS, "highs", None)
    if h is None:
        h = quiet_highs()
        h.setOptionValue("presolve", "off")
        h.setOptionValue("simplex_strategy", 4)
        _SOLVERS.highs = h
    return h


@dataclass(frozen=True)
class HorizonPlan:
    """A plan over the look-ahead [kWh per step]: per storage (``charge``/``discharge`` rows
    in the order of the storages given), the community's import and export."""

    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    objective: float
    status: str = "optimal"


def plan_horizon(
    net_kwh: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    storages: list[LPStorage],
    terms: GridTerms,
    terminal_value: np.ndarray | None,
) -> HorizonPlan:
    """Build and solve the look-ahead LP from scratch (no basis from an earlier solve: the same
    inputs always give the same plan, in batch and in a restarted live agent alike)."""
    lp, lay = build_arrays(
        net_kwh, prices, storages, terminal_value_ct_per_kwh=terminal_value, terms=terms
    )
    h = _small_solver()
    h.clearModel()  # a fresh start: no basis from an earlier solve, so no history dependence
    lp.pass_to(h)
    try:
        solve(h)
    except LPError:
        # Primal simplex without presolve, fast here, stalls on a rare degenerate look-ahead
        # (status "Unknown", measured once in a year with EVs): dual simplex solves it.
        h.setOptionValue("simplex_strategy", 1)
        h.clearSolver()
        try:
            solve(h)
        finally:
            h.setOptionValue("simplex_strategy", 4)
    x = np.asarray(h.getSolution().col_value)
    T = lay.T
    charge = np.array([x[c : c + T] for c in lay.charge]).reshape(len(storages), T)
    discharge = np.array([x[d : d + T] for d in lay.discharge]).reshape(len(storages), T)
    return HorizonPlan(
        charge,
        discharge,
        x[lay.I : lay.I + T].copy(),
        x[lay.X : lay.X + T].copy(),
        float(h.getInfo().objective_function_value),
    )
