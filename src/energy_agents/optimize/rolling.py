"""The rolling-horizon dispatch LP of the ``mpc`` strategy.

:class:`RollingPlanner` plans the storages (each community storage as itself, the homes'
batteries summed per efficiency class) over the next ``horizon`` steps from what an
:class:`~energy_agents.sim.Observation` holds (present energies, known prices, the tariff and
the run's objective) and a given forecast of the community's load, PV and carbon intensity; the
``mpc`` strategy turns the plan's first step into levers. Pure: numpy and highspy, no I/O, and
no strategy types (it returns a :class:`RollingPlan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..sim.observation import Observation
from ..sim.params import MEMBER_BATTERIES, Scenario, StorageBank
from .ev_lp import is_ev_key, observed_ev_storages
from .lp import LPStorage, community_storages, member_storages
from .planning import horizon_terms, plan_horizon, planning_weights
from .tank_lp import is_tank_key, observed_tank_storages, tank_terminal_value

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


def extend_daily(a: np.ndarray, spd: int, length: int) -> np.ndarray:
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


def banks_from_obs(obs: Observation) -> tuple[StorageBank, StorageBank]:
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


@dataclass(frozen=True)
class RollingPlan:
    """The first step of a plan over the horizon [kWh]; storage dicts keyed by lever key
    (EV chargers by ``ev:<name>``, thermal tanks by ``tank:<name>``, in electricity), flows
    ``> 0`` charging."""

    import_kwh: float
    export_kwh: float
    flows_kwh: Mapping[str, float]
    power_kw: Mapping[str, float]
    net_kwh: float  # the forecast community net load of this step
    horizon: int
    has_community_storage: bool


class RollingPlanner:
    """The dispatch LP over the next ``horizon`` steps (default one day) on the run's objective
    and tariff (:mod:`.planning`), built afresh each step (the same observation and forecast
    give the same plan); energy left at the horizon's end is valued at what refilling it would
    cost when ``terminal_value`` (so the plan does not empty the storages because the horizon
    ends). ``scenario`` gives the storages' parameters; without it (live mode) the
    observation's description is used."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        horizon: int | None = None,
        terminal_value: bool = True,
    ) -> None:
        self.scenario = scenario
        self.horizon = horizon
        self.terminal_value = terminal_value

    def horizon_for(self, obs: Observation) -> int:
        return max(1, min(self.horizon or obs.steps_per_day, obs.n_steps - obs.step))

    def _banks(self, obs: Observation) -> tuple[StorageBank, StorageBank]:
        if self.scenario is not None:
            return self.scenario.community_storages, self.scenario.member_batteries
        return banks_from_obs(obs)

    @staticmethod
    def _storages(obs: Observation, cs: StorageBank, mb: StorageBank) -> list[LPStorage]:
        comm_e = np.array([float(obs.storage_energy_kwh.get(n, 0.0)) for n in cs.names])
        member_e = np.asarray(obs.member_soc, dtype=float) * mb.capacity_kwh
        return [
            *community_storages(cs, obs.dt_h, comm_e),
            *member_storages(mb, obs.dt_h, True, member_e),
        ]

    def plan(
        self,
        obs: Observation,
        load_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        carbon_kwh: np.ndarray,
        tank_demand_kwh: np.ndarray | None = None,
    ) -> RollingPlan:
        """Solve over ``horizon_for(obs)`` steps on the forecast (``load_kwh``, ``pv_kwh``,
        ``carbon_kwh``: the grid's carbon intensity; ``tank_demand_kwh``: each thermal tank's
        demand ahead, ``(n_tanks, >= horizon)``, None: the tanks are not planned)."""
        spd = obs.steps_per_day
        h = self.horizon_for(obs)
        load = np.asarray(load_kwh, dtype=float)[:h]
        pv = np.asarray(pv_kwh, dtype=float)[:h]
        prices = tuple(
            extend_daily(p, spd, h)
            for p in (
                obs.price_day_ahead,
                obs.price_imbalance_buy,
                obs.price_imbalance_sell,
                obs.price_feed_in,
            )
        )
        storages = self._storages(obs, *self._banks(obs)) + observed_ev_storages(obs, h)
        if tank_demand_kwh is not None and obs.tank_names:
            demand = np.asarray(tank_demand_kwh, dtype=float).reshape(len(obs.tank_names), -1)
            storages += observed_tank_storages(
                obs, np.array([extend_daily(row, spd, h) for row in demand])
            )
        carbon = extend_daily(carbon_kwh, spd, h)
        weights = planning_weights(obs, load, pv, carbon)
        terms = horizon_terms(obs, weights, h)
        value = None
        if self.terminal_value:
            refill = weights.tokens * float(np.min(prices[0])) + float(weights.import_carbon.min())
            value = np.array(  # an EV's energy leaves with it
                [
                    0.0
                    if is_ev_key(st.key)
                    else tank_terminal_value(obs, st.key, refill)
                    if is_tank_key(st.key)
                    else st.tracks[0].eta_discharge * refill
                    for st in storages
                ]
            )
        plan = plan_horizon(load - pv, prices, storages, terms, value)  # type: ignore[arg-type]
        flows: dict[str, float] = {}
        power: dict[str, float] = {}
        for j, st in enumerate(storages):
            f = float(plan.charge_kwh[j, 0] - plan.discharge_kwh[j, 0])
            flows[st.key] = flows.get(st.key, 0.0) + f
            power[st.key] = power.get(st.key, 0.0) + st.power_kw
        return RollingPlan(
            import_kwh=float(plan.import_kwh[0]),
            export_kwh=float(plan.export_kwh[0]),
            flows_kwh=flows,
            power_kw=power,
            net_kwh=float(load[0] - pv[0]),
            horizon=h,
            has_community_storage=any(
                st.key != MEMBER_BATTERIES and not is_ev_key(st.key) and not is_tank_key(st.key)
                for st in storages
            ),
        )
