"""``token_economist``: the burn rate (demand response) where the shift it buys is worth more
than the CT it burns.

The model (sim/community.py, steps 1 and 5): a burn rate ``b`` defers the share
``min(1, elasticity * b / price)`` of this step's flexible load; the backlog is released at the
first step without a burn signal, at the latest at the day's last step. CT are burned on the
flexible load still drawn from outside the home: ``b * min(residual deficit, flexible served)``.
So a burn that defers *all* flexible load (``b = price / elasticity``) burns nothing at this
step, and the backlog is served at a zero-burn step, which burns nothing either.

Method: with the forecast net load of the rest of the simulation day, compare every release
step ``r`` (``r = 0``: do not defer, the backlog is released now) by the community's energy
cost: deferring the flexible load of steps ``0..r-1`` plus the backlog to ``r``, each step
priced by its net position (import at the day-ahead price, surplus displaced at the feed-in
price). Burn iff the best ``r`` is later than now and saves more than the CT the burn costs
(nothing at full deferral; a partial deferral when ``price / elasticity`` exceeds the maximum
burn is counted with the CT it burns).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..optimize.planning import observed_tariff, planning_weights
from ..sim.observation import Observation
from . import storage_optimizer
from .types import Recommendation

NAME = "token_economist"
FULL_DEFERRAL_MARGIN = 1.001  # burn a hair above price / elasticity so the share is exactly 1
MIN_SAVING_CT = 1e-6
MAX_DEFERRAL_H = 4.0
"""Longest deferral: flexible load (laundry, dishwashers, water heating) waits at most about
as long as a demand-response event lasts, and a longer one piles a larger rebound onto one
step (the backlog is released at once), where a forecast error becomes a new peak."""
PEAK_RISK_QUANTILE = 0.9
"""The peak terms of a release are priced on the forecast plus this quantile of the recent
one-step errors: a rebound met with more load than forecast still must not make a new peak."""


def flexible_fraction(obs: Observation) -> float:
    """Share of the community load that is flexible (load-weighted over the last day)."""
    share = obs.flexible_share
    hist = obs.member_hist_load_kwh
    if share.size == 0:
        return 0.0
    if hist.size == 0:
        return float(share.mean())
    per = hist.sum(axis=0)
    tot = float(per.sum())
    return float((per * share).sum() / tot) if tot > 0 else float(share.mean())


@dataclass(frozen=True)
class Prices:
    """What a step's net import costs the run, in the objective's CT: the energy prices and
    the import carbon weight per step of the window, and the tariff's overrun above the
    connection limit and demand charge above the period's peak so far."""

    buy: np.ndarray
    sell: np.ndarray
    carbon: np.ndarray  # CT per kWh imported (the objective's carbon weight x intensity)
    tokens: float = 1.0
    limit_kwh: float = math.inf
    overrun: float = 0.0
    demand_charge_per_kwh: float = 0.0  # CT per kWh-per-step of the window's peak import
    peak_so_far_kwh: float = 0.0
    peak_margin_kwh: float = 0.0  # added to the import where the peak terms price it


def _cost(net: np.ndarray, p: Prices) -> np.ndarray:
    """Cost of net load trajectories ``net`` (rows: candidates, columns: the window's steps)."""
    imp = np.maximum(net, 0.0)
    risky = np.maximum(net + p.peak_margin_kwh, 0.0)
    energy = p.buy * imp - p.sell * np.maximum(-net, 0.0)
    energy = energy + p.overrun * np.maximum(risky - p.limit_kwh, 0.0)
    total = p.tokens * energy.sum(axis=-1) + (p.carbon * imp).sum(axis=-1)
    if p.demand_charge_per_kwh > 0:
        new_peak = np.maximum(risky.max(axis=-1) - p.peak_so_far_kwh, 0.0)
        total += p.tokens * p.demand_charge_per_kwh * new_peak
    return total


def best_release(
    flex: np.ndarray, base: np.ndarray, backlog: float, prices: Prices, share: float
) -> tuple[int, float]:
    """(release step r, saving vs releasing now) over steps 0..len-1 of the rest of the day.

    ``base`` is the net load without the flexible part; ``share`` the deferred fraction.
    Deferring to r: steps k < r serve base + kept; step r serves base + flex_r + backlog +
    sum(moved_(<r)); steps after r are unchanged. Every candidate's whole trajectory is priced
    (the peak terms are not additive per step)."""
    n = flex.size
    moved = share * flex
    kept = flex - moved
    cum_moved = np.concatenate(([0.0], np.cumsum(moved)))[:n]
    k = np.arange(n)
    r = k[:, None]
    paths = np.where(k < r, base + kept, base + flex)
    paths[k, k] += backlog + cum_moved
    total = _cost(paths, prices)
    best = int(np.argmin(total))
    return best, float(total[0] - total[best])


