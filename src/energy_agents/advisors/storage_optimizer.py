"""``storage_optimizer``: per storage, a setpoint for this step from a 24 h look-ahead LP on the
run's objective.

Method: a linear program (HiGHS, :mod:`energy_agents.optimize.planning`) over the next day of
steps on the forecast community net load (the demand forecaster's, or its method when the
forecast did not arrive), the known day-ahead and feed-in prices and the forecast carbon
intensity. The storages are pooled: the community storages into one, the homes' batteries
into another (which may discharge up to the community's load, reached through the local
market). The community exchanges the remaining net with the grid at the meter (P2P netting,
which the market gives). The LP minimizes the run's objective (``Observation.objective``:
tokens; carbon at a price; the ``citylearn2022`` score's terms, normalized by the no-control
run as estimated from history) with the tariff (``Observation.tariff``): the demand charge on
the period's peak above the peak so far, the connection limit (curtailment above the export
limit, the overrun price above the import limit). Energy left at the end of the look-ahead is
valued at what refilling it would cost (the cheapest price in the window, with its carbon,
over the charging efficiency), so the plan neither dumps nor hoards energy at its horizon.

The first step of the plan becomes a floor under ``storage_follow``, and the plan's import
for this step the procurement: the community storages, and the homes' batteries pooled
(``home_batteries_pooled``: together, through the local market), steer the community's
exchange toward that procurement, so they follow the plan exactly when the forecast is right
and absorb its errors when it is not (a higher load than forecast is covered from storage, so
the peak the plan chose holds). A planned discharge gives the floor ``-1`` (the pool may
cover whatever the target asks). Where the run pays for the shape of its exchange (a demand
charge, an import limit, an objective with peaks, ramping or the load factor:
:func:`~energy_agents.optimize.planning.shapes_the_exchange`) every floor is ``-1`` and the
target the planned net exchange, so that a forecast error is covered both ways. Otherwise a
plan that only charges now gives floor and target ``G``, its grid share of the charge
(:func:`grid_charge_floors`: the pools charge ``G`` and the surplus that really comes, never a
forecast error from the grid); with a planned discharge the other floors are ``0`` and the
target the procurement (no energy kept for dearer hours is spent on a forecast error).

EVs plugged in now are planned in the same LP, each as itself up to its departure (its required
energy then, :mod:`~energy_agents.optimize.ev_lp`); the plan's first step becomes the charger's
``ev_setpoints`` (a floor: with ``storage_follow`` the EV also soaks up its home's surplus).
The flexible appliances' waiting jobs start by the rule of :mod:`.appliances` on the same
forecast (``appliance_start``).

The thermal tanks are planned in the same LP too (:func:`~energy_agents.optimize.tank_lp.
observed_tank_storages`): each tank's discharge is bounded by the forecaster's thermal demand
of its use (``tank_demand_kwh``, or its method), so the plan pre-charges a tank before dearer
hours only by as much heat as those hours are forecast to take, with the standby loss and the
round trip in the balance; heat left at the horizon is worth its refill. The plan's first step
becomes the tank's ``thermal_setpoints`` (its planned heat flow as a fraction of the capacity
per hour); the tank's extra electricity is in the planned import, so the steering storages do
not cover it as a forecast error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..optimize.ev_lp import ev_setpoints, is_ev_key, observed_ev_storages
from ..optimize.lp import LPStorage, Track
from ..optimize.planning import (
    HorizonPlan,
    horizon_terms,
    plan_horizon,
    planning_weights,
    shapes_the_exchange,
)
from ..optimize.tank_lp import (
    is_tank_key,
    observed_tank_setpoints,
    observed_tank_storages,
    tank_terminal_value,
)
from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES
from . import appliances, demand_forecaster
from .types import Recommendation

NAME = "storage_optimizer"


def forecast_from(
    obs: Observation, forecast: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(load, pv) over the look-ahead: the forecaster's message, or its method if missing."""
    horizon = max(1, min(obs.steps_per_day, obs.n_steps - obs.step))
    if forecast is not None and "load_kwh" in forecast and "pv_kwh" in forecast:
        load = np.asarray(forecast["load_kwh"], dtype=float)[:horizon]
        pv = np.asarray(forecast["pv_kwh"], dtype=float)[:horizon]
        if load.size == horizon and pv.size == horizon:
            return load, pv
    return demand_forecaster.forecast(
        obs.hist_load_kwh, obs.hist_pv_kwh, obs.steps_per_day, horizon, obs.dt_h
    )


