"""EVs of the synthetic community: a home charger per EV and one overnight session per day.

A parametric model with figures from published statistics (no fitted data is bundled):

- mileage: about 13,000 km per car and year (Germany's average, Kraftfahrt-Bundesamt,
  "Verkehr in Kilometern" 2023: 12,700 km), i.e. 36 km a day, drawn per EV between 0.5x and
  1.5x, and per day with a log-normal spread (sigma 0.5);
- consumption 0.18 kWh/km (ADAC Ecotest, compact EVs 16-20 kWh/100 km);
- battery 40, 58 or 77 kWh (Nissan Leaf, VW ID.3, ID.4/ Model Y class), lowest SOC 10 %;
  a required SOC of 80 % at departure (the common default charge limit);
- charger 11 kW (the German wallbox standard for homes, three-phase 16 A), efficiency 0.9,
  no V2G;
- plug-in: home arrival around 18:00 (normal, sd 1.5 h, within 14:00-23:00), departure next
  morning around 07:30 on weekdays and 10:00 at weekends (sd 1 h, within 05:00-12:00), in
  line with the home-charging sessions of the ElaadNL open data (arrivals peaking at
  17-19 h, overnight connections); an EV plugs in on 90 % of weekday evenings and 60 % of
  weekend evenings; the energy driven since its last session is missing on arrival.

Deterministic for a seed; vectorized over chargers (one Python loop over days).
"""

from __future__ import annotations

import numpy as np

from ..sim.ev import EVChargers, Sessions

KM_PER_YEAR = 13_000.0
KWH_PER_KM = 0.18
CAPACITIES_KWH = (40.0, 58.0, 77.0)
SOC_MIN = 0.1
REQUIRED_SOC = 0.8
CHARGER_KW = 11.0
CHARGER_EFFICIENCY = 0.9
ARRIVAL_H = (18.0, 1.5, 14, 23)  # mean, sd, earliest, latest
DEPARTURE_H = {False: (7.5, 1.0), True: (10.0, 1.0)}  # weekday / weekend: mean, sd
DEPARTURE_RANGE_H = (5, 12)
PLUG_IN_PROBABILITY = {False: 0.9, True: 0.6}


def synthetic_chargers(
    rng: np.random.Generator, members: np.ndarray, start: np.datetime64, n_steps: int
) -> EVChargers:
    """Hourly sessions of one EV per home in ``members`` (indices) from ``start``."""
    n = members.size
    if n == 0:
        return EVChargers.empty(n_steps)
    cap = rng.choice(CAPACITIES_KWH, n)
    km_day = KM_PER_YEAR / 365.0 * rng.uniform(0.5, 1.5, n)
    n_days = n_steps // 24
    first_day = (start.astype("datetime64[D]").view("int64") + 3) % 7  # 0 = Monday
    used = np.zeros(n)  # kWh driven since the last session
    cols = np.arange(n)
    parts: list[tuple[np.ndarray, ...]] = []  # per day: charger, start, stop, departs, SOC
    for d in range(n_days):
        weekend = bool((first_day + d) % 7 >= 5)
        used += km_day * rng.lognormal(-0.125, 0.5, n) * KWH_PER_KM
        plug = rng.random(n) < PLUG_IN_PROBABILITY[weekend]
        mean, sd = DEPARTURE_H[bool((first_day + d + 1) % 7 >= 5)]
        arr = np.clip(np.rint(rng.normal(ARRIVAL_H[0], ARRIVAL_H[1], n)), *ARRIVAL_H[2:])
        dep = np.clip(np.rint(rng.normal(mean, sd, n)), *DEPARTURE_RANGE_H)
        a = (d * 24 + arr).astype(int)
        b = np.minimum(((d + 1) * 24 + dep).astype(int), n_steps)  # exclusive
        c = cols[plug & (a < n_steps)]
        if c.size == 0:
            continue
        soc = np.clip(REQUIRED_SOC - used[c] / cap[c], SOC_MIN, REQUIRED_SOC)
        used[c] = 0.0
        # A session cut by the year's end has no departure.
        parts.append((c, a[c], b[c], b[c] < n_steps, soc))
    sessions = Sessions.empty()
    if parts:
        charger, first, stop, departs, a_soc = (
            np.concatenate([p[k] for p in parts]) for k in range(5)
        )
        order = np.lexsort((first, charger))  # by charger, then by start
        charger = charger[order]
        sessions = Sessions(
            charger=charger,
            start=first[order],
            stop=stop[order],
            departs=departs[order],
            capacity_kwh=cap[charger],
            arrival_soc=a_soc[order],
            required_soc=np.full(charger.size, REQUIRED_SOC),
            soc_min=np.full(charger.size, SOC_MIN),
        )
    return EVChargers(
        names=tuple(f"ev_{int(m):04d}" for m in members),
        member=members.astype(np.int64),
        charge_kw=np.full(n, CHARGER_KW),
        discharge_kw=np.zeros(n),
        efficiency=np.full(n, CHARGER_EFFICIENCY),
        n_steps=n_steps,
        sessions=sessions,
    )
