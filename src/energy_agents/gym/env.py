"""``CommunityEnv``: one episode = one run of a scenario, one env step = one model step.

The step is the batch loop's: ``Community.observe`` -> (the agent's action, decoded to
``Levers``) -> :func:`runner.batch.apply_decision`. The reward is minus the step's increase of
the run's objective ``J`` (sim/objective.py, weights of the whole scenario as in the KPIs), so
the episode's return is ``-kpis["objective_value"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..coordination.registry import make_strategy
from ..coordination.step import coordinate
from ..runner.batch import apply_decision
from ..sim import grid
from ..sim.community import Community
from ..sim.kpis import compute_kpis
from ..sim.levers import P2P_PRICE_RULES, Levers
from ..sim.observation import Observation
from ..sim.params import Scenario

_SKIP = {
    "timestamp",
    "member_names",
    "storage_names",
    "ev_names",
    "appliance_names",
    "tank_names",
    "tariff",
    "objective",
    "last_levers",
}
_SWITCHES = ("storage_follow", "p2p_enabled", "home_batteries_pooled")
# Observation keys fixed for the episode (the scenario's parameters).
_STATIC = {
    "n_steps",
    "dt_h",
    "steps_per_day",
    "storage_capacity_kwh",
    "storage_power_kw",
    "storage_efficiency",
    "storage_soc_min",
    "storage_soc_max",
    "member_battery_capacity_kwh",
    "member_battery_power_kw",
    "flexible_share",
    "elasticity",
    "max_burn_rate_ct_per_kwh",
    "ev_member",
    "ev_charge_kw",
    "ev_discharge_kw",
    "ev_efficiency",
    "appliance_member",
    "tank_member",
    "tank_capacity_kwh",
    "tank_efficiency",
    "tank_loss_coefficient",
}


def _bound_pow2(x: float) -> float:
    """A power of two >= x, so that scaling by it is exact in floating point."""
    return float(2.0 ** np.ceil(np.log2(max(x, 1e-9))))


class CommunityEnv(gym.Env[dict[str, np.ndarray], dict[str, Any]]):
    """Spaces derived from ``Observation`` and ``Levers`` for one scenario (docs/gym.md)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = s = scenario
        self.community = Community(s)
        self.observation: Observation = self.community.observe()
        # No step imports more than a day's load plus every storage charging at full power,
        # nor exports more than its PV plus every storage discharging.
        days = np.arange(s.n_steps) // s.steps_per_day
        day_load = np.bincount(days, weights=s.load_kwh.sum(axis=1)).max()
        # ... and every EV charger at its full charge or discharge power.
        ev = s.evs
        power = (
            s.member_batteries.power_kw.sum()
            + s.community_storages.power_kw.sum()
            + ev.charge_kw.sum()
            + ev.discharge_kw.sum()
        ) * s.dt_h
        # ... and every appliance at the highest draw of its cycles (one cycle at a time each).
        ap = s.flexible_appliances
        if ap.n_jobs:
            power += float(
                np.bincount(
                    ap.job_appliance,
                    weights=ap.profile_kwh.max(axis=1),
                    minlength=ap.n,
                ).max()
                * ap.n
            )
        # ... and every tank charging: at most its capacity per hour, at the device's dearest
        # electricity per kWh of heat (sim/thermal_storage.py).
        tk = s.tanks
        if tk.n:
            power += float(tk.capacity_kwh @ tk.elec_per_kwh.max(axis=0)) * s.dt_h
        self.exchange_bound_kwh = _bound_pow2(max(day_load, s.pv_kwh.sum(axis=1).max()) + power)
        n_st = len(s.storage_names)
        mb = s.member_batteries
        has = (mb.capacity_kwh > 0) & (mb.power_kw > 0)
        self.battery_names = tuple(n for n, h in zip(s.member_names, has, strict=True) if h)
        box = lambda lo, hi, n: spaces.Box(lo, hi, (n,), np.float64)  # noqa: E731
        self._actions = spaces.Dict(
            {
                "burn_rate": box(0.0, 1.0, 1),  # share of max_burn_rate_ct_per_kwh
                "procurement": box(0.0, 1.0, 1),  # share of exchange_bound_kwh
                "storage_setpoints": box(-1.0, 1.0, n_st),  # in scenario.storage_names order
                "exchange_target": box(-1.0, 1.0, 1),  # share of exchange_bound_kwh
                "exchange_target_set": spaces.Discrete(2),  # 0: None (the procurement)
                **{k: spaces.Discrete(2) for k in _SWITCHES},
                "p2p_price_rule": spaces.Discrete(len(P2P_PRICE_RULES)),
                # home batteries' own setpoints (only with some): in the order of the members
                # with a battery (battery_names), and whether they apply (0: each battery on
                # the ``members`` setpoint of storage_setpoints)
                **(
                    {
                        "battery_setpoints": box(-1.0, 1.0, len(bn)),
                        "battery_setpoints_set": spaces.Discrete(2),
                    }
                    if (bn := self.battery_names)
                    else {}
                ),
                # EV chargers (only with chargers): setpoints in scenario.evs.names order, and
                # whether they apply (0: every charger uncontrolled, as without a lever)
                **(
                    {"ev_setpoints": box(-1.0, 1.0, ev.n), "ev_setpoints_set": spaces.Discrete(2)}
                    if ev.n
                    else {}
                ),
                # thermal storage tanks (only with some): setpoints in scenario.tanks.names
                # order, and whether they apply (0: every tank idle, as without a lever)
                **(
                    {
                        "thermal_setpoints": box(-1.0, 1.0, tk.n),
                        "thermal_setpoints_set": spaces.Discrete(2),
                    }
                    if tk.n
                    else {}
                ),
                # appliances (only with some): >= 0.5 starts a waiting job, and whether the
                # starts apply (0: every appliance uncontrolled)
                **(
                    {
                        "appliance_start": box(0.0, 1.0, ap.n),
                        "appliance_start_set": spaces.Discrete(2),
                    }
                    if ap.n
                    else {}
                ),
            }
        )
        self.action_space = self._actions
        first = self._flatten(self.observation)
        self.observation_space = spaces.Dict(  # type: ignore[assignment]
            {
                k: spaces.Box(*self._bounds(k, v), v.shape, np.float64)  # type: ignore[misc]
                for k, v in first.items()
            }
        )
        self._weights = grid.scenario_weights(s)

    def _bounds(self, key: str, first: np.ndarray) -> tuple[Any, Any]:
        """(low, high) of one observation key: what the model's physics and the scenario's
        inputs allow (docs/gym.md); infinite only where nothing bounds it (token balances)."""
        s, b, inf = self.scenario, self.exchange_bound_kwh, np.inf
        n = float(s.n_steps)
        load, pv = s.load_kwh, s.pv_kwh
        prices = {
            "price_day_ahead": s.prices.day_ahead,
            "price_imbalance_buy": s.prices.imbalance_buy,
            "price_imbalance_sell": s.prices.imbalance_sell,
            "price_feed_in": s.prices.feed_in,
        }
        if key in _STATIC:  # fixed for the episode: exactly the first observation's values
            return first.copy(), first.copy()
        if key in prices:  # inputs of the scenario, known in advance as the tariff is
            return float(prices[key].min()), float(prices[key].max())
        if key == "storage_energy_kwh":
            return 0.0, self._flatten(self.observation)["storage_capacity_kwh"]
        limits: dict[str, tuple[float, float]] = {
            "hour": (0.0, 23.0),
            "step": (0.0, n),
            "period_steps_left": (0.0, n),
            "block_steps_left": (0.0, n),
            "storage_soc": (0.0, 1.0),
            "member_soc": (0.0, 1.0),
            "backlog_kwh": (0.0, float(load.max(initial=0.0)) * s.steps_per_day),
            "hist_load_kwh": (0.0, float(load.sum(axis=1).max(initial=0.0))),
            "hist_pv_kwh": (0.0, float(pv.sum(axis=1).max(initial=0.0))),
            "member_hist_load_kwh": (0.0, float(load.max(initial=0.0))),
            "member_hist_pv_kwh": (0.0, float(pv.max(initial=0.0))),
            "hist_import_kwh": (0.0, b),
            "hist_export_kwh": (0.0, b),
            "hist_net_kwh": (-b, b),
            "block_peak_net_kwh": (-b, b),
            "period_peak_import_kw": (0.0, b / s.dt_h),
            "hist_carbon_kg_per_kwh": (0.0, float(s.carbon.max(initial=0.0))),
            "ev_connected": (0.0, 1.0),
            "hist_ev_connected": (0.0, 1.0),
            "appliance_waiting": (0.0, 1.0),
            "appliance_steps_left": (0.0, n),
            "appliance_steps": (0.0, float(s.flexible_appliances.profile_kwh.shape[1])),
            "appliance_energy_kwh": (
                0.0,
                float(s.flexible_appliances.job_energy_kwh.max(initial=0.0)),
            ),
            "ev_steps_left": (0.0, n),
            "tank_energy_kwh": (0.0, float(s.tanks.capacity_kwh.max(initial=0.0))),
            "tank_cop": (0.0, self._highest_cop()),
            "hist_tank_demand_kwh": (0.0, float(s.tanks.demand_kwh.max(initial=0.0))),
            **dict.fromkeys(
                (
                    "ev_energy_kwh",
                    "ev_capacity_kwh",
                    "ev_min_kwh",
                    "ev_required_kwh",
                    "hist_ev_energy_kwh",
                ),
                (0.0, float(s.evs.sessions.capacity_kwh.max(initial=0.0))),
            ),
        }
        return limits.get(key, (-inf, inf))

    def _highest_cop(self) -> float:
        """The highest kWh of heat per kWh of electricity of any tank's device (0 at no tank)."""
        e = self.scenario.tanks.elec_per_kwh
        on = e[e > 0]
        return float(1.0 / on.min()) if on.size else 0.0

    # ---------------------------------------------------------------- encoding
    def _flatten(self, obs: Observation) -> dict[str, np.ndarray]:
        """Every numeric field of ``Observation``, fixed shapes (docs/gym.md)."""
        s, spd = self.scenario, self.scenario.steps_per_day
        out: dict[str, np.ndarray] = {"hour": np.array([obs.hour])}
        for f in fields(Observation):
            if f.name in _SKIP:
                continue
            v = getattr(obs, f.name)
            if isinstance(v, Mapping):
                a = np.array([v[n] for n in s.storage_names], dtype=np.float64)
            elif isinstance(v, np.ndarray):
                a = np.asarray(v, dtype=np.float64)
                if f.name.startswith("price_"):  # look-ahead, padded with its last price
                    a = np.pad(a, (0, spd - a.size), mode="edge")
                elif f.name.startswith(("hist_", "member_hist_")):  # last day, zero-padded
                    a = a[-spd:]
                    a = np.concatenate([np.zeros((spd - a.shape[0], *a.shape[1:])), a])
            else:
                a = np.array([0.0 if v is None else float(v)])
            out[f.name] = a.copy()
        return out

    def encode(self, levers: Levers) -> dict[str, Any]:
        """The action that decodes to ``levers`` (what a strategy decided)."""
        s, b = self.scenario, self.exchange_bound_kwh
        mb = s.max_burn_rate_ct_per_kwh
        target = levers.exchange_target_kwh
        return {
            "burn_rate": np.array([levers.burn_rate_ct_per_kwh / mb if mb > 0 else 0.0]),
            "procurement": np.array([levers.procurement_kwh / b]),
            "storage_setpoints": np.array(
                [float(levers.storage_setpoints.get(n, 0.0)) for n in s.storage_names]
            ),
            "exchange_target": np.array([0.0 if target is None else target / b]),
            "exchange_target_set": int(target is not None),
            **{k: int(getattr(levers, k)) for k in _SWITCHES},
            "p2p_price_rule": P2P_PRICE_RULES.index(levers.p2p_price_rule),
            **(
                {
                    "battery_setpoints": np.array(
                        [float(levers.battery_setpoints.get(n, 0.0)) for n in bn]
                    ),
                    "battery_setpoints_set": int(bool(levers.battery_setpoints)),
                }
                if (bn := self.battery_names)
                else {}
            ),
            **(
                {
                    "ev_setpoints": np.array(
                        [float(levers.ev_setpoints.get(n, 0.0)) for n in s.evs.names]
                    ),
                    "ev_setpoints_set": int(bool(levers.ev_setpoints)),
                }
                if s.evs.n
                else {}
            ),
            **(
                {
                    "thermal_setpoints": np.array(
                        [float(levers.thermal_setpoints.get(n, 0.0)) for n in tkn]
                    ),
                    "thermal_setpoints_set": int(bool(levers.thermal_setpoints)),
                }
                if (tkn := s.tanks.names)
                else {}
            ),
            **(
                {
                    "appliance_start": np.array(
                        [float(levers.appliance_start.get(n, True)) for n in apn]
                    ),
                    "appliance_start_set": int(bool(levers.appliance_start)),
                }
                if (apn := s.flexible_appliances.names)
                else {}
            ),
        }

    def decode(self, action: Mapping[str, Any]) -> Levers:
        """``Levers`` of an action; boxes are clipped to the space, anything else raises."""
        if not isinstance(action, Mapping):
            raise ValueError(f"action: must be a dict with keys {sorted(self._actions)}")
        missing = set(self._actions) - set(action)
        extra = set(action) - set(self._actions)
        if missing or extra:
            raise ValueError(f"action: missing {sorted(missing)}, unknown {sorted(extra)}")
        val: dict[str, Any] = {}
        for key, sp in self._actions.items():
            if isinstance(sp, spaces.Box):
                a = np.asarray(action[key], dtype=np.float64).reshape(-1)
                if a.shape != sp.shape:
                    raise ValueError(f"action.{key}: expected shape {sp.shape}, got {a.shape}")
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"action.{key}: must be finite")
                val[key] = np.clip(a, sp.low, sp.high)
            else:
                v = action[key]
                assert isinstance(sp, spaces.Discrete)
                if isinstance(v, np.ndarray) and v.size == 1:
                    v = v.item()
                if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < sp.n:
                    raise ValueError(f"action.{key}: must be an integer in [0, {sp.n - 1}]")
                val[key] = int(v)
        s, b = self.scenario, self.exchange_bound_kwh
        return Levers(
            burn_rate_ct_per_kwh=float(val["burn_rate"][0]) * s.max_burn_rate_ct_per_kwh,
            procurement_kwh=float(val["procurement"][0]) * b,
            storage_setpoints={
                n: float(x) for n, x in zip(s.storage_names, val["storage_setpoints"], strict=True)
            },
            exchange_target_kwh=float(val["exchange_target"][0]) * b
            if val["exchange_target_set"]
            else None,
            p2p_price_rule=P2P_PRICE_RULES[val["p2p_price_rule"]],
            **{k: bool(val[k]) for k in _SWITCHES},
            battery_setpoints={
                n: float(x)
                for n, x in zip(self.battery_names, val["battery_setpoints"], strict=True)
            }
            if self.battery_names and val["battery_setpoints_set"]
            else {},
            ev_setpoints={
                n: float(x) for n, x in zip(s.evs.names, val["ev_setpoints"], strict=True)
            }
            if s.evs.n and val["ev_setpoints_set"]
            else {},
            thermal_setpoints={
                n: float(x) for n, x in zip(s.tanks.names, val["thermal_setpoints"], strict=True)
            }
            if s.tanks.n and val["thermal_setpoints_set"]
            else {},
            appliance_start={
                n: bool(x >= 0.5)
                for n, x in zip(s.flexible_appliances.names, val["appliance_start"], strict=True)
            }
            if s.flexible_appliances.n and val["appliance_start_set"]
            else {},
        )

    # --------------------------------------------------------------- the API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)  # the model is deterministic; the seed only seeds np_random
        self.community = Community(self.scenario)
        self._prev: dict[str, float] = {}
        self.observation = self.community.observe()
        return self._flatten(self.observation), {"step": 0}

    def step(
        self, action: Mapping[str, Any]
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self.community.done:
            raise RuntimeError("the episode is over; call reset()")
        levers = self.decode(action)
        apply_decision(self.community, levers)
        reward = -self._objective_increase(self.community.t - 1)
        self.observation = self.community.observe()
        done = self.community.done
        return self._flatten(self.observation), reward, done, False, {"step": self.community.t}

    def _objective_increase(self, t: int) -> float:
        """J after step t minus J before it (J before step 0 is 0: the constant goes to step 0)."""
        w, s, r, p = self._weights, self.scenario, self.community.results, self._prev
        imp, e = float(r["import_kwh"][t]), float(r["net_kwh"][t])
        inc = w.tokens * float(r["tokens_spent_ct"][t]) + float(w.import_carbon[t]) * imp
        inc += float(w.net[t]) * e + (w.constant if t == 0 else 0.0)
        if w.daily_peak > 0:
            new_day = t % s.steps_per_day == 0
            old = 0.0 if new_day else p["day_peak"]
            p["day_peak"] = imp if new_day else max(old, imp)
            inc += w.daily_peak * (p["day_peak"] - old) / s.dt_h
        if w.ramping > 0 and t > 0:
            inc += w.ramping * abs(e - p["net"])
        p["net"] = e
        if np.any(w.block_peak > 0):
            b = t // grid.block_steps(s.dt_h)
            new_block = t % grid.block_steps(s.dt_h) == 0
            old = 0.0 if new_block else p["block_max"]
            p["block_max"] = e if new_block else max(p["block_max"], e)
            inc += float(w.block_peak[b]) * (p["block_max"] - (0.0 if new_block else old))
        return inc

    def kpis(self, baseline_spent_ct: float | None = None) -> dict[str, Any]:
        """The run's KPIs so far (``sim.kpis.compute_kpis``, as ``run_batch`` reports them)."""
        return compute_kpis(self.community, baseline_spent_ct)


def strategy_policy(env: CommunityEnv, name: str) -> Callable[[Any], dict[str, Any]]:
    """A policy that plays strategy ``name``: the strategy decides on the env's current
    ``Observation`` (the five advisors run in process, as in ``run_batch``)."""
    strategy = make_strategy(name, env.scenario)
    state: dict[str, Any] = {}

    def policy(_obs: Any) -> dict[str, Any]:
        nonlocal state
        decision, _, state = coordinate(strategy, env.observation, state)
        return env.encode(decision.parameters)

    return policy
