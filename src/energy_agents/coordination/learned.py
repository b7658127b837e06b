"""``learned``: weights learned online from realized outcomes (never from the future).

Each step the advice is assembled into a few coherent candidate decisions ("arms"):

- ``follow``: the ``weighted`` combination (the community storages and the pooled home
  batteries steer the exchange to the planned procurement; see :mod:`.weighted`);
- ``follow_no_burn``: the same without the token economist's burn (demand response is worth
  its CT only when the storages cannot shift the energy as well; the replay tells);
- ``schedule``: the storage optimizer's plan executed as an exact schedule (``storage_follow``
  off: home batteries then serve neighbours through the P2P market; forecast errors go to the
  grid at the newsvendor procurement);
- ``self_consumption``: every storage covers its own home's or the community's residual
  (floor -1, home batteries not pooled) with the forecaster's procurement (the fallback that
  needs no plan).

All arms but ``follow_no_burn`` share the token economist's burn rate, and all the P2P
trader's market advice.

Learning: the observation at the end of a day reveals that day's members' load and PV
(``member_hist_*``: the demand before any deferral). Every arm's recorded levers of the day
are replayed on those realized values with the simulator's own functions (demand response,
home batteries, the market, the storages), from the storage energies and the backlog observed
at the start of the day, each arm carrying its own counterfactual state from step to step. An
arm's cost is its grid cost plus the CT it burned, minus the stored energy it gained by the
day's end, valued at its replacement cost (the cheapest day-ahead price over the charging
efficiency, the storage optimizer's terminal value), plus any backlog still to serve. Its
regret is its cost minus the best arm's; regrets accumulate with exponential forgetting
(half-life one week), and the weights are ``exp(-ETA * regret / typical week's cost)``
normalized (Hedge). The decision follows the arm with the largest weight, with hysteresis
(:func:`choose`). Everything the learning needs (regrets, weights, the day's records and the
storage energies and backlog at its start) travels in the JSON state.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..advisors.types import AGENT_NAMES, Recommendation
from ..optimize.planning import observed_tariff, planning_weights
from ..sim import market, storage
from ..sim.community import demand_response, home_battery_flow
from ..sim.levers import Levers
from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES, StorageBank
from .baseline import naive_procurement_kwh
from .types import Decision
from .weighted import (
    Combination,
    advisor_weights,
    combine,
    current,
    decision_from,
    pending_state,
    update_track,
)

ARMS = ("follow", "follow_no_burn", "schedule", "self_consumption")
Energies = tuple[np.ndarray, np.ndarray, np.ndarray]  # home batteries, community storages, backlog
Demand = tuple[np.ndarray, float]  # flexible share per member, elasticity
HALF_LIFE_STEPS = 168.0
ETA = 2.0
SWITCH_MARGIN = 1.0  # regret lead (in typical-week units) another arm needs to take over


def _arms(
    obs: Observation | None,
    recs: Mapping[str, Recommendation],
    weight: Mapping[str, Mapping[str, float]],
    base: Combination,
) -> dict[str, Levers]:
    """The candidate decisions for this step (see the module docstring)."""
    arms = {"follow": base.levers}
    te = recs.get("token_economist")
    shift = float(te.data.get("expected_shift_kwh", 0.0)) if te is not None else 0.0
    if te is not None and base.levers.burn_rate_ct_per_kwh > 0 and obs is not None:
        # The same combination without the burn: the backlog is released now instead.
        released = float(obs.backlog_kwh.sum())
        no_burn = replace(
            te, levers={"burn_rate_ct_per_kwh": 0.0}, data={"expected_shift_kwh": released}
        )
        arms["follow_no_burn"] = combine(obs, {**recs, te.agent_name: no_burn}, weight).levers
    else:
        arms["follow_no_burn"] = base.levers
    names = tuple(obs.storage_names) if obs is not None else ()
    so = recs.get("storage_optimizer")
    if so is not None and "schedule_setpoints" in so.data:
        sp = {n: float(v) for n, v in dict(so.data["schedule_setpoints"]).items() if n in names}
        q = float(so.data.get("schedule_procurement_kwh", so.levers.get("procurement_kwh", 0.0)))
        arms["schedule"] = replace(
            base.levers,
            storage_setpoints=sp,
            storage_follow=False,
            procurement_kwh=max(0.0, q + shift),
        )
    fc = recs.get("demand_forecaster")
    if fc is not None and "procurement_kwh" in fc.levers:
        q = float(fc.levers["procurement_kwh"])
    else:
        q = naive_procurement_kwh(obs) if obs is not None else 0.0
    arms["self_consumption"] = replace(
        base.levers,
        storage_setpoints=dict.fromkeys(names, -1.0),
        storage_follow=True,
        home_batteries_pooled=False,
        procurement_kwh=max(0.0, q + shift),
    )
    return arms


def _snapshot(obs: Observation) -> dict[str, Any]:
    """What replaying step ``obs.step`` needs besides the realized load and PV."""
    names = [n for n in obs.storage_names if n != MEMBER_BATTERIES]
    window_min = float(np.min(obs.price_day_ahead)) if obs.price_day_ahead.size else 0.0
    return {
        "dt_h": obs.dt_h,
        "prices": [
            float(obs.price_day_ahead[0]),
            float(obs.price_imbalance_buy[0]),
            float(obs.price_imbalance_sell[0]),
            float(obs.price_feed_in[0]),
        ],
        "window_min_price": window_min,
        "step": obs.step,
        "steps_per_day": obs.steps_per_day,
        "n_steps": obs.n_steps,
        "backlog": obs.backlog_kwh.tolist(),
        "flexible_share": obs.flexible_share.tolist(),
        "elasticity": float(obs.elasticity),
        "member_energy": (obs.member_soc * obs.member_battery_capacity_kwh).tolist(),
        "member_capacity": obs.member_battery_capacity_kwh.tolist(),
        "member_power": obs.member_battery_power_kw.tolist(),
        "member_eff": float(obs.storage_efficiency.get(MEMBER_BATTERIES, 1.0)),
        "member_soc_min": float(obs.storage_soc_min.get(MEMBER_BATTERIES, 0.0)),
        "member_soc_max": float(obs.storage_soc_max.get(MEMBER_BATTERIES, 1.0)),
        "grid": _grid_snapshot(obs),
        "community": {
            n: [
                obs.storage_energy_kwh[n],
                obs.storage_capacity_kwh[n],
                obs.storage_power_kw[n],
                obs.storage_efficiency[n],
                obs.storage_soc_min[n],
                obs.storage_soc_max[n],
            ]
            for n in names
        },
    }


def _grid_snapshot(obs: Observation) -> dict[str, float | None]:
    """The tariff and the objective's weights (as estimated at the window's start) that price
    a replayed day beyond its energy cost, and the peaks and net it starts from."""
    tariff = observed_tariff(obs)
    h = max(1, obs.steps_per_day)
    ones = np.ones(h)
    load, pv = np.asarray(obs.hist_load_kwh[-h:]), np.asarray(obs.hist_pv_kwh[-h:])
    if load.size < h:  # the first steps: the reference estimate uses what there is
        load, pv = np.full(h, float(load.mean()) if load.size else 0.0), np.zeros(h)
    w = planning_weights(obs, load, pv, ones)  # import_carbon: the weight per kg CO2
    hist_net = np.asarray(obs.hist_net_kwh)
    return {
        "tokens": w.tokens,
        "carbon_per_kg": float(w.import_carbon[0]),
        "ramping": w.ramping,
        "daily_peak": w.daily_peak,
        "block_peak": float(w.block_peak[-1]) if w.block_peak.size else 0.0,
        "net": float(w.net[0]) if w.net.size else 0.0,
        "import_limit_kwh": tariff.import_limit_kw * obs.dt_h,
        "export_limit_kwh": tariff.export_limit_kw * obs.dt_h,
        "overrun": tariff.overrun_ct_per_kwh,
        "demand_charge_per_kw": tariff.demand_charge_ct_per_kw,
        "period_peak_kw": float(obs.period_peak_import_kw),
        "block_peak_net_kwh": obs.block_peak_net_kwh,
        "start_net_kwh": float(hist_net[-1]) if hist_net.size else None,
    }


def _bank(
    names: tuple[str, ...], cap: Any, power: Any, eff: Any, smin: Any, smax: Any
) -> StorageBank:
    eta = np.sqrt(np.clip(np.asarray(eff, dtype=float), 1e-6, 1.0))
    cap = np.asarray(cap, dtype=float)
    energy_lo = np.asarray(smin, dtype=float)
    return StorageBank(
        names,
        cap,
        np.asarray(power, dtype=float),
        eta,
        eta.copy(),
        energy_lo,
        np.asarray(smax, dtype=float),
        energy_lo.copy(),
    )


def replay_banks(snap: Mapping[str, Any]) -> tuple[StorageBank | None, StorageBank | None]:
    """The home batteries and community storages of a snapshot (built once per step)."""
    cap = np.asarray(snap["member_capacity"], dtype=float)
    n = cap.size
    members = None
    if n and np.any(cap > 0):
        members = _bank(
            tuple(str(i) for i in range(n)),
            cap,
            snap["member_power"],
            np.full(n, float(snap["member_eff"])),
            np.full(n, float(snap["member_soc_min"])),
            np.full(n, float(snap["member_soc_max"])),
        )
    comm = dict(snap["community"])
    community = None
    if comm:
        rows = np.array([comm[k] for k in comm], dtype=float)
        community = _bank(tuple(comm), rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5])
    return members, community


def replay_step(
    levers: Levers,
    prices: Sequence[float],
    dt: float,
    banks: tuple[StorageBank | None, StorageBank | None],
    energies: Energies,
    load: np.ndarray,
    pv: np.ndarray,
    demand: Demand,
    day_end: bool,
    limits: tuple[float, float, float] = (math.inf, math.inf, 0.0),
) -> tuple[float, Energies, float, float]:
    """One step of the community under ``levers`` on realized member ``load``/``pv`` [kWh]:
    (grid cost + CT burned, the home battery and community storage energies and the backlog
    after it, the import, the district net after curtailment). The same order and rules as
    ``sim/community.py`` steps 1-5, through the simulator's own functions; ``limits`` are the
    connection's (import limit, export limit [kWh per step], overrun price)."""
    members, community = banks
    member_energy, community_energy, backlog = energies
    p_da, p_ib, p_is, p_fi = (float(x) for x in prices)
    n = load.size
    flex_share, elasticity = demand
    burn = max(0.0, float(levers.burn_rate_ct_per_kwh))
    if flex_share.size == n:
        flex = flex_share * load
        deferred, released = demand_response(flex, backlog, burn, p_da, elasticity, day_end)
        backlog = backlog + deferred - released
        load = load - deferred + released
        flex_served = flex - deferred + released
    else:
        flex_served = np.zeros(n)
    own_net = load - pv
    if members is not None and members.n == n:
        flow = home_battery_flow(members, member_energy, dt, levers, own_net)
        member_energy = storage.apply_flow(members, member_energy, flow)
        own_net = own_net + flow
    deficit, surplus = np.maximum(own_net, 0.0), np.maximum(-own_net, 0.0)
    if levers.p2p_enabled:
        bought, sold, _ = market.match(deficit, surplus)
    else:
        bought, sold = np.zeros(n), np.zeros(n)
    res_deficit, res_surplus = deficit - bought, surplus - sold
    members_total = float(res_deficit.sum() - res_surplus.sum())
    if community is not None:
        setpoints = np.array([float(levers.storage_setpoints.get(k, 0.0)) for k in community.names])
        flow_c = storage.split_pooled(
            community,
            community_energy,
            dt,
            setpoints,
            levers.storage_follow and levers.p2p_enabled,
            members_total - levers.steering_target_kwh,
        )
        community_energy = storage.apply_flow(community, community_energy, flow_c)
    else:
        flow_c = np.zeros(0)
    if levers.p2p_enabled:
        net = members_total + float(flow_c.sum())
        imp, exp = max(net, 0.0), max(-net, 0.0)
    else:
        imp = float(res_deficit.sum()) + float(np.maximum(flow_c, 0.0).sum())
        exp = float(res_surplus.sum()) + float(np.maximum(-flow_c, 0.0).sum())
    imp_limit, exp_limit, overrun = limits
    curtailed = max(exp - exp_limit, 0.0)
    exp -= curtailed
    q = max(0.0, levers.procurement_kwh)
    grid = p_da * q + p_ib * max(imp - q, 0.0) - p_is * max(q - imp, 0.0) - p_fi * exp
    grid += overrun * max(imp - imp_limit, 0.0)
    burned = burn * float(np.minimum(res_deficit, flex_served).sum()) if burn > 0 else 0.0
    return grid + burned, (member_energy, community_energy, backlog), imp, imp - exp


