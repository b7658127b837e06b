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

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..sim.observation import Observation
from . import storage_optimizer
from .types import Recommendation

NAME = "token_economist"
FULL_DEFERRAL_MARGIN = 1.001  # burn a hair above price / elasticity so the share is exactly 1
MIN_SAVING_CT = 1e-6


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


def _cost(net: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    return buy * np.maximum(net, 0.0) - sell * np.maximum(-net, 0.0)


def best_release(
    flex: np.ndarray,
    base: np.ndarray,
    backlog: float,
    buy: np.ndarray,
    sell: np.ndarray,
    share: float,
) -> tuple[int, float]:
    """(release step r, saving vs releasing now) over steps 0..len-1 of the rest of the day.

    ``base`` is the net load without the flexible part; ``share`` the deferred fraction."""
    n = flex.size
    moved = share * flex
    kept = flex - moved
    # Deferring to r: steps k < r serve base + kept; step r serves base + flex_r + backlog +
    # sum(moved_{<r}); steps after r are unchanged.
    cum_moved = np.concatenate(([0.0], np.cumsum(moved)))[:n]
    deferred_cost = np.concatenate(([0.0], np.cumsum(_cost(base + kept, buy, sell))))[:n]
    normal = _cost(base + flex, buy, sell)
    tail = np.concatenate((np.cumsum(normal[::-1])[::-1][1:], [0.0]))
    at_r = _cost(base + flex + backlog + cum_moved, buy, sell)
    total = deferred_cost + at_r + tail
    r = int(np.argmin(total))
    return r, float(total[0] - total[r])


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
    n = min(steps_left, load.size)
    buy = np.asarray(obs.price_day_ahead[:n], dtype=float)
    sell = np.asarray(obs.price_feed_in[:n], dtype=float)
    flex = frac * load[:n]
    base = load[:n] - pv[:n] - flex
    burn = min(price / obs.elasticity * FULL_DEFERRAL_MARGIN, max_burn)
    share = min(1.0, obs.elasticity * burn / price)
    r, saving = best_release(flex, base, backlog, buy, sell, share)
    burn_cost = burn * (1.0 - share) * float(flex[0]) if share < 1.0 else 0.0
    if r > 0 and saving - burn_cost > MIN_SAVING_CT:
        msg = (
            f"High demand detected: Increasing token burn rate to {burn:.3f} CT/kWh"
            f" (defers {share * float(flex[0]):.2f} kWh of flexible load by {r} steps,"
            f" saving {saving - burn_cost:.2f} CT)."
        )
        return answer(burn, msg, saving - burn_cost, r, -share * float(flex[0]))
    release = f" Releasing {backlog:.2f} kWh of deferred load." if backlog > 1e-9 else ""
    return answer(0.0, f"Demand normal: token burn rate kept at 0.{release}", 0.0, 0, backlog)
