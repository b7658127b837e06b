"""``optimal``: the perfect-foresight plan, executed step by step in the simulator.

The strategy solves two LPs (one when they coincide) once, at construction (see
:mod:`energy_agents.optimize.lp`):

- the **bound** (``lp_lower_bound``): no strategy can spend less; reported on step 0 as
  ``decision.data["lp_bound_ct"]``; the compare command's ``C_optimal``;
- the **executable plan** (``executable_plan``): what the simulator can follow exactly, with
  every storage on a fixed schedule (``storage_follow=False``), P2P on (netting at the
  community meter), burn 0 and procurement equal to the planned import. The simulator shifts
  load only through burning CT, with an all-or-nothing release of the backlog, which a fixed
  plan cannot steer, so the executed plan shifts no load. Home batteries that are one storage
  up to scale (``lp.battery_groups``: the same efficiencies, C-rate, SOC bounds and start)
  share a setpoint (a fraction of each battery's own rated power): ``members`` if all of them
  are one group, each group's in ``battery_setpoints`` otherwise. Each EV charger follows its own
planned flow (``ev_setpoints``; the LP models every session exactly, :mod:`..optimize.ev_lp`);
each appliance job starts where the plan starts it (the bound may split a start over several
steps; the plan takes the largest share, ``lp.fix_job_starts``).

When the relaxation is tight (``relaxation_is_tight``: no flexible load, no appliance jobs,
the home batteries in exact groups) both LPs are the same and only the plan's is solved: its
optimum is the bound, and the executed run costs the bound up to solver tolerance. Otherwise
the gap ``plan_cost_ct - lp_bound_ct`` is reported beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..advisors.types import Recommendation
from ..optimize.ev_lp import ev_setpoints, is_ev_key
from ..optimize.lp import (
    BATTERY_GROUP_KEY,
    battery_groups,
    executable_plan,
    is_battery_group_key,
    lp_lower_bound,
    plan_setpoints,
    relaxation_is_tight,
)
from ..optimize.tank_lp import is_tank_key, tank_setpoints
from ..sim.levers import Levers
from ..sim.observation import Observation
from ..sim.params import Scenario
from .types import Decision, make_decision

NAME = "optimal"


class OptimalStrategy:
    """Replays the executable perfect-foresight plan; needs the scenario (it sees the future)."""

    name = NAME
    uses_advisors = False

    def __init__(self, scenario: Scenario | None) -> None:
        if scenario is None:
            raise ValueError(
                "strategy 'optimal': needs the whole scenario (perfect foresight); "
                "it cannot run live or without a scenario"
            )
        self.scenario = scenario
        self.tight = relaxation_is_tight(scenario)
        self.plan = executable_plan(scenario)
        # Tight: the bound's LP is the plan's, whose optimum (before the plan's own passes) is
        # the bound; solved once (on a 100-home year the LP takes minutes).
        self.bound = (
            dataclasses.replace(self.plan, cost_ct=self.plan.optimum_ct, relaxed=True)
            if self.tight
            else lp_lower_bound(scenario)
        )
        setpoints = plan_setpoints(self.plan, scenario.dt_h)
        self.setpoints = {k: v for k, v in setpoints.items() if not is_battery_group_key(k)}
        # Each group's setpoint, for each of its batteries: a member name -> its group's track.
        grouped = any(is_battery_group_key(k) for k in setpoints)
        groups = battery_groups(scenario.member_batteries) if grouped else []
        self.battery_setpoints = {
            scenario.member_names[i]: setpoints[f"{BATTERY_GROUP_KEY}{k}"]
            for k, idx in enumerate(groups)
            for i in idx
        }
        ev = scenario.evs
        flows = {k: v for k, v in self.plan.storage_flow_kwh.items() if is_ev_key(k)}
        self.ev_setpoints = (
            [
                ev_setpoints(
                    {k: float(v[t]) for k, v in flows.items()},
                    ev.names,
                    ev.charge_kw,
                    ev.discharge_kw,
                    scenario.dt_h,
                )
                for t in range(scenario.n_steps)
            ]
            if ev.n
            else None
        )

    def _tank_setpoints(self, t: int) -> dict[str, float]:
        tk = self.scenario.tanks
        if not tk.n:
            return {}
        flows = {k: float(v[t]) for k, v in self.plan.storage_flow_kwh.items() if is_tank_key(k)}
        return tank_setpoints(flows, tk, t, self.scenario.dt_h)

    def _appliance_start(self, t: int) -> dict[str, bool]:
        """Each appliance starts the job the plan starts now, and waits otherwise."""
        ap = self.scenario.flexible_appliances
        if not ap.n:
            return {}
        now = set(ap.job_appliance[self.plan.job_start == t].tolist())
        return {name: a in now for a, name in enumerate(ap.names)}

    def levers(self, t: int) -> Levers:
        return Levers(
            burn_rate_ct_per_kwh=0.0,
            procurement_kwh=float(max(self.plan.procurement_kwh[t], 0.0)),
            storage_setpoints={k: float(v[t]) for k, v in self.setpoints.items()},
            storage_follow=False,
            p2p_enabled=True,
            battery_setpoints={n: float(v[t]) for n, v in self.battery_setpoints.items()},
            ev_setpoints=self.ev_setpoints[t] if self.ev_setpoints else {},
            appliance_start=self._appliance_start(t),
            thermal_setpoints=self._tank_setpoints(t),
        )

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        if obs is None:
            raise ValueError("strategy 'optimal': needs an observation (the step to replay)")
        if obs.n_steps != self.scenario.n_steps:
            raise ValueError(
                f"strategy 'optimal': planned {self.scenario.n_steps} steps, "
                f"the simulation has {obs.n_steps}"
            )
        t = min(obs.step, self.scenario.n_steps - 1)
        data: dict[str, Any] = {}
        if obs.step == 0:
            data = {
                "lp_bound_ct": self.bound.cost_ct,
                "lp_solve_s": self.bound.solve_s,
                "lp_build_s": self.bound.build_s,
                "plan_cost_ct": self.plan.cost_ct,
                "plan_solve_s": self.plan.solve_s,
                "relaxation_tight": self.tight,
            }
        decision = make_decision(
            self.name, obs, self.levers(t), "Follow the perfect-foresight plan.", data=data
        )
        return decision, dict(state)