def _energies(snap: Mapping[str, Any]) -> Energies:
    comm = dict(snap["community"])
    n = len(snap["member_energy"])
    return (
        np.asarray(snap["member_energy"], dtype=float),
        np.array([float(comm[k][0]) for k in comm]),
        np.asarray(snap.get("backlog", np.zeros(n)), dtype=float),
    )


def _demand(snap: Mapping[str, Any]) -> Demand:
    """Flexible share per member and elasticity (none in a snapshot from an older state)."""
    return (
        np.asarray(snap.get("flexible_share", []), dtype=float),
        float(snap.get("elasticity", 0.0)),
    )


def _day_end(snap: Mapping[str, Any], step: int) -> bool:
    spd, n_steps = int(snap.get("steps_per_day", 0)), int(snap.get("n_steps", 0))
    return (spd > 0 and (step + 1) % spd == 0) or step == n_steps - 1


def _stored_value(
    banks: tuple[StorageBank | None, StorageBank | None],
    start: Energies,
    end: Energies,
    value: float,
    price: float,
) -> float:
    """Stored energy gained, valued at its replacement cost ``value / eta_charge``, minus the
    backlog of deferred load gained, which is still to be bought (at ``price``)."""
    members, community = banks
    out = 0.0
    gained_m, gained_c = end[0] - start[0], end[1] - start[1]
    if members is not None and gained_m.size == members.n:
        out += float((gained_m / members.eta_charge).sum()) * value
    if community is not None:
        out += float((gained_c / community.eta_charge).sum()) * value
    return out - float((end[2] - start[2]).sum()) * price


