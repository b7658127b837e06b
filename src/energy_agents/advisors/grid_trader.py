"""``grid_trader``: day-ahead, imbalance and feed-in prices -> buy/sell advice for storage.

Method: a price-threshold arbitrage rule per storage over the known day-ahead prices of the
next 24 h. Buying a kWh now and delivering it later returns ``round_trip_efficiency`` of it,
so charging from the grid at price ``p`` pays only if a later price in the window exceeds
``p / round_trip_efficiency``. The storage then charges at full power in the cheapest steps
that it needs to fill its free room (``ceil(room / power)`` steps) and that precede the
dear steps; it discharges at the steps whose price is above the break-even of the cheapest
refill; it holds otherwise. Procurement: the forecast import of this step plus the grid
energy the advice moves (charging adds to it, discharging takes from it), since community
storages steer the exchange toward the procured volume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES
from . import storage_optimizer
from .demand_forecaster import quantile
from .types import Recommendation

NAME = "grid_trader"
MARGIN = 1.02  # 2% on top of the break-even, against forecast and rounding noise


def storage_action(obs: Observation, name: str) -> tuple[float, str]:
    """(schedule setpoint in [-1, 1], reason) for one storage from prices alone."""
    da = np.asarray(obs.price_day_ahead, dtype=float)
    p_now = float(da[0])
    rt = max(float(obs.storage_efficiency[name]), 1e-6)
    cap = obs.storage_capacity_kwh[name]
    power = obs.storage_power_kw[name] * obs.dt_h
    if power <= 0 or cap <= 0 or da.size < 2:
        return 0.0, "hold"
    e = obs.storage_energy_kwh[name]
    room = max(obs.storage_soc_max[name] * cap - e, 0.0) / math.sqrt(rt)  # at the terminals
    later_max = float(da[1:].max())
    # Charge: among the cheapest steps before the day's dearest one, enough to fill the room.
    peak = int(np.argmax(da))
    if peak > 0 and p_now * MARGIN < later_max * rt:
        n_fill = max(1, math.ceil(room / power))
        before = da[:peak]
        cheapest = np.sort(before)[: min(n_fill, before.size)]
        if room > 1e-6 and p_now <= float(cheapest[-1]) + 1e-12:
            return 1.0, "charge"
    # Discharge: the price is above what a refill costs (cheapest price in the window / rt).
    stored = max(e - obs.storage_soc_min[name] * cap, 0.0)
    if (
        stored > 1e-6
        and p_now > float(da.min()) / rt * MARGIN
        and p_now >= float(quantile(da, 0.75))
    ):
        return -1.0, "discharge"
    return 0.0, "hold"


def advise(obs: Observation, forecast: Mapping[str, Any] | None = None) -> Recommendation:
    p_now = float(obs.price_day_ahead[0])
    p_ib, p_is = float(obs.price_imbalance_buy[0]), float(obs.price_imbalance_sell[0])
    p_fi = float(obs.price_feed_in[0])
    load, pv = storage_optimizer.forecast_from(obs, forecast)
    net0 = float(load[0] - pv[0])
    setpoints: dict[str, float] = {}
    actions: dict[str, str] = {}
    grid_kwh = 0.0
    saving = 0.0
    da = np.asarray(obs.price_day_ahead, dtype=float)
    for name in obs.storage_names:
        sp, act = storage_action(obs, name)
        setpoints[name] = sp
        actions[name] = act
        power = obs.storage_power_kw[name] * obs.dt_h
        rt = obs.storage_efficiency[name]
        if act == "charge":
            if name != MEMBER_BATTERIES:
                grid_kwh += power
            saving += power * max(float(da[1:].max()) * rt - p_now, 0.0)
        elif act == "discharge":
            if name != MEMBER_BATTERIES:
                grid_kwh -= power
            saving += power * max(p_now - float(da.min()) / rt, 0.0)
    procurement = max(0.0, max(net0, 0.0) + grid_kwh)
    low = p_now <= quantile(obs.price_day_ahead, 0.25)
    high = p_now >= quantile(obs.price_day_ahead, 0.75)
    if any(a == "charge" for a in actions.values()) or (low and not high):
        message = f"Low purchase price detected ({p_now:.2f} CT/kWh). Recommend buying energy to cover deficits."
    elif any(a == "discharge" for a in actions.values()) or (high and not low):
        message = (
            f"High purchase price detected ({p_now:.2f} CT/kWh). Recommend selling stored energy"
            " (discharging) instead of buying."
        )
    else:
        message = (
            f"Purchase price {p_now:.2f} CT/kWh within the day's range. Recommend holding storage."
        )
    return Recommendation(
        agent_name=NAME,
        step=obs.step,
        message=message,
        levers={"storage_setpoints": setpoints, "procurement_kwh": procurement},
        confidence=0.6,
        expected_saving_ct=saving,
        data={
            "actions": actions,
            "imbalance_premium_ct_per_kwh": p_ib - p_now,
            "imbalance_discount_ct_per_kwh": p_now - p_is,
            "feed_in_ct_per_kwh": p_fi,
        },
    )
