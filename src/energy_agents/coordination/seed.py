"""``seed``: the seed's keyword-count rule (its README), over the current step's messages.

The seed's AI Manager counts five key terms in the agents' messages and picks one coordinated
action. Its README shows the counts and one action ("Increase token burn rate and adjust
procurement." for high_demand 5, deficit 6, surplus 9, undercharged 5, optimal 8). Our reading,
consistent with that example (5 + 6 > 9), and the other two actions:

1. demand pressure, ``high_demand + deficit > surplus``:
   "Increase token burn rate and adjust procurement."
2. otherwise, if there is any surplus or the storages are mostly undercharged
   (``surplus > 0`` or ``undercharged > optimal``): "Decrease token burn rate and charge storage."
3. otherwise: "Maintain current operations."

Counting: case-insensitive occurrences of "high demand", "deficit", "surplus",
"undercharged" and "optimal" in each message ("deficits" counts as "deficit"), summed over the
current step's messages only (the seed summed over its whole message history).

Mapped to levers (the seed names only burn rate, procurement and storage charging; it never
turns P2P on and has no discharge action), starting from the previous step's levers:

1. burn rate + 10% of the maximum; procurement = the demand forecaster's recommendation
   (yesterday's import at this hour when it is missing);
2. burn rate - 10% of the maximum; storages follow with a floor of 0 (absorb surplus, no
   discharge), and a floor of +0.5 (grid charging) when undercharged > optimal; procurement
   as in 1;
3. the previous levers, procurement as in 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..advisors.types import AGENT_NAMES, Recommendation
from ..sim.levers import Levers
from ..sim.observation import Observation
from .baseline import naive_procurement_kwh
from .types import Decision, make_decision

KEYWORDS = {
    "high_demand_count": "high demand",
    "deficit_count": "deficit",
    "surplus_count": "surplus",
    "undercharged_count": "undercharged",
    "optimal_count": "optimal",
}
ACTION_DEMAND = "Increase token burn rate and adjust procurement."
ACTION_CHARGE = "Decrease token burn rate and charge storage."
ACTION_MAINTAIN = "Maintain current operations."
BURN_STEP_SHARE = 0.1  # one notch of the burn rate, as a share of the maximum
GRID_CHARGE_FLOOR = 0.5


def count_keywords(messages: Iterable[str]) -> dict[str, int]:
    """The seed's ``details``: occurrences of its five key terms (case-insensitive)."""
    counts = dict.fromkeys(KEYWORDS, 0)
    for message in messages:
        text = str(message).lower()
        for key, term in KEYWORDS.items():
            counts[key] += text.count(term)
    return counts


def seed_action(counts: Mapping[str, int]) -> str:
    """One of the seed's three actions for the counts (see the module docstring)."""
    demand = counts["high_demand_count"] + counts["deficit_count"]
    if demand > counts["surplus_count"]:
        return ACTION_DEMAND
    if counts["surplus_count"] > 0 or counts["undercharged_count"] > counts["optimal_count"]:
        return ACTION_CHARGE
    return ACTION_MAINTAIN


def _procurement(obs: Observation | None, recs: Mapping[str, Recommendation]) -> float:
    rec = recs.get("demand_forecaster")
    if rec is not None and "procurement_kwh" in rec.levers:
        return max(0.0, float(rec.levers["procurement_kwh"]))
    return naive_procurement_kwh(obs) if obs is not None else 0.0


class SeedRule:
    name = "seed"
    uses_advisors = True

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        recs = {r.agent_name: r for r in recommendations}
        counts = count_keywords(r.message for r in recommendations)
        action = seed_action(counts)
        last = obs.last_levers if obs is not None and obs.last_levers is not None else Levers()
        max_burn = obs.max_burn_rate_ct_per_kwh if obs is not None else 1.0
        step = BURN_STEP_SHARE * max_burn
        names = obs.storage_names if obs is not None else tuple(last.storage_setpoints)
        q = _procurement(obs, recs)
        if action == ACTION_DEMAND:
            levers = replace(
                last,
                burn_rate_ct_per_kwh=min(max_burn, last.burn_rate_ct_per_kwh + step),
                procurement_kwh=q,
            )
            used: tuple[str, ...] = ("token_economist", "demand_forecaster", "grid_trader")
        elif action == ACTION_CHARGE:
            floor = (
                GRID_CHARGE_FLOOR if counts["undercharged_count"] > counts["optimal_count"] else 0.0
            )
            levers = replace(
                last,
                burn_rate_ct_per_kwh=max(0.0, last.burn_rate_ct_per_kwh - step),
                procurement_kwh=q,
                storage_setpoints=dict.fromkeys(names, floor),
                storage_follow=True,
            )
            used = ("storage_optimizer", "demand_forecaster", "p2p_trader")
        else:
            levers = replace(last, procurement_kwh=q)
            used = ("demand_forecaster",)
        present = [n for n in AGENT_NAMES if n in recs]
        decision = make_decision(
            self.name,
            obs,
            levers,
            action,
            details=counts,
            followed=[n for n in present if n in used],
            overridden=[n for n in present if n not in used],
            missing=[n for n in AGENT_NAMES if n not in recs],
            data={
                "rule": "high_demand + deficit > surplus -> demand; surplus or undercharged > optimal -> charge"
            },
        )
        return decision, dict(state)
