"""When to start the flexible appliances' waiting jobs (the storage optimizer's part for them).

Rule: a waiting job starts now if no later start within its window, as far as prices are
known, is cheaper. The cost of a start is the marginal price of the steps its cycle covers,
taken as the feed-in price where the community's forecast net is a surplus (the energy is the
community's own PV, worth only its export price) and as the day-ahead price elsewhere. The
cycle's energy is spread evenly over its length (the observation gives its energy and length).
Pure: numpy only.
"""

from __future__ import annotations

import numpy as np

from ..sim.observation import Observation


def marginal_prices(obs: Observation, net_kwh: np.ndarray) -> np.ndarray:
    """Per step ahead [CT/kWh]: feed-in where the forecast net is a surplus, else day-ahead."""
    h = min(net_kwh.size, obs.price_day_ahead.size)
    buy = np.asarray(obs.price_day_ahead[:h], dtype=float)
    sell = np.asarray(obs.price_feed_in[:h], dtype=float)
    return np.where(np.asarray(net_kwh[:h]) < 0, sell, buy)


def start_now(obs: Observation, net_kwh: np.ndarray) -> dict[str, bool]:
    """``appliance_start`` for the observation: per appliance with a waiting job, whether to
    start it now (empty without appliances)."""
    out: dict[str, bool] = {}
    price = marginal_prices(obs, net_kwh)
    for a, name in enumerate(obs.appliance_names):
        if obs.appliance_waiting[a] <= 0:
            continue
        length = max(int(obs.appliance_steps[a]), 1)
        options = min(int(obs.appliance_steps_left[a]), max(price.size - length + 1, 1))
        cost = [float(price[k : k + length].mean()) if k < price.size else np.inf
                for k in range(max(options, 1))]  # fmt: skip
        out[name] = bool(cost[0] <= min(cost) + 1e-12)
    return out
