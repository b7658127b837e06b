"""``mpc``: rolling-horizon optimization over forecasts, no peeking.

At every step the strategy solves the dispatch LP of :mod:`energy_agents.optimize.rolling` over
the next ``horizon`` steps (default one day) from what the :class:`Observation` holds: the
storages' present energy, the known prices ahead (the observation carries one day; beyond it
the day's prices repeat) and a forecast of the community's load and PV: the
``demand_forecaster``'s (``data["load_kwh"]``, ``data["pv_kwh"]``) when its recommendation is
given, otherwise a seasonal mean of the same time of day over the last up to 7 days. Only the
first step is applied, and with ``storage_follow=True``, so local control absorbs forecast
errors (docs/optimize.md):

- **home batteries**: the setpoint is a floor, and the plan picks one of three modes. A planned
  discharge becomes ``-1`` (full self-consumption: each home covers its whole own deficit, which
  the plan, pooled and on a forecast, tends to underestimate); a planned charge becomes a floor
  only for the part the forecast surplus does not cover (grid charging), since following already
  stores every home's surplus; otherwise 0 (charge-only: hold the energy for later).
- **community storages**: floor -1, so they steer the community's import toward the
  procurement, which is the planned import: with an exact forecast that is the planned flow,
  and a forecast error is absorbed instead of being bought or sold at imbalance prices.
- **procurement**: the planned import, plus the forecaster's newsvendor correction (the
  ``tau = (p_ib - p_da) / (p_ib - p_is)`` quantile of its recent one-step errors) when no
  community storage can absorb the error.

- **thermal tanks**: planned in the same LP on the forecaster's thermal demand (or its method
  on the observation's history), as the storage optimizer does; a planned charge is the
  tank's setpoint, a planned discharge ``-1`` (:func:`~energy_agents.optimize.tank_lp.
  observed_tank_setpoints`).

The LP has no load shifting (the simulator shifts load only through burning CT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..advisors import appliances
from ..advisors.demand_forecaster import thermal_forecast
from ..advisors.types import FORECASTER, Recommendation
from ..optimize.ev_lp import ev_setpoints, is_ev_key
from ..optimize.planning import shapes_the_exchange
from ..optimize.rolling import RollingPlan, RollingPlanner, extend_daily, seasonal_forecast
from ..optimize.tank_lp import is_tank_key, observed_tank_setpoints
from ..sim.levers import Levers
from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES, Scenario
from .types import Decision, make_decision

NAME = "mpc"


def tank_demand_for(obs: Observation, fdata: Mapping[str, Any] | None, h: int) -> np.ndarray:
    """Each tank's thermal demand ahead ``(n_tanks, h)``: the forecaster's when it answered
    with every tank, else its method on the observation's history."""
    n, spd = len(obs.tank_names), obs.steps_per_day
    given = (fdata or {}).get("tank_demand_kwh")
    if isinstance(given, Mapping) and all(name in given for name in obs.tank_names):
        rows = [
            extend_daily(np.asarray(given[name], dtype=float), spd, h) for name in obs.tank_names
        ]
        return np.array(rows).reshape(n, h)
    day = thermal_forecast(obs.hist_tank_demand_kwh, spd, min(h, spd))
    return np.array([extend_daily(row, spd, h) for row in day]).reshape(n, h)


def forecast_for(
    obs: Observation, recommendations: Sequence[Recommendation], h: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, Mapping[str, Any] | None]:
    """(load, pv, carbon intensity, source, forecaster data) over ``h`` steps: the
    forecaster's when it answered, else the seasonal mean."""
    spd = obs.steps_per_day
    carbon = seasonal_forecast(np.asarray(obs.hist_carbon_kg_per_kwh), spd, h)
    for rec in recommendations:
        if rec.agent_name == FORECASTER and "load_kwh" in rec.data and "pv_kwh" in rec.data:
            load = extend_daily(np.asarray(rec.data["load_kwh"], dtype=float), spd, h)
            pv = extend_daily(np.asarray(rec.data["pv_kwh"], dtype=float), spd, h)
            return load, pv, carbon, FORECASTER, rec.data
    load = seasonal_forecast(np.asarray(obs.hist_load_kwh), spd, h)
    pv = seasonal_forecast(np.asarray(obs.hist_pv_kwh), spd, h)
    return load, pv, carbon, "seasonal", None


