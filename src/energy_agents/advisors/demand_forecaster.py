"""``demand_forecaster``: the community's load and PV for the next 24 h, from history only.

Method (no fitted parameters; every constant is a physically motivated default):

- **Load**: a weighted same-time-of-day profile over the past days (weights ``0.8 ** (d - 1)``
  for ``d`` days back, plus 1.0 extra on the same weekday one and two weeks back), corrected by
  the recent level: the mean profile error of the last 3 steps, decaying with the horizon as
  ``0.8 ** (h + 1)`` (exponential smoothing of the residual).
- **PV**: a clear-sky-ish envelope (the maximum at the same time of day over the past days)
  times a clearness index that blends the last hours' clearness (decaying with the horizon)
  with the mean of yesterday's and the fortnight's clearness.
- **Running error**: the same method re-forecasts each of the last up to 3 days from the days
  before it; ``running_mae_kwh`` is the mean absolute error of the net (load - PV) forecast
  over those days. Deterministic, from the observation only.
- **Procurement** (newsvendor): buying ``q`` ahead costs the day-ahead price, a shortfall the
  imbalance buy price, an excess earns the imbalance sell price, so the cost-minimizing ``q`` is
  the ``tau = (p_ib - p_da) / (p_ib - p_is)`` quantile of the step's import. The quantile is the
  point forecast plus the ``tau`` quantile of the recent one-step-ahead errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..sim.observation import Observation
from .types import Recommendation

NAME = "demand_forecaster"
DAY_DECAY = 0.8  # weight of a day d days back: DAY_DECAY ** (d - 1)
WEEKLY_BONUS = 1.0  # extra weight on the same weekday 7 and 14 days back
LEVEL_STEPS = 3  # steps of recent residual used for the level correction
LEVEL_DECAY = 0.8  # per-step decay of the level correction with the horizon
MAE_DAYS = 3  # days re-forecast for the running error


MAX_DAYS = 14  # days back the profile and the PV envelope look at


def _day_weights(dt_h: float) -> np.ndarray:
    w = DAY_DECAY ** np.arange(MAX_DAYS, dtype=float)
    w[6] += WEEKLY_BONUS
    w[13] += WEEKLY_BONUS
    return w


def _days_back(x: np.ndarray, spd: int, n_index: int) -> tuple[np.ndarray, np.ndarray]:
    """For each index j < n_index: the values x[j - d*spd], d = 1..MAX_DAYS, and a validity mask
    (only indices inside ``x`` count). Row j never reads x[j] or later: no leakage."""
    j = np.arange(n_index)[:, None] - spd * np.arange(1, MAX_DAYS + 1)[None, :]
    ok = (j >= 0) & (j < x.size)
    vals = x[np.clip(j, 0, max(x.size - 1, 0))] if x.size else np.zeros(j.shape)
    return np.where(ok, vals, 0.0), ok


def _rolling_sum(x: np.ndarray, width: int) -> np.ndarray:
    """s[o] = sum of x[max(0, o - width):o] for o = 0..len(x)."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    o = np.arange(x.size + 1)
    return c[o] - c[np.maximum(o - width, 0)]