def storages_of(obs: Observation, load: np.ndarray) -> list[LPStorage]:
    """The community storages pooled into one storage and the homes' batteries pooled into
    another (each pool follows the procurement together; the homes' may discharge up to the
    community's load, which they reach through the local market)."""
    dt = obs.dt_h
    out = []
    community = [n for n in obs.storage_names if n != MEMBER_BATTERIES]
    groups = [("community", community, None)] if community else []
    if MEMBER_BATTERIES in obs.storage_names:
        groups.append((MEMBER_BATTERIES, [MEMBER_BATTERIES], np.maximum(load, 0.0)))
    for key, names, cap_kwh in groups:
        cap = sum(obs.storage_capacity_kwh[n] for n in names)
        eff = (
            sum(obs.storage_efficiency[n] * obs.storage_capacity_kwh[n] for n in names) / cap
            if cap > 0
            else 1.0
        )
        eta = float(np.sqrt(max(eff, 1e-6)))
        energy = sum(obs.storage_energy_kwh[n] for n in names)
        lo = sum(obs.storage_soc_min[n] * obs.storage_capacity_kwh[n] for n in names)
        hi = sum(obs.storage_soc_max[n] * obs.storage_capacity_kwh[n] for n in names)
        power = sum(obs.storage_power_kw[n] for n in names)
        track = Track(eta, eta, 1.0, min(lo, energy), max(hi, energy), energy)
        out.append(LPStorage(key, power * dt, (track,), power, cap_kwh))
    return out


def tank_demand_ahead(
    obs: Observation, forecast: Mapping[str, Any] | None, horizon: int
) -> np.ndarray:
    """Each tank's thermal demand ahead ``(n_tanks, horizon)``: the forecaster's, or its
    method when the forecast did not arrive (or lacks a tank)."""
    given = (forecast or {}).get("tank_demand_kwh")
    if isinstance(given, Mapping) and all(n in given for n in obs.tank_names):
        rows = [np.asarray(given[n], dtype=float)[:horizon] for n in obs.tank_names]
        if all(r.size == horizon for r in rows):
            return np.array(rows).reshape(len(rows), horizon)
    return demand_forecaster.thermal_forecast(
        obs.hist_tank_demand_kwh, obs.steps_per_day, horizon
    ).reshape(len(obs.tank_names), horizon)


def carbon_ahead(obs: Observation, forecast: Mapping[str, Any] | None, horizon: int) -> np.ndarray:
    """The carbon intensity ahead: the forecaster's, or its method (same time yesterday)."""
    if forecast is not None and "carbon_kg_per_kwh" in forecast:
        ci = np.asarray(forecast["carbon_kg_per_kwh"], dtype=float)[:horizon]
        if ci.size == horizon:
            return ci
    return demand_forecaster.carbon_forecast(obs, horizon)


def solve_plan(
    obs: Observation, forecast: Mapping[str, Any] | None, load: np.ndarray, pv: np.ndarray
) -> tuple[list[LPStorage], HorizonPlan]:
    """The look-ahead LP on the run's objective: (the pooled storages, the plan)."""
    horizon = load.size
    storages = storages_of(obs, load) + observed_ev_storages(obs, horizon)
    if obs.tank_names:
        storages += observed_tank_storages(obs, tank_demand_ahead(obs, forecast, horizon))
    buy = np.asarray(obs.price_day_ahead[:horizon], dtype=float)
    prices = (
        buy,
        np.asarray(obs.price_imbalance_buy[:horizon], dtype=float),
        np.asarray(obs.price_imbalance_sell[:horizon], dtype=float),
        np.asarray(obs.price_feed_in[:horizon], dtype=float),
    )
    # Netting at the meter: the plan buys its import ahead, so the imbalance prices do not
    # matter to it (the P2P market nets the members as the plan assumes).
    prices = (buy, buy, prices[3], prices[3])
    carbon = carbon_ahead(obs, forecast, horizon)
    weights = planning_weights(obs, load, pv, carbon)
    terms = horizon_terms(obs, weights, horizon)
    # Energy left at the horizon is worth what refilling it would cost in the same terms.
    refill = weights.tokens * float(buy.min()) + float(weights.import_carbon.min())
    # An EV's energy leaves with it: worth nothing to the community beyond its requirement.
    value = np.array(
        [
            0.0
            if is_ev_key(st.key)
            else tank_terminal_value(obs, st.key, refill)
            if is_tank_key(st.key)
            else refill / st.tracks[0].eta_charge
            for st in storages
        ]
    )
    plan = plan_horizon(load - pv, prices, storages, terms, value)
    return storages, plan


