"""Key performance indicators of a finished (or partly run) simulation."""

from __future__ import annotations

from typing import Any

from . import grid
from .community import Community

KPI_LABELS = (
    ("tokens_spent_ct", "tokens spent [CT]"),
    ("tokens_saved_ct", "saved vs none [CT]"),
    ("savings_capture", "savings capture"),
    ("objective_value", "objective J"),
    ("citylearn_cost_ratio", "CityLearn cost ratio"),
    ("citylearn_2022_score", "CityLearn 2022 score"),
    ("carbon_kg", "carbon [kg CO2]"),
    ("all_time_peak_ratio", "all-time peak vs none"),
    ("daily_peak_ratio", "mean daily peak vs none"),
    ("demand_charge_ct", "demand charge [CT]"),
    ("limit_violation_kwh", "above the import limit [kWh]"),
    ("self_sufficiency", "self-sufficiency"),
    ("self_consumption", "self-consumption"),
    ("peak_import_kw", "peak import [kW]"),
    ("p2p_kwh", "P2P [kWh]"),
    ("burned_ct", "CT burned"),
    ("storage_cycles", "storage cycles"),
    ("forecast_mae_kwh", "forecast MAE [kWh]"),
    ("wall_s", "run time [s]"),
)
"""The KPIs a report or the dashboard shows, in this order, with their labels and units."""


def compute_kpis(community: Community, baseline_spent_ct: float | None = None) -> dict[str, Any]:
    """KPIs over the steps run so far. ``baseline_spent_ct`` is the no-control run's
    ``tokens_spent_ct`` over the same steps (for ``tokens_saved_ct``)."""
    s, n = community.scenario, community.t
    r = {k: v[:n] for k, v in community.results.items()}
    spent = float(r["tokens_spent_ct"].sum())
    # the homes' demand, their EVs' and appliances'
    served = float(
        r["served_kwh"].sum()
        + r["ev_kwh"].sum()
        + r["appliance_kwh"].sum()
        + r["tank_electricity_kwh"].sum()
    )
    pv = float(r["pv_kwh"].sum())
    imp = float(r["import_kwh"].sum())
    exp = float(r["export_kwh"].sum())
    city_base = float(r["city_base_cost_ct"].sum())
    capacity = float(
        s.member_batteries.capacity_kwh.sum() + s.community_storages.capacity_kwh.sum()
    )
    return {
        "tokens_spent_ct": spent,
        "tokens_saved_ct": None if baseline_spent_ct is None else baseline_spent_ct - spent,
        "grid_cost_ct": float(r["grid_cost_ct"].sum()),
        "citylearn_cost_ratio": float(r["city_cost_ct"].sum()) / city_base
        if city_base > 0
        else None,
        "self_sufficiency": max(0.0, 1.0 - imp / served) if served > 0 else None,
        "self_consumption": max(0.0, 1.0 - exp / pv) if pv > 0 else None,
        "import_kwh": imp,
        "export_kwh": exp,
        "peak_import_kw": float(r["import_kwh"].max(initial=0.0)) / s.dt_h,
        "p2p_kwh": float(r["p2p_kwh"].sum()),
        "burned_ct": float(r["burned_ct"].sum()),
        "minted_ct": float(r["minted_ct"].sum()),
        "imbalance_kwh": float(r["shortfall_kwh"].sum() + r["excess_kwh"].sum()),
        "storage_cycles": community.discharge_throughput / capacity if capacity > 0 else 0.0,
        **grid_kpis(community, spent),
        **ev_kpis(community),
        **appliance_kpis(community),
        **tank_kpis(community),
        "max_energy_balance_error_kwh": community.max_energy_error,
        "max_token_conservation_error_ct": community.max_token_error,
        "members": s.n_members,
        "steps": n,
    }


def ev_kpis(community: Community) -> dict[str, Any]:
    """The EVs' departures against their required SOC (empty without chargers)."""
    if not community.scenario.evs.n:
        return {}
    n = community.t
    return {
        "ev_charged_kwh": float(community.results["ev_kwh"][:n].sum()),
        "ev_departures": community.ev_departures,
        "ev_short_departures": community.ev_short_departures,
        "ev_infeasible_departures": community.ev_infeasible_departures,
        "ev_shortfall_kwh": community.ev_shortfall_kwh,
    }