class _Model:
    """Index-wise forecasts for one history: the live forecast and the backtests share it."""

    def __init__(self, load: np.ndarray, pv: np.ndarray, spd: int, dt_h: float) -> None:
        self.load, self.pv, self.spd = load, pv, spd
        n = load.size
        self.n = n
        total = n + spd
        vals, ok = _days_back(load, spd, total)
        w = np.where(ok, _day_weights(dt_h)[None, :], 0.0)
        tot = w.sum(axis=1)
        self.profile = np.where(
            tot > 0, (vals * w).sum(axis=1) / np.where(tot > 0, tot, 1.0), np.nan
        )
        pv_vals, pv_ok = _days_back(pv, spd, total)
        self.envelope = np.where(pv_ok.any(axis=1), pv_vals.max(axis=1), np.nan)
        # Residuals of the profile (defined where a profile exists) and their rolling means.
        r = np.where(np.isfinite(self.profile[:n]), load - np.nan_to_num(self.profile[:n]), 0.0)
        has = np.isfinite(self.profile[:n]).astype(float)
        self.level = _rolling_sum(r, LEVEL_STEPS) / np.maximum(_rolling_sum(has, LEVEL_STEPS), 1.0)
        env = np.nan_to_num(self.envelope[:n])
        lit = env > 0.05 * float(env.max(initial=0.0))
        pv_sum_day, env_sum_day = _rolling_sum(pv, spd), _rolling_sum(env, spd)
        pv_sum_all = _rolling_sum(pv, MAX_DAYS * spd)
        env_sum_all = _rolling_sum(env, MAX_DAYS * spd)
        with np.errstate(divide="ignore", invalid="ignore"):
            k_day = np.where(env_sum_day > 0, pv_sum_day / env_sum_day, 1.0)
            k_all = np.where(env_sum_all > 0, pv_sum_all / env_sum_all, 1.0)
            self.k_blend = 0.5 * k_day + 0.5 * k_all
            pv_now = _rolling_sum(np.where(lit, pv, 0.0), LEVEL_STEPS)
            env_now = _rolling_sum(np.where(lit, env, 0.0), LEVEL_STEPS)
            self.k_now = np.where(env_now > 0, pv_now / env_now, self.k_blend)

    def forecast(self, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(load, pv) forecasts, shape (len(origins), horizon), each from data before its origin."""
        o = origins[:, None]
        j = o + np.arange(horizon)[None, :]
        decay = LEVEL_DECAY ** (np.arange(horizon)[None, :] + 1)
        prof = self.profile[j]
        fallback = np.where(o > 0, self.load[np.maximum(o - 1, 0)] if self.n else 0.0, 0.0)
        load_f = np.where(np.isfinite(prof), prof + self.level[origins][:, None] * decay, fallback)
        k = np.clip(
            self.k_now[origins][:, None] * decay + self.k_blend[origins][:, None] * (1.0 - decay),
            0.0,
            1.2,
        )
        pv_f = np.nan_to_num(self.envelope[j]) * k
        return np.maximum(load_f, 0.0), pv_f


def forecast(
    load: np.ndarray, pv: np.ndarray, spd: int, horizon: int, dt_h: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(load, pv) [kWh per step] for the ``horizon`` (<= one day) steps after the history."""
    m = _Model(np.asarray(load, float), np.asarray(pv, float), spd, dt_h)
    lf, pf = m.forecast(np.array([m.n]), min(horizon, spd))
    return lf[0], pf[0]


def seasonal_naive(hist: np.ndarray, spd: int, horizon: int) -> np.ndarray:
    """Yesterday at the same time (the benchmark the forecaster must beat)."""
    n = hist.size
    if n < spd:
        return np.full(horizon, float(hist[-1]) if n else 0.0)
    return hist[n - spd + (np.arange(horizon) % spd)]


def _backtest(m: _Model) -> tuple[np.ndarray, float]:
    """(one-step-ahead net errors over the last day, running 24 h net MAE over up to
    ``MAE_DAYS`` days), each forecast issued from the history before its origin."""
    spd, n = m.spd, m.n
    net = m.load - m.pv
    o1 = np.arange(max(spd + LEVEL_STEPS, n - spd), n)
    if o1.size:
        lf, pf = m.forecast(o1, 1)
        errors = net[o1] - (lf[:, 0] - pf[:, 0])
    else:
        errors = np.zeros(0)
    od = np.array([n - d * spd for d in range(1, MAE_DAYS + 1) if n - d * spd >= spd], dtype=int)
    if od.size:
        lf, pf = m.forecast(od, spd)
        actual = net[od[:, None] + np.arange(spd)[None, :]]
        mae = float(np.mean(np.abs(actual - (lf - pf))))
    else:
        mae = 0.0
    return errors, mae


def newsvendor_tau(p_da: float, p_ib: float, p_is: float) -> float:
    """Cost-minimizing quantile of the import distribution for a procured volume."""
    spread = p_ib - p_is
    return 0.5 if spread <= 1e-12 else float(np.clip((p_ib - p_da) / spread, 0.0, 1.0))


def procurement_kwh(point_import_kwh: float, errors: np.ndarray, tau: float) -> float:
    """Newsvendor procurement: the point forecast plus the ``tau`` quantile of recent errors."""
    shift = float(np.quantile(errors, tau)) if errors.size >= 6 else 0.0
    return max(0.0, point_import_kwh + shift)


def advise(obs: Observation, forecast: Mapping[str, Any] | None = None) -> Recommendation:
    spd, dt_h = obs.steps_per_day, obs.dt_h
    horizon = max(1, min(spd, obs.n_steps - obs.step))
    load_hist = np.asarray(obs.hist_load_kwh, dtype=float)
    pv_hist = np.asarray(obs.hist_pv_kwh, dtype=float)
    model = _Model(load_hist, pv_hist, spd, dt_h)
    lf, pf = model.forecast(np.array([model.n]), horizon)
    load_f, pv_f = lf[0], pf[0]
    net_f = load_f - pv_f
    errors, mae = _backtest(model)
    tau = newsvendor_tau(
        float(obs.price_day_ahead[0]),
        float(obs.price_imbalance_buy[0]),
        float(obs.price_imbalance_sell[0]),
    )
    q = procurement_kwh(max(float(net_f[0]), 0.0), errors, tau)
    n = max(obs.n_members, 1)
    cons, prod = float(load_f[0]) / n, float(pv_f[0]) / n
    if net_f[0] > 0:
        message = (
            f"Forecast indicates a deficit (consumption: {cons:.2f} kWh, production: {prod:.2f} kWh)."
            " Recommend adjusting procurement."
        )
    else:
        message = (
            f"Forecast indicates a surplus (consumption: {cons:.2f} kWh, production: {prod:.2f} kWh)."
            " Recommend storing or sharing it locally."
        )
    scale = float(np.mean(load_hist)) if load_hist.size else 0.0
    confidence = (
        0.5 if load_hist.size < spd or scale <= 0 else float(np.clip(1.0 - mae / scale, 0.1, 0.95))
    )
    # Expected saving against buying the whole import at the imbalance price (the no-plan case).
    p_ib, p_da = float(obs.price_imbalance_buy[0]), float(obs.price_day_ahead[0])
    saving = max(0.0, (p_ib - p_da) * min(q, max(float(net_f[0]), 0.0)))
    return Recommendation(
        agent_name=NAME,
        step=obs.step,
        message=message,
        levers={"procurement_kwh": q},
        confidence=confidence,
        expected_saving_ct=saving,
        data={
            "load_kwh": load_f.tolist(),
            "pv_kwh": pv_f.tolist(),
            "net_kwh": net_f.tolist(),
            "running_mae_kwh": mae,
            "newsvendor_tau": tau,
            "one_step_error_kwh": errors.tolist(),
        },
    )