def advise(obs: Observation, forecast: Mapping[str, Any] | None = None) -> Recommendation:
    names = tuple(obs.storage_names)
    both_ways = shapes_the_exchange(obs)
    if (
        not names
        and not np.any(obs.ev_connected > 0)
        and not np.any(obs.appliance_waiting > 0)
        and not obs.tank_names
    ):
        return Recommendation(
            NAME, obs.step, "No storage to optimize. No action needed.", {}, 0.5, 0.0, {}
        )
    load, pv = forecast_from(obs, forecast)
    storages, plan = solve_plan(obs, forecast, load, pv)
    net0 = float(load[0] - pv[0])
    setpoints: dict[str, float] = {}
    schedule: dict[str, float] = {}
    parts = []
    ev_flows = {}
    tank_flows = {}
    for k, st in enumerate(storages):
        c, d = float(plan.charge_kwh[k, 0]), float(plan.discharge_kwh[k, 0])
        if is_ev_key(st.key):
            ev_flows[st.key] = c - d
            continue
        if is_tank_key(st.key):
            tank_flows[st.key] = c - d
            continue
        step_power = st.max_flow_kwh
        members = (
            [st.key] if st.key == MEMBER_BATTERIES else [n for n in names if n != MEMBER_BATTERIES]
        )
        for name in members:
            # A pooled plan shared in proportion to power (how ``split_pooled`` shares too).
            schedule[name] = (
                float(np.clip((c - d) / step_power, -1.0, 1.0)) if step_power > 0 else 0.0
            )
            setpoints[name] = -1.0 if d > 1e-6 or both_ways else 0.0
            soc = obs.storage_soc[name] * 100
            if c > max(-net0, 0.0) + 1e-6:
                parts.append(f"{name} undercharged ({soc:.2f}%). Recommend increasing charging.")
            elif d > 1e-6:
                parts.append(
                    f"{name} charged ({soc:.2f}%). Recommend discharging to cover the deficit."
                )
            elif c > 1e-6:
                parts.append(
                    f"{name} optimal ({soc:.2f}%). Store the surplus, hold for dearer hours."
                )
            else:
                parts.append(f"{name} optimal ({soc:.2f}%). No action needed.")
    # max(0, .): HiGHS may return a bound's value off by its tolerance (-1e-12 kWh).
    procurement = max(0.0, float(plan.import_kwh[0]))
    target = procurement - max(0.0, float(plan.export_kwh[0])) if both_ways else None
    floors = None if both_ways else grid_charge_floors(obs, storages, plan, net0)
    if floors is not None:
        floor_setpoints, target = floors
        setpoints.update(floor_setpoints)
    # Under the exact schedule nothing steers the exchange, so forecast errors reach the grid:
    # the newsvendor quantile of the import.
    errors = np.asarray((forecast or {}).get("one_step_error_kwh", []), dtype=float)
    tau = float((forecast or {}).get("newsvendor_tau", 0.5))
    schedule_procurement = demand_forecaster.procurement_kwh(procurement, errors, tau)
    return Recommendation(
        agent_name=NAME,
        step=obs.step,
        message=" | ".join(parts),
        levers={
            "storage_setpoints": setpoints,
            "storage_follow": True,
            "home_batteries_pooled": MEMBER_BATTERIES in names,
            "procurement_kwh": procurement,
            # Where the exchange's shape is priced, the pools steer to the planned net exchange
            # (a planned export included); otherwise to the planned grid charge (with a
            # charge-only plan: grid_charge_floors) or to the procurement, so a surplus the
            # plan would export when indifferent is stored instead.
            "exchange_target_kwh": target,
            "appliance_start": appliances.start_now(obs, load - pv),
            "ev_setpoints": ev_setpoints(
                ev_flows,
                tuple(obs.ev_names),
                np.asarray(obs.ev_charge_kw),
                np.asarray(obs.ev_discharge_kw),
                obs.dt_h,
            ),
            "thermal_setpoints": observed_tank_setpoints(obs, tank_flows),
        },
        confidence=0.8 if forecast is not None else 0.6,
        expected_saving_ct=energy_saving_ct(obs, plan, load - pv),
        data={
            "plan_import_kwh": plan.import_kwh.tolist(),
            "plan_export_kwh": plan.export_kwh.tolist(),
            "plan_flow_kwh": {
                st.key: (plan.charge_kwh[k] - plan.discharge_kwh[k]).tolist()
                for k, st in enumerate(storages)
            },
            "plan_objective": plan.objective,
            "lp_status": plan.status,
            "schedule_setpoints": schedule,  # exact schedule (storage_follow=False)
            "schedule_procurement_kwh": schedule_procurement,
            "needs_p2p": True,  # the pools steer through the local market
        },
    )