class MPCStrategy:
    """Rolling-horizon LP on forecasts; see the module docstring."""

    name = NAME

    def __init__(
        self,
        scenario: Scenario | None = None,
        horizon: int | None = None,
        terminal_value: bool = True,
        follow: bool = True,
        use_forecaster: bool = False,
        pooled: bool = True,
    ) -> None:
        self.planner = RollingPlanner(scenario, horizon, terminal_value)
        self.follow = follow
        self.pooled = pooled
        # The batch loop computes the five advisors' recommendations only for strategies that
        # use them; the forecast in a given demand_forecaster recommendation is read either way.
        self.uses_advisors = use_forecaster

    def levers(
        self,
        obs: Observation,
        plan: RollingPlan,
        forecast_data: Mapping[str, Any] | None,
        net_ahead_kwh: np.ndarray | None = None,
    ) -> Levers:
        dt = obs.dt_h
        surplus = max(-plan.net_kwh, 0.0)  # forecast surplus the homes will store
        both_ways = shapes_the_exchange(obs)
        setpoints: dict[str, float] = {}
        for key, flow in plan.flows_kwh.items():
            if is_ev_key(key) or is_tank_key(key):
                continue  # below: ev_setpoints, thermal_setpoints
            p = float(plan.power_kw.get(key, 0.0)) * dt
            if p <= 0:
                setpoints[key] = 0.0
            elif not self.follow:
                setpoints[key] = float(np.clip(flow / p, -1.0, 1.0))
            elif key != MEMBER_BATTERIES or flow < -1e-9 or (self.pooled and both_ways):
                # community storages steer the import to the procurement; pooled home
                # batteries too where the run pays for the exchange's shape; homes on their
                # own self-consume
                setpoints[key] = -1.0
            elif self.pooled:
                setpoints[key] = 0.0  # the procurement target drives the planned charge
            else:
                setpoints[key] = min(max(flow - surplus, 0.0) / p, 1.0)
        q = plan.import_kwh
        steered = plan.has_community_storage or (self.pooled and MEMBER_BATTERIES in setpoints)
        if not steered and forecast_data is not None:
            errors = np.asarray(forecast_data.get("one_step_error_kwh", ()), dtype=float)
            tau = float(forecast_data.get("newsvendor_tau", 0.5))
            if errors.size >= 6:
                q += float(np.quantile(errors, tau))
        chargers = ev_setpoints(
            plan.flows_kwh,
            tuple(obs.ev_names),
            np.asarray(obs.ev_charge_kw),
            np.asarray(obs.ev_discharge_kw),
            dt,
        )
        return Levers(
            ev_setpoints=chargers,
            appliance_start=appliances.start_now(
                obs, np.full(plan.horizon, plan.net_kwh) if net_ahead_kwh is None else net_ahead_kwh
            )
            if obs.appliance_names
            else {},
            burn_rate_ct_per_kwh=0.0,
            procurement_kwh=max(q, 0.0),
            storage_setpoints=setpoints,
            storage_follow=self.follow,
            thermal_setpoints=observed_tank_setpoints(obs, plan.flows_kwh),
            p2p_enabled=True,
            home_batteries_pooled=self.pooled,
            exchange_target_kwh=plan.import_kwh - plan.export_kwh
            if steered and both_ways
            else None,
        )

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        if obs is None:
            raise ValueError("strategy 'mpc': needs an observation")
        h = self.planner.horizon_for(obs)
        load, pv, carbon, source, fdata = forecast_for(obs, recommendations, h)
        tanks = tank_demand_for(obs, fdata, h) if obs.tank_names else None
        plan = self.planner.plan(obs, load, pv, carbon, tanks)
        used = (FORECASTER,) if source == FORECASTER else ()
        decision = make_decision(
            self.name,
            obs,
            self.levers(obs, plan, fdata, np.asarray(load) - np.asarray(pv)),
            "Follow the rolling-horizon plan.",
            followed=used,
            missing=() if used else (FORECASTER,),
            data={
                "plan_import_kwh": plan.import_kwh,
                "plan_export_kwh": plan.export_kwh,
                "horizon_steps": plan.horizon,
                "forecast": source,
            },
        )
        return decision, dict(state)
