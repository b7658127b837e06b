"""The grid's view of a run: calendar periods, the CityLearn Challenge 2022 terms of a district
net series, the no-control reference, and the value of an :class:`~.objective.Objective`.

``E_t`` is the district's net exchange [kWh per step] (import - export at the community meter;
with storage, after curtailment), the quantity CityLearn calls the district's net electricity
consumption. The CityLearn Challenge 2022 definitions (docs/model.md):

- cost ``C = sum_t max(E_t p_t, 0)`` (``p`` the day-ahead price), carbon
  ``G = sum_t max(E_t ci_t, 0)``, ramping ``R = sum_(t>=1) |E_t - E_(t-1)|``;
- load factor ``L = mean over 730-hour blocks b of mean(E_b) / max(E_b)`` (blocks of
  ``round(730 / dt_h)`` steps from step 0; a last, shorter block counts as one block, as in
  CityLearn's ``int(t / 730)`` grouping);
- ``D = mean(R / R0, (1 - L) / (1 - L0))`` and the score ``mean(C / C0, G / G0, D)``, each
  against the no-control run (index 0).

Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .objective import Objective
from .params import Scenario

BLOCK_HOURS = 730.0
"""Length of a load-factor block (8,760 h / 12)."""


def block_steps(dt_h: float) -> int:
    return max(1, int(round(BLOCK_HOURS / dt_h)))


def block_index(n_steps: int, dt_h: float) -> np.ndarray:
    """Load-factor block of every step (0, 0, ..., 1, ...)."""
    return np.arange(n_steps) // block_steps(dt_h)


def day_index(n_steps: int, steps_per_day: int) -> np.ndarray:
    """Simulation day of every step (every ``steps_per_day`` steps from step 0)."""
    return np.arange(n_steps) // steps_per_day


def month_index(timestamps: np.ndarray) -> np.ndarray:
    """Calendar month of every step start, numbered from the first step's month (0, 1, ...)."""
    months = np.asarray(timestamps, dtype="datetime64[M]").astype(np.int64)
    return months - months[0]


def period_index(period: str, timestamps: np.ndarray, steps_per_day: int) -> np.ndarray:
    """Demand-charge period of every step: calendar ``month`` or simulation ``day``."""
    if period == "day":
        return day_index(len(timestamps), steps_per_day)
    return month_index(timestamps)


def last_of_group(index: np.ndarray) -> np.ndarray:
    """True at the last step of each run of equal ``index`` values."""
    out = np.ones(index.size, dtype=bool)
    out[:-1] = index[1:] != index[:-1]
    return out