def grid_charge_floors(
    obs: Observation, storages: list[LPStorage], plan: HorizonPlan, net0: float
) -> tuple[dict[str, float], float] | None:
    """For a plan that pays for energy only and discharges no pool now: the pools' setpoint
    floors and the steering target under which they charge what the plan buys from the grid
    for them, ``G``, plus whatever surplus really comes (``None`` if a pool discharges now).

    Steering such pools to the plan's import would also charge every forecast error from the
    grid: a load lower than forecast (PV higher) becomes grid energy in the batteries, at the
    morning's prices, and takes the room the midday PV would have filled. With the floor ``G``
    and the target ``G`` a pool charges ``G + max(-net, 0)`` for the real net before it: the
    planned grid charge and the real surplus. The home batteries come first in the step (and
    in the floors), the community storages take what they cannot."""
    pools = [
        k for k, st in enumerate(storages) if not is_ev_key(st.key) and not is_tank_key(st.key)
    ]
    if not pools or any(float(plan.discharge_kwh[k, 0]) > 1e-6 for k in pools):
        return None
    # The plan's net before the pools: the forecast net and the EVs' and tanks' planned flows.
    others = sum(
        float(plan.charge_kwh[k, 0] - plan.discharge_kwh[k, 0])
        for k in range(len(storages))
        if k not in pools
    )
    charge = sum(float(plan.charge_kwh[k, 0]) for k in pools)
    grid_kwh = max(0.0, charge - max(0.0, -(net0 + others)))
    floors: dict[str, float] = {}
    left = grid_kwh
    for k in sorted(pools, key=lambda k: storages[k].key != MEMBER_BATTERIES):
        st = storages[k]
        take = min(left, st.max_flow_kwh)
        left -= take
        share = take / st.max_flow_kwh if st.max_flow_kwh > 0 else 0.0
        members = (
            [MEMBER_BATTERIES]
            if st.key == MEMBER_BATTERIES
            else [n for n in obs.storage_names if n != MEMBER_BATTERIES]
        )
        floors.update({name: share for name in members})
    return floors, grid_kwh


def energy_saving_ct(obs: Observation, plan: HorizonPlan, net: np.ndarray) -> float:
    """The plan's energy cost saving over the look-ahead against idle storages [CT]."""
    h = net.size
    buy = np.asarray(obs.price_day_ahead[:h], dtype=float)
    sell = np.asarray(obs.price_feed_in[:h], dtype=float)
    idle = float(buy @ np.maximum(net, 0.0) - sell @ np.maximum(-net, 0.0))
    planned = float(buy @ plan.import_kwh - sell @ plan.export_kwh)
    return max(0.0, idle - planned)