def appliance_kpis(community: Community) -> dict[str, Any]:
    """The appliances' jobs: energy, and how long they waited after their window opened
    (empty without appliances)."""
    ap = community.scenario.flexible_appliances
    if not ap.n:
        return {}
    done = community.job_started >= 0
    wait = (community.job_started - ap.window_start)[done] * community.scenario.dt_h
    return {
        "appliance_kwh": float(community.results["appliance_kwh"][: community.t].sum()),
        "appliance_jobs_started": int(done.sum()),
        "appliance_mean_wait_h": float(wait.mean()) if wait.size else 0.0,
    }


def tank_kpis(community: Community) -> dict[str, Any]:
    """The thermal tanks: heat shifted, standby loss, the electricity they moved and the
    thermal energy balance's largest error (empty without tanks)."""
    tk = community.scenario.tanks
    if not tk.n:
        return {}
    r = {k: v[: community.t] for k, v in community.results.items()}
    flow = r["tank_kwh"]
    start = float(tk.initial_energy().sum())
    end = float(r["tank_energy_kwh"][-1]) if community.t else start
    standby = float(r["tank_loss_kwh"].sum())
    balance = start + float(flow.sum()) - standby
    return {
        "tank_charged_kwh_th": float(flow[flow > 0].sum()),
        "tank_discharged_kwh_th": float(-flow[flow < 0].sum()),
        "tank_loss_kwh_th": standby,
        "tank_electricity_kwh": float(r["tank_electricity_kwh"].sum()),
        "tank_energy_end_kwh_th": end,
        "tank_conversion_loss_kwh_th": balance - end,  # the sqrt(eta) on each way
    }


def grid_kpis(community: Community, tokens_spent_ct: float) -> dict[str, Any]:
    """Carbon, the tariff's components, the CityLearn 2022 score against the no-control run
    (its parts under ``citylearn_2022``), the peak and ramping ratios, the objective's value."""
    s, n = community.scenario, community.t
    r = community.results
    if n == 0:
        return {}
    net, imp = r["net_kwh"][:n], r["import_kwh"][:n]
    terms = grid.net_terms(net, s.prices.day_ahead[:n], s.carbon[:n], s.dt_h, s.steps_per_day)
    ref = grid.reference_terms(s, n)
    weights = grid.linear_weights(s.objective, ref, s.carbon[:n], s.dt_h)
    overrun = r["overrun_kwh"][:n]
    return {
        "carbon_kg": float(r["carbon_kg"][:n].sum()),
        "demand_charge_ct": float(r["demand_charge_ct"][:n].sum()),
        "overrun_ct": float(r["overrun_ct"][:n].sum()),
        "limit_violation_kwh": float(overrun.sum()),
        "limit_violation_steps": int((overrun > 1e-9).sum()),
        "curtailed_kwh": float(r["curtailed_kwh"][:n].sum()),
        "citylearn_2022": (score := grid.citylearn_2022(terms, ref)),
        "citylearn_2022_score": score["score"],
        "all_time_peak_ratio": grid.ratio(terms.all_time_peak, ref.all_time_peak),
        "daily_peak_ratio": grid.ratio(terms.mean_daily_peak, ref.mean_daily_peak),
        "ramping_ratio": grid.ratio(terms.ramping, ref.ramping),
        "objective": s.objective.name,
        "objective_value": grid.objective_value(
            weights, tokens_spent_ct, imp, net, s.dt_h, s.steps_per_day
        ),
    }


def savings_capture(c_none: float, c: float, c_optimal: float | None) -> float | None:
    """``(C_none - C) / (C_none - C_optimal)`` on the run's objective (tokens for ``cost``);
    ``None`` without a bound or when the bound saves nothing."""
    if c_optimal is None or c_none - c_optimal <= 1e-9 * max(1.0, abs(c_none)):
        return None
    return (c_none - c) / (c_none - c_optimal)
