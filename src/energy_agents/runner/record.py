"""One per-step record, the same for the live runner (``POST /state``'s ``record``, which the
dashboard plots), the batch report's per-step table and the dashboard's series.

A record holds step ``t``'s result columns (``sim.community.RESULT_COLUMNS``, the per-storage
``soc_<name>`` and ``flow_<name>_kwh``), the step's four prices and its simulated start time."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sim.community import Community

PRICE_COLUMNS = ("price_imbalance_buy", "price_imbalance_sell", "price_feed_in")
"""Prices recorded beside ``price_day_ahead`` (which is a result column)."""


def sim_time(community: Community, t: int) -> str:
    """Simulated start of step ``t`` in the seed's format, ``YYYY-MM-DD HH:MM:SS``."""
    s = community.scenario
    start = np.datetime64(s.start, "s")
    return str(start + np.timedelta64(int(round(s.dt_h * 3600)), "s") * t).replace("T", " ")


def step_columns(community: Community) -> dict[str, np.ndarray]:
    """Every record of the steps run so far, column by column (the batch table)."""
    n = community.t
    p = community.scenario.prices
    cols: dict[str, np.ndarray] = {k: v[:n] for k, v in community.results.items()}
    cols["price_imbalance_buy"] = p.imbalance_buy[:n]
    cols["price_imbalance_sell"] = p.imbalance_sell[:n]
    cols["price_feed_in"] = p.feed_in[:n]
    cols["carbon_kg_per_kwh"] = community.scenario.carbon[:n]
    return cols


def step_record(community: Community, t: int) -> dict[str, Any]:
    """Step ``t`` (already run) as one flat record, plus ``soc`` by storage name (and, with EV
    chargers, ``EVs``: the energy in the connected EVs over their capacity, None when none is;
    with thermal tanks, ``tanks``: their heat over their capacity)."""
    r = community.results
    p = community.scenario.prices
    record: dict[str, Any] = {"step": t, "timestamp": sim_time(community, t)}
    record.update({k: float(v[t]) for k, v in r.items()})
    record["price_imbalance_buy"] = float(p.imbalance_buy[t])
    record["price_imbalance_sell"] = float(p.imbalance_sell[t])
    record["price_feed_in"] = float(p.feed_in[t])
    record["carbon_kg_per_kwh"] = float(community.scenario.carbon[t])
    record["soc"] = {n: float(r[f"soc_{n}"][t]) for n in community.storage_names}
    ev = community.scenario.evs
    if ev.n:  # the connected EVs as one more series of the dashboard's SOC chart
        row = ev.row(t)
        cap = float(row.capacity_kwh.sum())
        record["ev_connected"] = int(row.connected.sum())
        record["soc"]["EVs"] = float(r["ev_energy_kwh"][t]) / cap if cap > 0 else None
    tanks = community.scenario.tanks
    if tanks.n:  # the thermal tanks' heat over their capacity, one more series of that chart
        record["soc"]["tanks"] = float(r["tank_energy_kwh"][t]) / float(tanks.capacity_kwh.sum())
    return record


def stored_energy_kwh(community: Community) -> float:
    """Energy held in every storage now (community storages and home batteries), kWh."""
    return float(community.community_energy.sum() + community.member_energy.sum())


def steps_table(community: Community) -> dict[str, np.ndarray]:
    """Every step run so far: ``step``, ``timestamp`` (``datetime64[s]``), then the records'
    columns (:func:`step_columns`). Plain arrays, so writing it needs no pandas."""
    table = {
        "step": np.arange(community.t),
        "timestamp": community.scenario.timestamps()[: community.t],
    }
    table.update(step_columns(community))
    return table
