"""``p2p_trader``: members' surpluses and deficits that a local trade serves better than the grid.

Method: every kWh matched locally saves ``import - feed-in`` for the community (a seller would
otherwise export at the feed-in price while a buyer imports at the day-ahead price). The
expected matched volume of this step is estimated from members' recent balances (the mean of
``min(total surplus, total deficit)`` at the same time yesterday and at the last step,
persistence at member level), scaled to the forecast community PV. The market costs nothing
when there is nothing to match, and community storages can steer the community's exchange
only through it, so the advice keeps P2P on whenever the community has two members or more.
Price rule: ``midpoint`` (the k = 0.5 double auction: the gain split evenly between buyers and
sellers); the rule moves CT between members only, never changes the community's cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..sim.observation import Observation
from .types import Recommendation

NAME = "p2p_trader"


def _match(load: np.ndarray, pv: np.ndarray) -> tuple[float, float, float]:
    net = load - pv
    surplus = float(np.maximum(-net, 0.0).sum())
    deficit = float(np.maximum(net, 0.0).sum())
    return min(surplus, deficit), surplus, deficit


def advise(obs: Observation, forecast: Mapping[str, Any] | None = None) -> Recommendation:
    load, pv = obs.member_hist_load_kwh, obs.member_hist_pv_kwh
    spd = obs.steps_per_day
    samples = []
    if load.shape[0] >= spd:
        samples.append(_match(load[-spd], pv[-spd]))
    if load.shape[0] >= 1:
        samples.append(_match(load[-1], pv[-1]))
    if samples:
        volume, surplus, deficit = (float(np.mean([s[i] for s in samples])) for i in range(3))
    else:
        volume = surplus = deficit = 0.0
    if forecast is not None and "pv_kwh" in forecast and load.shape[0] >= spd:
        pv_then = float(pv[-spd].sum())
        pv_next = float(np.asarray(forecast["pv_kwh"], dtype=float)[0])
        if pv_then > 1e-9:
            scale = float(np.clip(pv_next / pv_then, 0.0, 2.0))
            volume *= scale
            surplus *= scale
        elif pv_next <= 1e-9:
            volume = min(volume, surplus)
    gain = float(obs.price_day_ahead[0] - obs.price_feed_in[0])
    saving = max(volume * gain, 0.0)
    enabled = obs.n_members >= 2
    if volume > 1e-3 and enabled:
        message = (
            f"P2P trade opportunity: surplus of {surplus:.2f} kWh can cover deficits of"
            f" {deficit:.2f} kWh (about {volume:.2f} kWh, saving {saving:.2f} CT)."
            " Recommend enabling P2P trading."
        )
    else:
        message = "No profitable P2P trade available at the moment."
    return Recommendation(
        agent_name=NAME,
        step=obs.step,
        message=message,
        levers={"p2p_enabled": enabled, "p2p_price_rule": "midpoint"},
        confidence=0.9 if enabled else 0.5,
        expected_saving_ct=saving,
        data={"expected_volume_kwh": volume, "gain_ct_per_kwh": gain},
    )
