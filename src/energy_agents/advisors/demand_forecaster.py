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
- **Thermal demand** of each tank's use (``hist_tank_demand_kwh``, up to a week): the same
  weighted same-time-of-day profile as the load (``0.8 ** (d - 1)`` for ``d`` days back, 1.0
  extra a week back), without the level correction (hot-water draws are spikes, a recent
  spike says little about the next hours); with less than a day of history, the mean so far.
- **EVs** (``hist_ev_connected``, ``hist_ev_energy_kwh``, up to a week): each charger's chance
  of an EV plugged in per step ahead and the energy a session takes (:mod:`.ev_forecast`).
- **Procurement** (newsvendor): buying ``q`` ahead costs the day-ahead price, a shortfall the
  imbalance buy price, an excess earns the imbalance sell price, so the cost-minimizing ``q`` is
  the ``tau = (p_ib - p_da) / (p_ib - p_is)`` quantile of the step's import. The quantile is the
  point forecast plus the ``tau`` quantile of the recent one-step-ahead errors.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..sim.observation import Observation
from . import ev_forecast
from .types import FORECASTER, Recommendation

NAME = FORECASTER
DAY_DECAY = 0.8  # weight of a day d days back: DAY_DECAY ** (d - 1)
WEEKLY_BONUS = 1.0  # extra weight on the same weekday 7 and 14 days back
LEVEL_STEPS = 3  # steps of recent residual used for the level correction
LEVEL_DECAY = 0.8  # per-step decay of the level correction with the horizon
MAE_DAYS = 3  # days re-forecast for the running error


MAX_DAYS = 14  # days back the profile and the PV envelope look at
CLEAR_DAYS = 11  # days of the "recent clearness" mean (with MAE_DAYS: the whole fortnight)
_DAYS = np.arange(1, MAX_DAYS + 1)
_WEIGHTS = DAY_DECAY ** np.arange(MAX_DAYS, dtype=float)
_WEIGHTS[[6, 13]] += WEEKLY_BONUS  # same weekday one and two weeks back
_WEIGHTS.flags.writeable = False


_ROWS: dict[
    tuple[int, int], tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
] = {}