def advise(obs: Observation, forecast: Mapping[str, Any] | None = None) -> Recommendation:
    backlog = float(obs.backlog_kwh.sum())
    max_burn = float(obs.max_burn_rate_ct_per_kwh)
    frac = flexible_fraction(obs)
    steps_left = obs.steps_per_day - obs.step_of_day  # this step included; the last one releases
    price = float(obs.price_day_ahead[0])

    def answer(
        burn: float, message: str, saving: float, release_in: int, shift: float
    ) -> Recommendation:
        return Recommendation(
            agent_name=NAME,
            step=obs.step,
            message=message,
            levers={"burn_rate_ct_per_kwh": burn},
            confidence=0.7,
            expected_saving_ct=saving,
            data={
                "flexible_fraction": frac,
                "backlog_kwh": backlog,
                "release_in_steps": release_in,
                "expected_shift_kwh": shift,  # change of this step's import vs no deferral
            },
        )

    if frac <= 0 or max_burn <= 0 or obs.elasticity <= 0 or steps_left <= 1 or price <= 0:
        release = f" Releasing {backlog:.2f} kWh of deferred load." if backlog > 1e-9 else ""
        return answer(0.0, f"Demand normal: token burn rate kept at 0.{release}", 0.0, 0, backlog)
    load, pv = storage_optimizer.forecast_from(obs, forecast)
    longest = max(1, int(round(MAX_DEFERRAL_H / obs.dt_h)))
    n = min(steps_left, load.size, longest + 1)  # release at most ``longest`` steps later
    prices = window_prices(obs, forecast, load[:n], pv[:n])
    flex = frac * load[:n]
    base = load[:n] - pv[:n] - flex
    if backlog >= longest * float(flex.mean()):  # deferred long enough: release it now
        release = f" Releasing {backlog:.2f} kWh of deferred load."
        return answer(0.0, f"Demand normal: token burn rate kept at 0.{release}", 0.0, 0, backlog)
    burn = min(price / obs.elasticity * FULL_DEFERRAL_MARGIN, max_burn)
    share = min(1.0, obs.elasticity * burn / price)
    r, saving = best_release(flex, base, backlog, prices, share)
    # In the objective's units: the CT burned weigh as tokens spent.
    burn_cost = prices.tokens * burn * (1.0 - share) * float(flex[0]) if share < 1.0 else 0.0
    if r > 0 and saving - burn_cost > MIN_SAVING_CT:
        msg = (
            f"High demand detected: Increasing token burn rate to {burn:.3f} CT/kWh"
            f" (defers {share * float(flex[0]):.2f} kWh of flexible load by {r} steps,"
            f" saving {saving - burn_cost:.2f} CT)."
        )
        return answer(burn, msg, saving - burn_cost, r, -share * float(flex[0]))
    release = f" Releasing {backlog:.2f} kWh of deferred load." if backlog > 1e-9 else ""
    return answer(0.0, f"Demand normal: token burn rate kept at 0.{release}", 0.0, 0, backlog)


def window_prices(
    obs: Observation, forecast: Mapping[str, Any] | None, load: np.ndarray, pv: np.ndarray
) -> Prices:
    """The run's prices over the window (the objective's weights, the tariff)."""
    n = load.size
    carbon = storage_optimizer.carbon_ahead(obs, forecast, n)
    w = planning_weights(obs, load, pv, carbon)
    tariff = observed_tariff(obs)
    return Prices(
        buy=np.asarray(obs.price_day_ahead[:n], dtype=float),
        sell=np.asarray(obs.price_feed_in[:n], dtype=float),
        carbon=w.import_carbon,
        tokens=w.tokens,
        limit_kwh=tariff.import_limit_kw * obs.dt_h,
        overrun=tariff.overrun_ct_per_kwh,
        demand_charge_per_kwh=tariff.demand_charge_ct_per_kw / obs.dt_h,
        peak_so_far_kwh=obs.period_peak_import_kw * obs.dt_h,
        peak_margin_kwh=peak_margin(forecast),
    )


def peak_margin(forecast: Mapping[str, Any] | None) -> float:
    """:data:`PEAK_RISK_QUANTILE` of the forecaster's recent one-step net errors (0 without)."""
    errors = np.asarray((forecast or {}).get("one_step_error_kwh", ()), dtype=float)
    if errors.size < 6:
        return 0.0
    return max(0.0, float(np.quantile(errors, PEAK_RISK_QUANTILE)))
