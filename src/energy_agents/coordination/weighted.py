"""``weighted``: per lever, a confidence- and track-record-weighted combination of the advice.

Weight of advisor ``a`` on lever ``l``: ``AUTHORITY[l][a] * confidence_a * track_a``.

- ``AUTHORITY`` is a fixed prior: who has the information for the lever (the storage optimizer
  sees SOC, forecasts and prices and plans a day ahead; the grid trader sees prices only; the
  forecaster knows the load but not the storage plan).
- ``track_a`` is the advisor's record on procurement, the one lever whose outcome each next
  observation reveals directly: an exponentially smoothed absolute error of its proposed
  procurement against the realized import, turned into ``1 / (1 + error / mean import)``.
  It lives in the strategy state (JSON), never on the object.

Levers:

- **storage** (``storage_setpoints``, ``storage_follow``, and for community storages the
  procurement they steer to): the storage optimizer and the grid trader both speak. Storages
  always run with ``storage_follow`` (their setpoint is a floor, see ``sim/storage.dispatch``).
  Conflict resolution per storage: if both advise the same direction (both floors >= 0 or both
  <= 0) the floor is their weighted mean; if they disagree (one charges, the other discharges)
  the advisor with the larger weight wins outright, the other is listed as overridden.
  Community storages steer the community's exchange toward ``procurement_kwh`` when P2P is on,
  so their setpoint and the procurement are one decision: the procurement comes from the same
  advisor that won the community storages.
- **procurement** without community storages: the weighted mean of the advisors' proposals
  (storage optimizer, grid trader, demand forecaster).
- Then the **token economist's** expected shift of this step's import (deferral lowers it, a
  released backlog raises it) is added to the procurement, and its burn rate is taken as is
  (it is the only advisor on that lever).
- **P2P**: the P2P trader's on/off and price rule.
- **EV chargers** (``ev_setpoints``), **appliances** (``appliance_start``) and **thermal
  tanks** (``thermal_setpoints``): the storage optimizer's, the only advisor that plans them
  (without it the tanks stay idle).

Fallbacks (an advisor is *missing* when its recommendation is absent or was made for another
step, i.e. late): no storage advice -> every storage follows with floor -1 (plain
self-consumption, the safe default); no procurement advice -> yesterday's import at this hour
(the ``none`` rule) plus the expected shift; no token economist -> burn 0 (burning can only
cost CT without a plan); no storage optimizer -> EVs charge uncontrolled; no P2P trader -> P2P on with ``midpoint`` (the market never raises the
community's cost, and community storages need it to follow); no forecaster -> the other
advisors run its method themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..advisors.types import AGENT_NAMES, Recommendation
from ..sim.levers import P2P_PRICE_RULES, Levers
from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES
from .baseline import naive_procurement_kwh
from .seed import count_keywords
from .types import Decision, make_decision

STORAGE_ADVISORS = ("storage_optimizer", "grid_trader")
PROCUREMENT_ADVISORS = ("storage_optimizer", "grid_trader", "demand_forecaster")
AUTHORITY: dict[str, dict[str, float]] = {
    "storage": {"storage_optimizer": 1.0, "grid_trader": 0.4},
    "procurement": {"storage_optimizer": 1.0, "grid_trader": 0.4, "demand_forecaster": 0.7},
}
TRACK_SMOOTHING = 0.05  # weight of the newest error in the exponentially smoothed record


@dataclass
class Combination:
    """The levers chosen and who was followed/overridden/missing (internal)."""

    levers: Levers
    followed: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def current(
    recommendations: Sequence[Recommendation], obs: Observation | None
) -> dict[str, Recommendation]:
    """This step's recommendations by agent; late ones (another step) are dropped."""
    out: dict[str, Recommendation] = {}
    for r in recommendations:
        if obs is not None and r.step != obs.step:
            continue
        out[r.agent_name] = r
    return out


def update_track(state: Mapping[str, Any], obs: Observation | None) -> dict[str, Any]:
    """Score last step's procurement proposals against the import the observation reveals."""
    track = {k: dict(v) for k, v in dict(state.get("track", {})).items()}
    pending = state.get("pending_procurement")
    if (
        obs is None
        or not pending
        or obs.hist_import_kwh.size == 0
        or state.get("pending_step") != obs.step - 1
    ):
        return track
    realized = float(obs.hist_import_kwh[-1])
    for name, q in dict(pending).items():
        rec = track.setdefault(name, {"err": 0.0, "n": 0})
        a = max(TRACK_SMOOTHING, 1.0 / (rec["n"] + 1))
        rec["err"] = (1 - a) * rec["err"] + a * abs(float(q) - realized)
        rec["n"] = rec["n"] + 1
    scale = track.setdefault("_scale", {"err": 0.0, "n": 0})
    a = max(TRACK_SMOOTHING, 1.0 / (scale["n"] + 1))
    scale["err"] = (1 - a) * scale["err"] + a * realized
    scale["n"] = scale["n"] + 1
    return track