def _rows(
    n: int, spd: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :class:`_Model`'s rows read for a history of ``n`` steps, which depends on ``n``
    and ``spd`` only (kept: the history's length stops growing after ``MAX_DAYS``): the first
    row ``lo``, per row and day back the step read (``at``, clipped into the history), whether
    it exists (``ok``), its weight ``w``, the weights' total and whether it is > 0."""
    key = (n, spd)
    got = _ROWS.get(key)
    if got is None:
        lo = max(0, n - (MAE_DAYS + CLEAR_DAYS) * spd - LEVEL_STEPS)
        back = np.arange(lo, n + spd)[:, None] - spd * _DAYS[None, :]
        ok = back >= 0
        w = _WEIGHTS[None, :] * ok
        tot = w.sum(axis=1)
        got = (lo, np.clip(back, 0, max(n - 1, 0)), ok, w, tot, tot > 0)
        for a in got[1:]:
            a.flags.writeable = False
        if len(_ROWS) >= 64:
            _ROWS.clear()
        _ROWS[key] = got
    return got


class _Model:
    """Index-wise forecasts for one history: the live forecast and the backtests share it.

    Only the rows the forecast and the backtests need are computed: from ``MAE_DAYS +
    CLEAR_DAYS`` days (plus the level window) before the end of the history to one day after.
    A row ``j`` reads history strictly before ``j`` (same time on earlier days), and every
    quantity at an origin ``o`` (level, clearness) reads history before ``o``: no leakage.
    """

    def __init__(self, load: np.ndarray, pv: np.ndarray, spd: int, dt_h: float) -> None:
        n = load.size
        self.n, self.spd, self.load, self.pv = n, spd, load, pv
        lo, at, ok, w, tot, has = _rows(n, spd)
        self.lo = lo
        load_b, pv_b = (load[at], pv[at]) if n else (np.zeros(ok.shape), np.zeros(ok.shape))
        self.profile = np.where(has, (load_b * w).sum(axis=1) / np.where(has, tot, 1.0), 0.0)
        self.has_profile = has
        self.envelope = (pv_b * ok).max(axis=1)
        m = n - lo  # rows with history
        env = self.envelope[:m]
        lit = env > 0.05 * float(env.max(initial=0.0))
        cols = np.stack(
            (
                np.where(has[:m], load[lo:] - self.profile[:m], 0.0),
                has[:m].astype(float),
                pv[lo:],
                env,
                np.where(lit, pv[lo:], 0.0),
                np.where(lit, env, 0.0),
            ),
            axis=1,
        )
        self.cum = np.concatenate((np.zeros((1, cols.shape[1])), np.cumsum(cols, axis=0)))

    def _window(self, origins: np.ndarray, width: int) -> np.ndarray:
        """Sums of the columns over [o - width, o) for each origin, shape (len, 6)."""
        i = origins - self.lo
        return self.cum[i] - self.cum[np.maximum(i - width, 0)]

    def forecast(self, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(load, pv) forecasts, shape (len(origins), horizon), each from data before its origin."""
        j = (origins - self.lo)[:, None] + np.arange(horizon)[None, :]
        decay = _decay(horizon)
        lvl = self._window(origins, LEVEL_STEPS)
        level = lvl[:, 0] / np.maximum(lvl[:, 1], 1.0)
        last = self.load[np.maximum(origins - 1, 0)] if self.n else np.zeros(origins.size)
        load_f = np.where(
            self.has_profile[j], self.profile[j] + level[:, None] * decay, last[:, None]
        )
        day = self._window(origins, self.spd)
        recent = self._window(origins, CLEAR_DAYS * self.spd)
        now = self._window(origins, LEVEL_STEPS)
        k_day = _ratio(day[:, 2], day[:, 3], 1.0)
        k_blend = 0.5 * k_day + 0.5 * _ratio(recent[:, 2], recent[:, 3], 1.0)
        k_now = _ratio(now[:, 4], now[:, 5], k_blend)
        k = np.clip(k_now[:, None] * decay + k_blend[:, None] * (1.0 - decay), 0.0, 1.2)
        return np.maximum(load_f, 0.0), self.envelope[j] * k


def _ratio(num: np.ndarray, den: np.ndarray, default: np.ndarray | float) -> np.ndarray:
    ok = den > 0
    return np.where(ok, num / np.where(ok, den, 1.0), default)


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


def thermal_forecast(hist: np.ndarray, spd: int, horizon: int) -> np.ndarray:
    """Each tank's thermal demand ahead [kWh_th per step], shape ``(n_tanks, horizon)``
    (``horizon <= spd``), from its history ``(h, n_tanks)``, oldest first: the weighted mean
    of the same time of day on the past days (the load's day weights); the mean of the
    history where no past day reaches that time; 0 without history."""
    hist = np.asarray(hist, dtype=float)
    n_t = hist.shape[1] if hist.ndim == 2 else 0
    h = hist.shape[0] if n_t else 0
    if h == 0:
        return np.zeros((n_t, horizon))
    back = h + np.arange(horizon)[:, None] - spd * _DAYS[None, :]  # (horizon, days)
    w = np.where(back >= 0, _WEIGHTS[None, :], 0.0)
    tot = w.sum(axis=1)
    past = hist[np.clip(back, 0, h - 1)]  # (horizon, days, n_tanks)
    profile = np.einsum("kd,kdn->kn", w, past) / np.where(tot > 0, tot, 1.0)[:, None]
    profile = np.where((tot > 0)[:, None], profile, hist.mean(axis=0)[None, :])
    return np.maximum(profile, 0.0).T


def carbon_forecast(obs: Observation, horizon: int) -> np.ndarray:
    """The grid's carbon intensity ahead [kg CO2/kWh]: the mean of the same time of day over
    the last up to 7 days (it follows the daily cycle of the generation mix); 0 without
    history."""
    hist = np.asarray(obs.hist_carbon_kg_per_kwh, dtype=float)
    spd = obs.steps_per_day
    n = hist.size
    if n == 0:
        return np.zeros(horizon)
    if n < spd:
        return np.full(horizon, float(hist[-1]))
    days = min(7, n // spd)
    idx = n - spd + (np.arange(horizon) % spd) - spd * np.arange(days)[:, None]
    return hist[idx].mean(axis=0)


_ORIGINS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _origins(n: int, spd: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The backtests' origins for a history of ``n`` steps (kept per ``(n, spd)``): the
    one-step origins over the last day, the day origins, all origins after the live one
    (``n``), and the steps each day origin's forecast covers."""
    key = (n, spd)
    got = _ORIGINS.get(key)
    if got is None:
        o1 = np.arange(max(spd + LEVEL_STEPS, n - spd), n)
        od = np.array(
            [n - d * spd for d in range(1, MAE_DAYS + 1) if n - d * spd >= spd], dtype=int
        )
        origins = np.concatenate(([n], o1, od)).astype(int)
        got = (o1, od, origins, od[:, None] + np.arange(spd)[None, :])
        for a in got:
            a.flags.writeable = False
        if len(_ORIGINS) >= 64:
            _ORIGINS.clear()
        _ORIGINS[key] = got
    return got


@functools.lru_cache(maxsize=16)
def _decay(horizon: int) -> np.ndarray:
    """The level correction's decay over the horizon, ``LEVEL_DECAY ** (h + 1)``, (1, horizon)."""
    d = LEVEL_DECAY ** (np.arange(horizon)[None, :] + 1)
    d.flags.writeable = False
    return d


def _forecast_and_backtest(
    m: _Model, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(load, pv) from the end of the history, the one-step-ahead net errors over the last day,
    and the running 24 h net MAE over up to ``MAE_DAYS`` days; every forecast is issued from
    the history before its origin (one vectorized call for all origins)."""
    spd, n = m.spd, m.n
    net = m.load - m.pv
    o1, od, origins, days_ahead = _origins(n, spd)
    lf, pf = m.forecast(origins, spd)
    f = lf - pf
    errors = net[o1] - f[1 : 1 + o1.size, 0]
    if od.size:
        actual = net[days_ahead]
        mae = float(np.mean(np.abs(actual - f[1 + o1.size :])))
    else:
        mae = 0.0
    return lf[0, :horizon], pf[0, :horizon], errors, mae


def newsvendor_tau(p_da: float, p_ib: float, p_is: float) -> float:
    """Cost-minimizing quantile of the import distribution for a procured volume."""
    spread = p_ib - p_is
    return 0.5 if spread <= 1e-12 else float(np.clip((p_ib - p_da) / spread, 0.0, 1.0))


def quantile(values: np.ndarray, tau: float) -> float:
    """Linear-interpolation quantile (as ``np.quantile``, without its overhead)."""
    v = np.sort(values)
    pos = tau * (v.size - 1)
    i = int(pos)
    j = min(i + 1, v.size - 1)
    return float(v[i] + (v[j] - v[i]) * (pos - i))


def procurement_kwh(point_import_kwh: float, errors: np.ndarray, tau: float) -> float:
    """Newsvendor procurement: the point forecast plus the ``tau`` quantile of recent errors."""
    shift = quantile(errors, tau) if errors.size >= 6 else 0.0
    return max(0.0, point_import_kwh + shift)


def advise(obs: Observation, forecast: Mapping[str, Any] | None = None) -> Recommendation:
    spd, dt_h = obs.steps_per_day, obs.dt_h
    horizon = max(1, min(spd, obs.n_steps - obs.step))
    load_hist = np.asarray(obs.hist_load_kwh, dtype=float)
    pv_hist = np.asarray(obs.hist_pv_kwh, dtype=float)
    model = _Model(load_hist, pv_hist, spd, dt_h)
    load_f, pv_f, errors, mae = _forecast_and_backtest(model, horizon)
    net_f = load_f - pv_f
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
            "carbon_kg_per_kwh": carbon_forecast(obs, horizon).tolist(),
            **tank_data(obs, horizon),
            **ev_data(obs, horizon),
        },
    )


def ev_data(obs: Observation, horizon: int) -> dict[str, Any]:
    """``ev_available`` (each charger's chance of an EV plugged in, per step ahead) and
    ``ev_session_need_kwh`` (the energy a session takes), keyed by charger name (absent
    without chargers; :mod:`.ev_forecast`)."""
    if not obs.ev_names:
        return {}
    p = ev_forecast.availability(obs, horizon)
    need = ev_forecast.session_need_kwh(obs)
    return {
        "ev_available": {name: p[c].tolist() for c, name in enumerate(obs.ev_names)},
        "ev_session_need_kwh": {name: float(need[c]) for c, name in enumerate(obs.ev_names)},
    }


def tank_data(obs: Observation, horizon: int) -> dict[str, Any]:
    """``tank_demand_kwh``: each tank's thermal demand ahead, keyed by tank name (absent
    without tanks)."""
    if not obs.tank_names:
        return {}
    f = thermal_forecast(obs.hist_tank_demand_kwh, obs.steps_per_day, horizon)
    return {"tank_demand_kwh": {name: f[k].tolist() for k, name in enumerate(obs.tank_names)}}