def replay_window(
    arm: str,
    records: Sequence[Mapping[str, Any]],
    snap: Mapping[str, Any],
    loads: np.ndarray,
    pvs: np.ndarray,
    carbon: np.ndarray | None = None,
) -> float:
    """An arm's cost over the recorded steps in the run's objective (:func:`_objective_cost`),
    replayed on the realized member loads and PV (and the day's carbon intensity) from the
    storage energies and backlog at the window's start, minus the stored energy it gained by
    the end (and plus any backlog still to serve)."""
    banks = replay_banks(snap)
    demand = _demand(snap)
    e0 = _energies(snap)
    e = e0
    dt = float(snap["dt_h"])
    g = dict(snap.get("grid") or {})
    limits = (
        float(g.get("import_limit_kwh", math.inf)),
        float(g.get("export_limit_kwh", math.inf)),
        float(g.get("overrun", 0.0)),
    )
    total = 0.0
    imports, nets = np.zeros(len(records)), np.zeros(len(records))
    for k, rec in enumerate(records):
        lv = Levers(**rec["arms"][arm])  # written by ``decide`` from ``Levers.to_dict``
        day_end = _day_end(snap, int(rec.get("step", -2)))
        if "backlog" in rec and (lv.burn_rate_ct_per_kwh <= 0 or day_end):
            # A step that releases the backlog procures for it: for this arm's own backlog,
            # not the one the decision saw (an arm is a policy, not a fixed number).
            extra = float(e[2].sum()) - float(rec["backlog"])
            lv = replace(lv, procurement_kwh=max(0.0, lv.procurement_kwh + extra))
        cost, e, imports[k], nets[k] = replay_step(
            lv, rec["prices"], dt, banks, e, loads[k], pvs[k], demand, day_end, limits
        )
        total += cost
    last = records[-1]
    energy_cost = total - _stored_value(
        banks, e0, e, float(last["value"]), float(last["prices"][0])
    )
    return _objective_cost(g, energy_cost, imports, nets, dt, carbon)


