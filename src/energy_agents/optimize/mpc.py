"""``mpc``: rolling-horizon optimization over forecasts, no peeking.

At every step the strategy solves the dispatch LP of :mod:`energy_agents.optimize.lp` over the
next ``horizon`` steps (default one day) from what the :class:`Observation` holds: the storages'
present energy, the known prices ahead (the observation carries one day; beyond it the day's
prices repeat) and a forecast of the community's load and PV: the ``demand_forecaster``'s
(``data["load_kwh"]``, ``data["pv_kwh"]``) when its recommendation is given, otherwise a
seasonal mean of the same time of day over the last up to 7 days. Only the first step is applied,
and with ``storage_follow=True``, so local control absorbs forecast errors (docs/optimize.md):

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

The LP has no load shifting (the simulator shifts load only through burning CT) and leaves the
energy in store at the horizon's end valued at ``eta_d * min(day-ahead price)`` over the
horizon, so the plan does not empty the storages because the horizon ends. One HiGHS model per
horizon length is built once and then updated (row bounds, costs) and re-solved from the
previous basis each step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import highspy
import numpy as np

from ..advisors.types import Recommendation
from ..coordination.types import Decision
from ..sim.levers import Levers
from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES, Scenario, StorageBank
from .lp import LPStorage, build, community_storages, member_storages, new_solver, solve

NAME = "mpc"
FORECASTER = "demand_forecaster"
SEASONAL_DAYS = 7


def seasonal_forecast(hist: np.ndarray, spd: int, horizon: int) -> np.ndarray:
    """Mean of the same time of day over the last up to ``SEASONAL_DAYS`` days; the last value
    (or 0) with less than a day of history."""
    n = hist.size
    if n < spd:
        return np.full(horizon, float(hist[-1]) if n else 0.0)
    days = min(SEASONAL_DAYS, n // spd)
    k = np.arange(horizon) % spd
    idx = n - spd + k - spd * np.arange(days)[:, None]
    return np.asarray(hist[np.maximum(idx, 0)], dtype=float).mean(axis=0)


def _extend(a: np.ndarray, spd: int, length: int) -> np.ndarray:
    """``a`` continued day-periodically (the same time one day earlier) to ``length``."""
    a = np.asarray(a, dtype=float)
    if a.size >= length:
        return a[:length]
    if a.size == 0:
        return np.zeros(length)
    out = np.empty(length)
    out[: a.size] = a
    for t in range(a.size, length):
        out[t] = out[t - spd] if t >= spd else a[-1]
    return out


def _banks_from_obs(obs: Observation) -> tuple[StorageBank, StorageBank]:
    """Storage parameters as the observation describes them (live mode, no scenario): round-trip
    efficiency split evenly between charging and discharging, members' SOC bounds shared."""
    names = tuple(n for n in obs.storage_names if n != MEMBER_BATTERIES)

    def arr(d: Mapping[str, float], default: float = 0.0) -> np.ndarray:
        return np.array([float(d.get(n, default)) for n in names])

    eta = np.sqrt(np.clip(arr(obs.storage_efficiency, 1.0), 1e-6, 1.0))
    cap = arr(obs.storage_capacity_kwh)
    soc_min, soc_max = arr(obs.storage_soc_min), arr(obs.storage_soc_max, 1.0)
    soc = np.clip(arr(obs.storage_soc), soc_min, soc_max)
    cs = StorageBank(names, cap, arr(obs.storage_power_kw), eta, eta, soc_min, soc_max, soc)
    n = obs.n_members
    key = MEMBER_BATTERIES
    m_eta = float(np.sqrt(np.clip(obs.storage_efficiency.get(key, 1.0), 1e-6, 1.0)))
    m_min, m_max = obs.storage_soc_min.get(key, 0.0), obs.storage_soc_max.get(key, 1.0)
    mb = StorageBank(
        obs.member_names,
        np.asarray(obs.member_battery_capacity_kwh, dtype=float),
        np.asarray(obs.member_battery_power_kw, dtype=float),
        np.full(n, m_eta),
        np.full(n, m_eta),
        np.full(n, m_min),
        np.full(n, m_max),
        np.clip(np.asarray(obs.member_soc, dtype=float), m_min, m_max),
    )
    return cs, mb


