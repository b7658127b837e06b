"""``learned``: weights learned online from realized outcomes (never from the future).

Each step the advice is assembled into a few coherent candidate decisions ("arms"), each
following a different reading of the advisors:

- ``follow``: the ``weighted`` combination (storages follow the home's own balance, community
  storages steer the exchange to the planned procurement; see :mod:`.weighted`);
- ``schedule``: the storage optimizer's plan executed as an exact schedule (``storage_follow``
  off: home batteries may then serve neighbours through the P2P market, forecast errors go to
  the grid at the newsvendor procurement);
- ``self_consumption``: every storage covers its own residual (floor -1) with the
  forecaster's procurement (the fallback that needs no plan).

All arms share the token economist's burn rate and the P2P trader's market advice.

Learning: the observation of step ``t + 1`` reveals what happened at step ``t`` (members' load
and PV in ``member_hist_*``). Each arm's levers of step ``t`` are replayed on those realized
values with the simulator's own storage and market functions, from the storage energies
observed at ``t``: the arm's one-step cost is its grid cost minus the change of stored energy
valued at its replacement cost (the cheapest day-ahead price of the day over the charging
efficiency, the storage optimizer's terminal value). Its regret is its cost minus the best
arm's; regrets accumulate with exponential forgetting (half-life one week), and the weights
are ``exp(-ETA * regret / typical step cost)`` normalized (Hedge). The decision follows the
arm with the largest weight. Everything the learning needs (regrets, weights, the pending
arms of the last step and the storage energies) travels in the JSON state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..advisors.types import AGENT_NAMES, Recommendation
from ..sim import market, storage
from ..sim.levers import Levers
from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES, StorageBank
from .baseline import naive_procurement_kwh
from .types import Decision
from .weighted import (
    AUTHORITY,
    Combination,
    combine,
    current,
    decision_from,
    pending_state,
    track_score,
    update_track,
)

ARMS = ("follow", "schedule", "self_consumption")
HALF_LIFE_STEPS = 168.0
ETA = 2.0


def _arms(
    obs: Observation | None, recs: Mapping[str, Recommendation], base: Combination
) -> dict[str, Levers]:
    """The candidate decisions for this step (see the module docstring)."""
    arms = {"follow": base.levers}
    te = recs.get("token_economist")
    shift = float(te.data.get("expected_shift_kwh", 0.0)) if te is not None else 0.0
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
        "member_energy": (obs.member_soc * obs.member_battery_capacity_kwh).tolist(),
        "member_capacity": obs.member_battery_capacity_kwh.tolist(),
        "member_power": obs.member_battery_power_kw.tolist(),
        "member_eff": float(obs.storage_efficiency.get(MEMBER_BATTERIES, 1.0)),
        "member_soc_min": float(obs.storage_soc_min.get(MEMBER_BATTERIES, 0.0)),
        "member_soc_max": float(obs.storage_soc_max.get(MEMBER_BATTERIES, 1.0)),
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


def replay_cost(
    levers: Levers,
    snap: Mapping[str, Any],
    load: np.ndarray,
    pv: np.ndarray,
    banks: tuple[StorageBank | None, StorageBank | None] | None = None,
) -> float:
    """One step of the community under ``levers`` on realized member ``load``/``pv`` [kWh],
    from the storage energies of ``snap``: grid cost minus the stored energy gained, valued at
    its replacement cost (the same order and rules as ``sim/community.py`` steps 2-4; demand
    response is left out, it is common to every arm)."""
    members, community = replay_banks(snap) if banks is None else banks
    dt = float(snap["dt_h"])
    p_da, p_ib, p_is, p_fi = (float(x) for x in snap["prices"])
    value = float(snap["window_min_price"])
    n = load.size
    own_net = load - pv
    gained = 0.0
    if members is not None and members.n == n:
        energy = np.asarray(snap["member_energy"], dtype=float)
        sp = float(levers.storage_setpoints.get(MEMBER_BATTERIES, 0.0))
        flow = storage.dispatch(members, energy, dt, sp, levers.storage_follow, own_net)
        after = storage.apply_flow(members, energy, flow)
        gained += float((after - energy).sum()) * value / float(members.eta_charge[0])
        own_net = own_net + flow
    deficit, surplus = np.maximum(own_net, 0.0), np.maximum(-own_net, 0.0)
    if levers.p2p_enabled:
        bought, sold, _ = market.match(deficit, surplus)
    else:
        bought, sold = np.zeros(n), np.zeros(n)
    res_deficit, res_surplus = deficit - bought, surplus - sold
    members_total = float(res_deficit.sum() - res_surplus.sum())
    if community is not None:
        comm = dict(snap["community"])
        e_c = np.array([float(comm[k][0]) for k in community.names])
        setpoints = np.array([float(levers.storage_setpoints.get(k, 0.0)) for k in community.names])
        flow_c = storage.split_pooled(
            community,
            e_c,
            dt,
            setpoints,
            levers.storage_follow and levers.p2p_enabled,
            members_total - levers.procurement_kwh,
        )
        after_c = storage.apply_flow(community, e_c, flow_c)
        gained += float(((after_c - e_c) * value / community.eta_charge).sum())
    else:
        flow_c = np.zeros(0)
    if levers.p2p_enabled:
        net = members_total + float(flow_c.sum())
        imp, exp = max(net, 0.0), max(-net, 0.0)
    else:
        imp = float(res_deficit.sum()) + float(np.maximum(flow_c, 0.0).sum())
        exp = float(res_surplus.sum()) + float(np.maximum(-flow_c, 0.0).sum())
    q = max(0.0, levers.procurement_kwh)
    grid = p_da * q + p_ib * max(imp - q, 0.0) - p_is * max(q - imp, 0.0) - p_fi * exp
    return grid - gained


def learn(state: Mapping[str, Any], obs: Observation | None) -> dict[str, Any]:
    """Regrets and weights after scoring the pending arms of the previous step."""
    regret = {a: float(dict(state.get("regret", {})).get(a, 0.0)) for a in ARMS}
    scale = float(state.get("cost_scale", 0.0))
    n_eval = int(state.get("n_evaluated", 0))
    pending = state.get("pending_arms")
    snap = state.get("pending_snapshot")
    ok = (
        obs is not None
        and pending
        and snap is not None
        and state.get("pending_step") == obs.step - 1
        and obs.member_hist_load_kwh.shape[0] >= 1
    )
    if ok and obs is not None and pending and snap is not None:
        load = np.asarray(obs.member_hist_load_kwh[-1], dtype=float)
        pv = np.asarray(obs.member_hist_pv_kwh[-1], dtype=float)
        costs = {
            a: replay_cost(Levers.from_dict(lv), snap, load, pv) for a, lv in dict(pending).items()
        }
        best = min(costs.values())
        decay = 0.5 ** (1.0 / HALF_LIFE_STEPS)
        for a in ARMS:
            # An arm that could not be formed at that step scores as the worst one.
            r = costs[a] - best if a in costs else max(costs.values()) - best
            regret[a] = decay * regret[a] + r
        spread = float(np.mean([abs(c) for c in costs.values()]))
        a_s = max(1.0 / (n_eval + 1), 1.0 - decay)
        scale = (1 - a_s) * scale + a_s * spread
        n_eval += 1
    denom = max(scale, 1e-9) * HALF_LIFE_STEPS / 24.0  # regret of a typical day
    low = min(regret.values())
    raw = {a: math.exp(-ETA * (regret[a] - low) / denom) for a in ARMS}
    tot = sum(raw.values())
    weights = {a: raw[a] / tot for a in ARMS}
    return {"regret": regret, "weights": weights, "cost_scale": scale, "n_evaluated": n_eval}


ARM_ADVISORS = {
    "follow": (
        "storage_optimizer",
        "grid_trader",
        "demand_forecaster",
        "token_economist",
        "p2p_trader",
    ),
    "schedule": ("storage_optimizer", "demand_forecaster", "token_economist", "p2p_trader"),
    "self_consumption": ("demand_forecaster", "token_economist", "p2p_trader"),
}


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
        weight = {
            lever: {
                a: prior * (recs[a].confidence if a in recs else 0.0) * track_score(track, a)
                for a, prior in table.items()
            }
            for lever, table in AUTHORITY.items()
        }
        base = combine(obs, recs, weight)
        arms = _arms(obs, recs, base)
        w = learned["weights"]
        chosen = max(arms, key=lambda a: (w.get(a, 0.0), a == "follow"))
        comb = Combination(
            arms[chosen],
            followed=[n for n in ARM_ADVISORS[chosen] if n in recs],
            overridden=[n for n in AGENT_NAMES if n in recs and n not in ARM_ADVISORS[chosen]],
            missing=list(base.missing),
            notes=dict(base.notes),
        )
        decision = decision_from(
            self.name, obs, recommendations, comb, {"arm": chosen, "arm_weights": w}
        )
        new_state: dict[str, Any] = {"track": track, **learned, **pending_state(obs, base)}
        if obs is not None:
            new_state["pending_arms"] = {a: lv.to_dict() for a, lv in arms.items()}
            new_state["pending_snapshot"] = _snapshot(obs)
        return decision, new_state