def _objective_cost(
    g: Mapping[str, Any],
    tokens_ct: float,
    imports: np.ndarray,
    nets: np.ndarray,
    dt: float,
    carbon: np.ndarray | None,
) -> float:
    """A replayed day in the objective's terms (snapshot ``g``, :func:`_grid_snapshot`): its
    tokens (energy, overrun, burn, net of the stored value) and the demand charge on a new
    period peak, weighted; carbon; ramping from the net it started at; the day's peak import;
    a new load-factor block peak and the block mean's weight on the net. Without a snapshot
    (an older state): tokens."""
    if not g:
        return tokens_ct
    tokens = tokens_ct + float(g["demand_charge_per_kw"]) * max(
        float(imports.max(initial=0.0)) / dt - float(g["period_peak_kw"]), 0.0
    )
    value = float(g["tokens"]) * tokens
    if carbon is not None and carbon.size == imports.size:
        value += float(g["carbon_per_kg"]) * float(carbon @ imports)
    path = nets if g.get("start_net_kwh") is None else np.r_[float(g["start_net_kwh"]), nets]
    value += float(g["ramping"]) * float(np.abs(np.diff(path)).sum())
    value += float(g["daily_peak"]) * float(imports.max(initial=0.0)) / dt
    floor = g.get("block_peak_net_kwh")
    new_peak = float(nets.max(initial=-math.inf)) - (-math.inf if floor is None else float(floor))
    value += float(g["block_peak"]) * max(new_peak, 0.0) if math.isfinite(new_peak) else 0.0
    return value + float(g["net"]) * float(nets.sum())