class _Model:
    """One HiGHS model for one horizon length, updated in place from step to step."""

    def __init__(self, h: highspy.Highs, layout: Any, storages: list[LPStorage]) -> None:
        self.h, self.layout, self.storages = h, layout, storages


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
        self.scenario = scenario
        self.horizon = horizon
        self.terminal_value = terminal_value
        self.follow = follow
        self.pooled = pooled
        # The batch loop computes the five advisors' recommendations only for strategies that
        # use them; the forecast in a given demand_forecaster recommendation is read either way.
        self.uses_advisors = use_forecaster
        self._models: dict[int, _Model] = {}

    # ------------------------------------------------------------------ inputs
    def _banks(self, obs: Observation) -> tuple[StorageBank, StorageBank]:
        if self.scenario is not None:
            return self.scenario.community_storages, self.scenario.member_batteries
        return _banks_from_obs(obs)

    def _storages(self, obs: Observation, cs: StorageBank, mb: StorageBank) -> list[LPStorage]:
        comm_e = np.array([float(obs.storage_energy_kwh.get(n, 0.0)) for n in cs.names])
        member_e = np.asarray(obs.member_soc, dtype=float) * mb.capacity_kwh
        return [
            *community_storages(cs, obs.dt_h, comm_e),
            *member_storages(mb, obs.dt_h, True, member_e),
        ]

    @staticmethod
    def _forecast(
        obs: Observation, recommendations: Sequence[Recommendation], h: int
    ) -> tuple[np.ndarray, np.ndarray, str, Mapping[str, Any] | None]:
        spd = obs.steps_per_day
        for rec in recommendations:
            if rec.agent_name == FORECASTER and "load_kwh" in rec.data and "pv_kwh" in rec.data:
                load = _extend(np.asarray(rec.data["load_kwh"], dtype=float), spd, h)
                pv = _extend(np.asarray(rec.data["pv_kwh"], dtype=float), spd, h)
                return load, pv, FORECASTER, rec.data
        load = seasonal_forecast(np.asarray(obs.hist_load_kwh), spd, h)
        pv = seasonal_forecast(np.asarray(obs.hist_pv_kwh), spd, h)
        return load, pv, "seasonal", None

    # ------------------------------------------------------------------ solve
    def plan(
        self, obs: Observation, recommendations: Sequence[Recommendation] = ()
    ) -> dict[str, Any]:
        """The first step of the plan over the horizon: import, storage flows, forecast used."""
        spd = obs.steps_per_day
        h = max(1, min(self.horizon or spd, obs.n_steps - obs.step))
        load, pv, source, fdata = self._forecast(obs, recommendations, h)
        net = load - pv
        prices = tuple(
            _extend(p, spd, h)
            for p in (
                obs.price_day_ahead,
                obs.price_imbalance_buy,
                obs.price_imbalance_sell,
                obs.price_feed_in,
            )
        )
        cs, mb = self._banks(obs)
        storages = self._storages(obs, cs, mb)
        value = None
        if self.terminal_value:
            p_min = float(np.min(prices[0]))
            value = np.array([st.tracks[0].eta_discharge * p_min for st in storages])
        model = self._models.get(h)
        if model is None or len(model.storages) != len(storages):
            lp, layout = build(net, prices, storages, terminal_value_ct_per_kwh=value)  # type: ignore[arg-type]
            hs = new_solver()
            hs.passModel(lp)
            model = _Model(hs, layout, storages)
            self._models[h] = model
        else:
            self._update(model, net, prices, storages, value)
        solve(model.h)
        x = np.asarray(model.h.getSolution().col_value)
        lay = model.layout
        flows: dict[str, float] = {}
        power: dict[str, float] = {}
        for j, st in enumerate(storages):
            f = float(x[lay.charge[j]] - x[lay.discharge[j]])
            flows[st.key] = flows.get(st.key, 0.0) + f
            power[st.key] = power.get(st.key, 0.0) + st.power_kw
        return {
            "import_kwh": float(x[lay.I]),
            "export_kwh": float(x[lay.X]),
            "flows_kwh": flows,
            "power_kw": power,
            "net_kwh": float(net[0]),
            "horizon": h,
            "forecast": source,
            "forecast_data": fdata,
            "has_community_storage": any(st.key != MEMBER_BATTERIES for st in storages),
        }

    @staticmethod
    def _update(
        model: _Model,
        net: np.ndarray,
        prices: tuple[np.ndarray, ...],
        storages: list[LPStorage],
        value: np.ndarray | None,
    ) -> None:
        hs, lay = model.h, model.layout
        T = lay.T
        t = np.arange(T, dtype=np.int32)
        rows = [lay.balance_row + t]
        lo = [net]
        for j, st in enumerate(storages):
            for k, tr in enumerate(st.tracks):
                rows.append(np.array([lay.track_rows[j][k]], dtype=np.int32))
                lo.append(np.array([tr.init]))
        r, b = np.concatenate(rows), np.concatenate(lo)
        hs.changeRowsBounds(r.size, r, b, b)  # type: ignore[attr-defined]
        p_da, p_ib, p_is, p_fi = prices
        cols = [lay.Q + t, lay.S + t, lay.E + t, lay.X + t]
        costs = [p_da, p_ib, -p_is, -p_fi]
        if value is not None:
            for j, st in enumerate(storages):
                cols.append(np.array([lay.track_cols[j][0] + T - 1], dtype=np.int32))
                costs.append(np.array([-float(value[j]) / st.tracks[0].scale]))
        c, v = np.concatenate(cols).astype(np.int32), np.concatenate(costs)
        hs.changeColsCost(c.size, c, v)

    # ------------------------------------------------------------------ decide
    def levers(self, obs: Observation, plan: Mapping[str, Any]) -> Levers:
        dt = obs.dt_h
        surplus = max(-float(plan["net_kwh"]), 0.0)  # forecast surplus the homes will store
        setpoints: dict[str, float] = {}
        for key, flow in plan["flows_kwh"].items():
            p = float(plan["power_kw"].get(key, 0.0)) * dt
            if p <= 0:
                setpoints[key] = 0.0
            elif not self.follow:
                setpoints[key] = float(np.clip(flow / p, -1.0, 1.0))
            elif key != MEMBER_BATTERIES or flow < -1e-9:
                # community storages (and pooled home batteries) steer the import to the
                # procurement; homes on their own self-consume
                setpoints[key] = -1.0
            elif self.pooled:
                setpoints[key] = 0.0  # the procurement target drives the planned charge
            else:
                setpoints[key] = min(max(flow - surplus, 0.0) / p, 1.0)
        q = float(plan["import_kwh"])
        fdata = plan["forecast_data"]
        steered = plan["has_community_storage"] or (self.pooled and MEMBER_BATTERIES in setpoints)
        if not steered and fdata is not None:
            errors = np.asarray(fdata.get("one_step_error_kwh", ()), dtype=float)
            tau = float(fdata.get("newsvendor_tau", 0.5))
            if errors.size >= 6:
                q += float(np.quantile(errors, tau))
        return Levers(
            burn_rate_ct_per_kwh=0.0,
            procurement_kwh=max(q, 0.0),
            storage_setpoints=setpoints,
            storage_follow=self.follow,
            p2p_enabled=True,
            home_batteries_pooled=self.pooled,
        )

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]:
        if obs is None:
            raise ValueError("strategy 'mpc': needs an observation")
        plan = self.plan(obs, recommendations)
        used = (FORECASTER,) if plan["forecast"] == FORECASTER else ()
        decision = Decision(
            action="Follow the rolling-horizon plan.",
            details={},
            timestamp=obs.timestamp,
            parameters=self.levers(obs, plan),
            strategy=self.name,
            step=obs.step,
            followed=used,
            missing=() if used else (FORECASTER,),
            data={
                "plan_import_kwh": plan["import_kwh"],
                "plan_export_kwh": plan["export_kwh"],
                "horizon_steps": plan["horizon"],
                "forecast": plan["forecast"],
            },
        )
        return decision, dict(state)