def group_max(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Maximum of ``values`` per group (``index`` sorted, groups 0..k-1)."""
    out = np.full(int(index[-1]) + 1 if index.size else 0, -np.inf)
    np.maximum.at(out, index, values)
    return out


def group_mean(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    counts = np.bincount(index)
    return np.bincount(index, weights=values) / np.maximum(counts, 1)


@dataclass(frozen=True)
class NetTerms:
    """The CityLearn Challenge 2022 terms of one district net series (module docstring)."""

    cost: float  # C [CT]
    carbon: float  # G [kg CO2]
    ramping: float  # R [kWh]
    one_minus_load_factor: float  # 1 - L
    block_mean: np.ndarray  # mean(E_b) per block [kWh per step]
    block_max: np.ndarray  # max(E_b) per block [kWh per step]
    all_time_peak: float  # max E [kWh per step]
    mean_daily_peak: float  # mean over days of max E [kWh per step]


def net_terms(
    net_kwh: np.ndarray, price: np.ndarray, carbon: np.ndarray, dt_h: float, steps_per_day: int
) -> NetTerms:
    """The terms of ``E = net_kwh`` with day-ahead ``price`` and carbon intensity ``carbon``."""
    e = np.asarray(net_kwh, dtype=float)
    n = e.size
    blocks = block_index(n, dt_h)
    b_mean = group_mean(e, blocks)
    b_max = group_max(e, blocks)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b_max != 0, b_mean / b_max, 0.0)
    days = day_index(n, steps_per_day)
    return NetTerms(
        cost=float(np.maximum(e * price, 0.0).sum()),
        carbon=float(np.maximum(e * carbon, 0.0).sum()),
        ramping=float(np.abs(np.diff(e)).sum()),
        one_minus_load_factor=float(np.mean(1.0 - ratio)) if n else 0.0,
        block_mean=b_mean,
        block_max=b_max,
        all_time_peak=float(e.max(initial=0.0)),
        mean_daily_peak=float(group_max(e, days).mean()) if n else 0.0,
    )


def ratio(a: float, b: float) -> float | None:
    return a / b if abs(b) > 1e-12 else None


def citylearn_2022(terms: NetTerms, reference: NetTerms) -> dict[str, float | None]:
    """The CityLearn Challenge 2022 score and its parts, each against ``reference``."""
    c = ratio(terms.cost, reference.cost)
    g = ratio(terms.carbon, reference.carbon)
    r = ratio(terms.ramping, reference.ramping)
    lf = ratio(terms.one_minus_load_factor, reference.one_minus_load_factor)
    d = None if r is None or lf is None else (r + lf) / 2
    parts = [x for x in (c, g, d) if x is not None]
    return {
        "C": c,
        "G": g,
        "R": r,
        "one_minus_L": lf,
        "D": d,
        "score": sum(parts) / len(parts) if parts else None,
    }


# ----------------------------------------------------------------------- the objective
@dataclass(frozen=True)
class LinearWeights:
    """An objective as weights on a run's flows, for the LPs and for evaluation (CT per unit).

    ``tokens``: per CT of tokens spent; ``import_carbon``: per kWh imported at step t
    (``(carbon price + carbon share / G0) * ci_t``), shape ``(n_steps,)``; ``daily_peak``: per
    kW of each day's peak import; ``ramping``: per kWh of ``|E_t - E_(t-1)|``;
    ``block_peak``: per kWh-per-step of each block's max(E) (``(n_blocks,)``, >= 0);
    ``net``: per kWh of ``E_t`` (the load factor's block means, <= 0), ``(n_steps,)``;
    ``constant``: what the linearization adds so that ``J`` of the reference run is exact."""

    tokens: float
    import_carbon: np.ndarray
    daily_peak: float
    ramping: float
    block_peak: np.ndarray
    net: np.ndarray
    constant: float


def load_factor_weights(
    ref: NetTerms, block: np.ndarray, share: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """``share * (1 - L) / (1 - L0)`` linearized around the reference blocks:

        1 - L ~ (1 - L0) + 1/n_b * sum_b [ m0_b / M0_b^2 (M_b - M0_b) - (m_b - m0_b) / M0_b ]

    (first order in the block's max ``M_b`` and mean ``m_b``). A block whose reference max is
    <= 0, or whose weight on ``M_b`` would be negative (a net-exporting block), gets no weight
    on ``M_b`` (a negative one would make the LP unbounded). Returns (weight per block on
    ``M_b``, weight per step on ``E_t``, constant)."""
    n_b = ref.block_max.size
    if share <= 0 or n_b == 0 or ref.one_minus_load_factor <= 1e-12:
        return np.zeros(n_b), np.zeros(block.size), 0.0
    scale = share / ref.one_minus_load_factor / n_b
    m0, big0 = ref.block_mean, ref.block_max
    ok = big0 > 1e-9
    safe = np.where(ok, big0, 1.0)
    w_peak = np.where(ok, scale * np.maximum(m0, 0.0) / safe**2, 0.0)
    counts = np.bincount(block, minlength=n_b).astype(float)
    w_mean = np.where(ok, -scale / safe, 0.0)  # per unit of m_b
    w_net = (w_mean / np.maximum(counts, 1.0))[block]
    constant = share - float(np.sum(w_peak * big0)) - float(np.sum(w_mean * m0))
    return w_peak, w_net, constant


def linear_weights(
    objective: Objective, reference: NetTerms, carbon: np.ndarray, dt_h: float
) -> LinearWeights:
    """The objective's weights for a run of ``carbon.size`` steps against ``reference`` (the
    cost share is normalized by the reference's district cost C0, as the 2022 score is)."""
    c0, g0, r0 = reference.cost, reference.carbon, reference.ramping
    tokens = objective.tokens + (objective.cost_share / c0 if c0 > 1e-12 else 0.0)
    carbon_w = objective.carbon_ct_per_kg + (objective.carbon_share / g0 if g0 > 1e-12 else 0.0)
    ramping = objective.ramping_ct_per_kwh + (objective.ramping_share / r0 if r0 > 1e-12 else 0.0)
    block = block_index(carbon.size, dt_h)
    w_peak, w_net, constant = load_factor_weights(reference, block, objective.load_factor_share)
    return LinearWeights(
        tokens=tokens,
        import_carbon=carbon_w * np.asarray(carbon, dtype=float),
        daily_peak=objective.peak_ct_per_kw,
        ramping=ramping,
        block_peak=w_peak,
        net=w_net,
        constant=constant,
    )


def objective_value(
    w: LinearWeights,
    tokens_spent_ct: float,
    import_kwh: np.ndarray,
    net_kwh: np.ndarray,
    dt_h: float,
    steps_per_day: int,
) -> float:
    """``J`` of a run from its tokens spent and per-step import and district net."""
    imp = np.asarray(import_kwh, dtype=float)
    e = np.asarray(net_kwh, dtype=float)
    n = e.size
    value = w.tokens * tokens_spent_ct + float(w.import_carbon[:n] @ imp) + w.constant
    if w.daily_peak > 0 and n:
        value += w.daily_peak * float(group_max(imp, day_index(n, steps_per_day)).sum()) / dt_h
    if w.ramping > 0:
        value += w.ramping * float(np.abs(np.diff(e)).sum())
    if np.any(w.block_peak > 0) and n:
        blocks = block_index(n, dt_h)
        value += float(w.block_peak[: blocks[-1] + 1] @ group_max(e, blocks))
    value += float(w.net[:n] @ e)
    return value


# ----------------------------------------------------------------------- the reference run
def no_control_exchange(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """(import, export) per step of the no-control run (``none``: storages idle, P2P off, no
    demand response, EVs charging and appliances starting uncontrolled): every member meets the grid alone, export
    curtailed at the limit."""
    s = scenario
    _, imp, exp = s.no_control_totals
    return imp, np.minimum(exp, s.tariff.export_limit_kw * s.dt_h)


def reference_terms(scenario: Scenario, n_steps: int | None = None) -> NetTerms:
    """The 2022 terms of the no-control run over the first ``n_steps`` steps (default all)."""
    s = scenario
    n = s.n_steps if n_steps is None else n_steps
    imp, exp = no_control_exchange(s)
    return net_terms((imp - exp)[:n], s.prices.day_ahead[:n], s.carbon[:n], s.dt_h, s.steps_per_day)


def scenario_weights(scenario: Scenario, objective: Objective | None = None) -> LinearWeights:
    """The weights of ``objective`` (default: the scenario's) on a run of the whole scenario."""
    s = scenario
    return linear_weights(objective or s.objective, reference_terms(s), s.carbon, s.dt_h)
