"""The local P2P market: one clearing per step (pure functions, vectorized over members).

Mechanism: a uniform-price double auction in which every member with a deficit bids its grid
alternative (the import price) and every member with a surplus asks its grid alternative (the
feed-in price). Since feed-in <= import, every bid crosses every ask, so the auction clears the
whole short side: volume ``min(total surplus, total deficit)``, shared pro rata on the long side.
All matches clear at one price inside ``[feed_in, import]``, chosen by the price rule
(``levers.P2P_PRICE_RULES``).
"""

from __future__ import annotations

import numpy as np

from .sums import sum_of


def clearing_price(
    rule: str, import_price: float, feed_in: float, supply: float, demand: float
) -> float:
    """Uniform price [CT/kWh] of this step's matches; always within ``[feed_in, import_price]``."""
    if rule == "buyer":
        return feed_in
    if rule == "seller":
        return import_price
    if rule == "sdr":
        # Supply-demand ratio pricing (Liu et al. 2017): import price when supply is scarce,
        # feed-in price once supply covers demand.
        if demand <= 0.0:
            return feed_in
        sdr = min(supply / demand, 1.0)
        denom = (import_price - feed_in) * sdr + feed_in
        return import_price if denom <= 0.0 else import_price * feed_in / denom
    return 0.5 * (import_price + feed_in)


def match(
    deficit_kwh: np.ndarray,
    surplus_kwh: np.ndarray,
    demand: float | None = None,
    supply: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Pro-rata matching: (bought per member, sold per member, volume), volume = min(S, D).
    ``demand``/``supply``: the sums of ``deficit_kwh``/``surplus_kwh`` if the caller has them."""
    demand = sum_of(deficit_kwh) if demand is None else demand
    supply = sum_of(surplus_kwh) if supply is None else supply
    volume = min(demand, supply)
    if volume <= 0.0:
        zero = np.zeros_like(deficit_kwh)
        return zero, zero, 0.0
    return deficit_kwh * (volume / demand), surplus_kwh * (volume / supply), volume