def track_score(track: Mapping[str, Any], name: str) -> float:
    """``1 / (1 + smoothed error / smoothed import)``; 1 without a record."""
    rec = track.get(name)
    scale = float(track.get("_scale", {}).get("err", 0.0))
    if not rec or rec.get("n", 0) == 0 or scale <= 1e-9:
        return 1.0
    return 1.0 / (1.0 + float(rec["err"]) / scale)


def _same_direction(a: float, b: float) -> bool:
    return (a >= 0 and b >= 0) or (a <= 0 and b <= 0)


def combine(
    obs: Observation | None,
    recs: Mapping[str, Recommendation],
    weight: Mapping[str, Mapping[str, float]],
) -> Combination:
    """The lever rules of the module docstring, for given per-lever advisor weights
    (``weight[lever][advisor]``, lever in ``storage``/``procurement``)."""
    out = Combination(Levers())
    out.missing = [n for n in AGENT_NAMES if n not in recs]
    followed: set[str] = set()
    overridden: set[str] = set()
    names = tuple(obs.storage_names) if obs is not None else ()
    community = [n for n in names if n != MEMBER_BATTERIES]

    # --- storages
    proposals = {
        a: dict(recs[a].levers.get("storage_setpoints", {}))
        for a in STORAGE_ADVISORS
        if a in recs and "storage_setpoints" in recs[a].levers
    }
    setpoints: dict[str, float] = {}
    steering_winner: str | None = None
    pooled = False
    for name in names:
        cands = {a: float(sp[name]) for a, sp in proposals.items() if name in sp}
        if not cands:
            setpoints[name] = -1.0  # fallback: self-consumption
            continue
        w = {a: float(weight["storage"].get(a, 0.0)) for a in cands}
        values = list(cands.values())
        best = max(cands, key=lambda a: (w[a], a == "storage_optimizer"))
        pools = name == MEMBER_BATTERIES and bool(
            recs[best].levers.get("home_batteries_pooled", False)
        )
        if name != MEMBER_BATTERIES or pools:
            # Storages that steer the exchange toward the procurement (community storages,
            # pooled home batteries): one advisor's (setpoint, procurement) pair, never a blend.
            setpoints[name] = cands[best]
            steering_winner = best
            pooled = pooled or pools
            followed.add(best)
            overridden.update(a for a in cands if a != best and cands[a] != cands[best])
        elif len(cands) == 1 or all(_same_direction(values[0], v) for v in values[1:]):
            tot = sum(w.values())
            setpoints[name] = sum(w[a] * cands[a] for a in cands) / tot if tot > 0 else cands[best]
            followed.update(cands)
        else:
            setpoints[name] = cands[best]
            followed.add(best)
            overridden.update(a for a in cands if a != best)
    out.notes["community_storage_from"] = steering_winner
    steered = bool(community) or pooled

    # --- procurement
    q_props = {
        a: float(recs[a].levers["procurement_kwh"])
        for a in PROCUREMENT_ADVISORS
        if a in recs and "procurement_kwh" in recs[a].levers
    }
    out.notes["procurement_proposals"] = q_props
    target = None
    if steered and steering_winner is not None and steering_winner in q_props:
        q = q_props[steering_winner]
        raw = recs[steering_winner].levers.get("exchange_target_kwh")
        target = None if raw is None else float(raw)
        overridden.update(a for a in q_props if a != steering_winner and abs(q_props[a] - q) > 1e-9)
    elif q_props:
        w = {a: float(weight["procurement"].get(a, 0.0)) for a in q_props}
        tot = sum(w.values())
        q = sum(w[a] * q_props[a] for a in q_props) / tot if tot > 0 else max(q_props.values())
        followed.update(a for a in q_props if w[a] > 0)
    else:
        q = naive_procurement_kwh(obs) if obs is not None else 0.0

    # --- demand response
    burn = 0.0
    te = recs.get("token_economist")
    if te is not None:
        burn = max(0.0, float(te.levers.get("burn_rate_ct_per_kwh", 0.0)))
        shift = float(te.data.get("expected_shift_kwh", 0.0))
        budget = _peak_budget(obs, q if target is None else target)
        q = min(q + shift, max(q, budget))
        target = None if target is None else min(target + shift, max(target, budget))
        followed.add("token_economist")

    # --- the connection limit: no advice plans an import above it (the steering storages then
    # cover the rest where they hold energy)
    if obs is not None and obs.tariff.get("import_limit_kw") is not None:
        limit = float(obs.tariff["import_limit_kw"]) * obs.dt_h
        if q > limit:
            q = limit
            out.notes["import_capped_at_limit"] = True
        target = None if target is None else min(target, limit)

    # --- P2P
    p2p = recs.get("p2p_trader")
    if p2p is not None:
        enabled = bool(p2p.levers.get("p2p_enabled", True))
        rule = str(p2p.levers.get("p2p_price_rule", "midpoint"))
        rule = rule if rule in P2P_PRICE_RULES else "midpoint"
        if steered and not enabled:
            enabled = True  # the steering storages follow through the market only
            overridden.add("p2p_trader")
        else:
            followed.add("p2p_trader")
    else:
        enabled, rule = True, "midpoint"
    if "demand_forecaster" in recs and "demand_forecaster" not in overridden:
        followed.add("demand_forecaster")

    # --- EV chargers: only the storage optimizer plans them; without it they charge
    # uncontrolled (no setpoint), which always meets the departures
    so = recs.get("storage_optimizer")
    ev_sp = (
        {str(k): float(v) for k, v in dict(so.levers.get("ev_setpoints", {})).items()} if so else {}
    )

    tanks = (
        {str(k): float(v) for k, v in dict(so.levers.get("thermal_setpoints", {})).items()}
        if so
        else {}
    )

    starts = (
        {str(k): bool(v) for k, v in dict(so.levers.get("appliance_start", {})).items()}
        if so
        else {}
    )

    out.levers = Levers(
        ev_setpoints=ev_sp,
        appliance_start=starts,
        thermal_setpoints=tanks,
        burn_rate_ct_per_kwh=burn,
        procurement_kwh=max(0.0, q),
        storage_setpoints=setpoints,
        storage_follow=True,
        p2p_enabled=enabled,
        p2p_price_rule=rule,
        home_batteries_pooled=pooled,
        exchange_target_kwh=target,
    )
    out.overridden = sorted(overridden)
    out.followed = sorted(followed - overridden)
    return out