def learn(state: Mapping[str, Any], obs: Observation | None) -> dict[str, Any]:
    """Regrets and weights, updated once a full day of pending steps can be replayed."""
    regret = {a: float(dict(state.get("regret", {})).get(a, 0.0)) for a in ARMS}
    scale = float(state.get("cost_scale", 0.0))
    n_eval = int(state.get("n_evaluated", 0))
    records = list(state.get("day_records", []))
    snap = state.get("day_snapshot")
    n_rec = len(records)
    ready = (
        obs is not None
        and snap is not None
        and n_rec >= obs.steps_per_day
        and state.get("pending_step") == obs.step - 1
        and obs.member_hist_load_kwh.shape[0] >= n_rec
    )
    if ready and obs is not None and snap is not None:
        loads = np.asarray(obs.member_hist_load_kwh[-n_rec:], dtype=float)
        pvs = np.asarray(obs.member_hist_pv_kwh[-n_rec:], dtype=float)
        ci = np.asarray(obs.hist_carbon_kg_per_kwh, dtype=float)
        carbon = ci[-n_rec:] if ci.size >= n_rec else None
        costs: dict[str, float] = {}
        replayed: dict[str, str] = {}  # an arm's day of levers -> the arm first replayed with it
        for a in ARMS:
            if not all(a in r["arms"] for r in records):
                continue
            key = json.dumps([r["arms"][a] for r in records], sort_keys=True)
            if key not in replayed:  # arms that decided alike all day cost alike
                replayed[key] = a
                costs[a] = replay_window(a, records, snap, loads, pvs, carbon)
            else:
                costs[a] = costs[replayed[key]]
        if costs:
            best = min(costs.values())
            worst = max(costs.values())
            decay = 0.5 ** (n_rec / HALF_LIFE_STEPS)
            for a in ARMS:
                # An arm that could not be formed on some step scores as the worst one.
                regret[a] = decay * regret[a] + (costs.get(a, worst) - best)
            spread = float(np.mean([abs(c) for c in costs.values()])) / n_rec
            a_s = max(1.0 / (n_eval + 1), 1.0 - decay)
            scale = (1 - a_s) * scale + a_s * spread
            n_eval += 1
        records, snap = [], None
    elif obs is not None and state.get("pending_step") != obs.step - 1:
        records, snap = [], None  # a gap in the steps: start a new window
    unit = max(scale, 1e-9) * HALF_LIFE_STEPS / 24.0  # cost of a typical week... of days
    low = min(regret.values())
    raw = {a: math.exp(-ETA * (regret[a] - low) / unit) for a in ARMS}
    tot = sum(raw.values())
    weights = {a: raw[a] / tot for a in ARMS}
    return {
        "regret": regret,
        "weights": weights,
        "cost_scale": scale,
        "n_evaluated": n_eval,
        "day_records": records,
        "day_snapshot": snap,
    }


