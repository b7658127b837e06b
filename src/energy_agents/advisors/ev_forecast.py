"""The demand forecaster's EV part: when each charger will have an EV plugged in, and how much
energy a session takes, from the chargers' past week (``hist_ev_connected``,
``hist_ev_energy_kwh``).

- **Availability** per charger and step ahead: 1 while the EV plugged in now stays (its
  departure is known, ``ev_steps_left``); after that the weighted share of the past days on
  which an EV was plugged in at that time of day (the load's day weights, ``0.8 ** (d - 1)``
  for ``d`` days back, 1.0 extra a week back); 0 without history.
- **Session need** per charger: the mean energy its completed sessions in the history took,
  the highest energy seen in a session less its arrival energy (it misses the session's last
  step, which the history shows before its flow); 0 without a completed session.

The storage optimizer does not plan on it (yet): planning each charger's next likely session
(from the availability reaching one half until it falls below, taking the session need) as a
certain one in the look-ahead LP made ``weighted`` worse on the 2022 homes with EVs, under
``cost`` 7,121.6 -> 7,237.4 CT and under ``citylearn2022`` a score of 0.738 -> 0.770 (docs/
advisors.md). The forecast is in the forecaster's message for any strategy or outside agent.

Pure: numpy only.
"""

from __future__ import annotations

import numpy as np

from ..sim.observation import Observation

DAY_DECAY = 0.8  # as the load's profile: weight of a day d days back, DAY_DECAY ** (d - 1)
WEEK_EXTRA = 1.0  # extra weight a week back (the same weekday)


def _profile(hist: np.ndarray, spd: int, horizon: int) -> np.ndarray:
    """``(n, horizon)``: the weighted same-time-of-day mean of ``hist`` ``(h, n)`` over the
    past days (only days whose time lies in the history); 0 where none does."""
    h, n = hist.shape
    days = np.arange(1, max(h // spd, 0) + 2)
    w = DAY_DECAY ** (days - 1.0) + np.where(days == 7, WEEK_EXTRA, 0.0)
    back = h + np.arange(horizon)[:, None] - spd * days[None, :]  # (horizon, days)
    ok = (back >= 0) & (back < h)
    weight = np.where(ok, w[None, :], 0.0)
    tot = weight.sum(axis=1)
    past = hist[np.clip(back, 0, max(h - 1, 0))] if h else np.zeros((horizon, days.size, n))
    mean = np.einsum("kd,kdn->kn", weight, past) / np.where(tot > 0, tot, 1.0)[:, None]
    return np.where((tot > 0)[:, None], mean, 0.0).T


def availability(obs: Observation, horizon: int) -> np.ndarray:
    """``(n_chargers, horizon)``: the chance an EV is plugged in at each step ahead."""
    n = len(obs.ev_names)
    hist = np.asarray(obs.hist_ev_connected, dtype=float).reshape(-1, n) if n else np.zeros((0, 0))
    p = np.clip(_profile(hist, obs.steps_per_day, horizon), 0.0, 1.0) if n else np.zeros((0, 0))
    ahead = np.arange(horizon)
    for c in range(n):
        if obs.ev_connected[c] > 0:
            p[c, ahead < max(int(obs.ev_steps_left[c]), 1)] = 1.0
    return p.reshape(n, horizon)


def session_need_kwh(obs: Observation) -> np.ndarray:
    """``(n_chargers,)``: the mean energy a completed session in the history took [kWh]."""
    n = len(obs.ev_names)
    if not n:
        return np.zeros(0)
    conn = np.asarray(obs.hist_ev_connected, dtype=float).reshape(-1, n) > 0
    energy = np.asarray(obs.hist_ev_energy_kwh, dtype=float).reshape(-1, n)
    out = np.zeros(n)
    for c in range(n):
        edge = np.diff(np.concatenate(([0], conn[:, c].astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        # Completed sessions only: not cut by the history's start, ended before its end.
        keep = (starts > 0) & (ends < conn.shape[0])
        takes = [
            max(float(energy[s:e, c].max() - energy[s, c]), 0.0)
            for s, e in zip(starts[keep], ends[keep], strict=True)
        ]
        out[c] = float(np.mean(takes)) if takes else 0.0
    return out