def _peak_budget(obs: Observation | None, planned_kwh: float) -> float:
    """How far a released backlog may raise the planned import: up to the demand-charge
    period's peak so far (beyond it the steering storages cover it), unlimited without a
    demand charge."""
    if obs is None or not float(obs.tariff.get("demand_charge_ct_per_kw", 0.0) or 0.0) > 0:
        return float("inf")
    return max(planned_kwh, float(obs.period_peak_import_kw) * obs.dt_h)


def action_text(levers: Levers, counts: Mapping[str, int]) -> str:
    """A seed-style sentence for the levers chosen."""
    parts = []
    if levers.burn_rate_ct_per_kwh > 0:
        parts.append("Increase token burn rate")
    charging = [n for n, v in levers.storage_setpoints.items() if v > 0]
    if charging:
        parts.append("charge storage from the grid")
    parts.append("adjust procurement")
    if levers.p2p_enabled:
        parts.append("trade surplus locally")
    text = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return text[0].upper() + text[1:] + "."


def decision_from(
    strategy: str,
    obs: Observation | None,
    recommendations: Sequence[Recommendation],
    comb: Combination,
    data: Mapping[str, Any],
) -> Decision:
    counts = count_keywords(r.message for r in recommendations)
    return make_decision(
        strategy,
        obs,
        comb.levers,
        action_text(comb.levers, counts),
        details=counts,
        followed=comb.followed,
        overridden=comb.overridden,
        missing=comb.missing,
        data={**comb.notes, **data},
    )


def pending_state(obs: Observation | None, comb: Combination) -> dict[str, Any]:
    return {
        "pending_step": obs.step if obs is not None else None,
        "pending_procurement": comb.notes.get("procurement_proposals", {}),
    }


def advisor_weights(
    recs: Mapping[str, Recommendation], track: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """Per lever, each advisor's weight: authority prior x its confidence x its track record
    (0 for an advisor that did not answer)."""
    return {
        lever: {
            a: prior * (recs[a].confidence if a in recs else 0.0) * track_score(track, a)
            for a, prior in table.items()
        }
        for lever, table in AUTHORITY.items()
    }


class Weighted:
    name = "weighted"
    uses_advisors = True

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        recs = current(recommendations, obs)
        track = update_track(state, obs)
        weight = advisor_weights(recs, track)
        comb = combine(obs, recs, weight)
        decision = decision_from(self.name, obs, recommendations, comb, {"weights": weight})
        return decision, {"track": track, **pending_state(obs, comb)}