def choose(arms: Mapping[str, Levers], learned: Mapping[str, Any], previous: str) -> str:
    """The arm with the largest weight, with hysteresis: the arm followed at the previous step
    keeps the lead unless another arm's discounted regret is lower by ``SWITCH_MARGIN`` typical
    weeks of cost (so one lucky step never flips the decision)."""
    regret = learned["regret"]
    best = min(arms, key=lambda a: (regret.get(a, 0.0), a != "follow"))
    if previous not in arms:
        previous = "follow" if "follow" in arms else best
    unit = max(float(learned["cost_scale"]), 1e-9) * HALF_LIFE_STEPS / 24.0
    if regret.get(previous, 0.0) - regret.get(best, 0.0) > SWITCH_MARGIN * unit:
        return best
    return previous


ARM_IGNORES = {
    "follow": (),
    "follow_no_burn": ("token_economist",),
    "schedule": ("grid_trader",),
    "self_consumption": ("storage_optimizer", "grid_trader"),
}
"""Advisors an arm leaves out, beyond those the ``weighted`` combination overrode."""


class Learned:
    name = "learned"
    uses_advisors = True

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        recs = current(recommendations, obs)
        track = update_track(state, obs)
        learned = learn(state, obs)
        weight = advisor_weights(recs, track)
        base = combine(obs, recs, weight)
        arms = _arms(obs, recs, weight, base)
        w = learned["weights"]
        chosen = choose(arms, learned, str(state.get("arm", "follow")))
        ignored = set(base.overridden) | {n for n in ARM_IGNORES[chosen] if n in recs}
        comb = Combination(
            arms[chosen],
            followed=[n for n in base.followed if n not in ignored],
            overridden=[n for n in AGENT_NAMES if n in ignored],
            missing=list(base.missing),
            notes=dict(base.notes),
        )
        decision = decision_from(
            self.name, obs, recommendations, comb, {"arm": chosen, "arm_weights": w}
        )
        new_state: dict[str, Any] = {
            "track": track,
            **learned,
            **pending_state(obs, base),
            "arm": chosen,
        }
        if obs is not None:
            if new_state["day_snapshot"] is None:
                new_state["day_snapshot"] = _snapshot(obs)
            record = {
                "step": obs.step,
                "backlog": float(obs.backlog_kwh.sum()),
                "prices": [
                    float(obs.price_day_ahead[0]),
                    float(obs.price_imbalance_buy[0]),
                    float(obs.price_imbalance_sell[0]),
                    float(obs.price_feed_in[0]),
                ],
                "value": float(np.min(obs.price_day_ahead)) if obs.price_day_ahead.size else 0.0,
                "arms": {a: lv.to_dict() for a, lv in arms.items()},
            }
            new_state["day_records"] = [*new_state["day_records"], record]
        return decision, new_state
