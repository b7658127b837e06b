"""The levers a decision sets for one step: one typed object, every field documented.

``Levers`` is what the AI Manager's ``Decision.parameters`` holds and what ``Community.step``
applies. Values outside physical limits are clipped (``clipped``), never raised mid-run; parsing
untrusted input (``from_dict``) raises :class:`LeverError` naming the field instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

P2P_PRICE_RULES = ("midpoint", "sdr", "buyer", "seller")
"""How a P2P match is priced between feed-in (sellers' alternative) and import (buyers').

- ``midpoint``: half-way, a k=0.5 double auction (the default);
- ``sdr``: supply-demand ratio pricing: the scarcer side captures more of the gain;
- ``buyer`` / ``seller``: all the gain to buyers (price = feed-in) / sellers (price = import).
The rule moves CT between members; the community's total cost depends on the volume only.
"""


class LeverError(ValueError):
    """Untrusted lever values that cannot be read; the message names the field."""


class Setpoints(Mapping[str, float]):
    """Setpoints of named devices held as one array in the names' order.

    A read-only ``Mapping`` (name -> float) wherever levers are read, and an array for the
    step: at thousands of EVs or home batteries a dict costs the step a Python loop per device
    twice (into the clipped levers, and back into an array). A strategy steering a large
    community passes ``Setpoints(scenario.evs.names, array)``; :meth:`Levers.clipped` returns
    them for every per-device lever whatever it was given."""

    __slots__ = ("_index", "array", "names")

    def __init__(self, names: tuple[str, ...], values: Any) -> None:
        array = np.asarray(values, dtype=float)
        if array.shape != (len(names),):
            raise LeverError(f"setpoints: {len(names)} names but values of shape {array.shape}")
        self.names = tuple(names)
        self.array = array
        self._index: dict[str, int] | None = None

    def __getitem__(self, name: str) -> float:
        if self._index is None:
            self._index = {n: i for i, n in enumerate(self.names)}
        return float(self.array[self._index[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"Setpoints({self.to_dict()!r})"

    def to_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.array.tolist(), strict=True))


def as_dict(setpoints: Mapping[str, float]) -> dict[str, float]:
    """A plain dict of any setpoints mapping (JSON, comparisons)."""
    if isinstance(setpoints, Setpoints):
        return setpoints.to_dict()
    return dict(setpoints)


def setpoint_array(setpoints: Mapping[str, float], names: tuple[str, ...]) -> np.ndarray:
    """Per name in ``names`` its setpoint, NaN where ``setpoints`` has none (a charger without
    one charges uncontrolled, a tank stays idle)."""
    if isinstance(setpoints, Setpoints) and (setpoints.names is names or setpoints.names == names):
        return setpoints.array
    if len(setpoints) == len(names) and tuple(setpoints) == names:
        return np.fromiter(setpoints.values(), float, len(names))
    return np.array([setpoints.get(n, np.nan) for n in names], dtype=float)


@dataclass(frozen=True)
class Levers:
    """What one step does. Defaults are the no-control baseline (``none`` strategy)."""

    burn_rate_ct_per_kwh: float = 0.0
    """CT burned per kWh of *flexible* load drawn from the grid in this step. The demand
    response signal: flexible load defers a share ``min(1, elasticity * burn / import_price)``
    to later in the day. Clipped to ``[0, scenario.max_burn_rate_ct_per_kwh]``."""

    procurement_kwh: float = 0.0
    """Energy bought ahead at the day-ahead price for this step. The realized import above it is
    bought at the imbalance buy price, the part not used is sold at the imbalance sell price.
    Clipped to ``>= 0``."""

    storage_setpoints: Mapping[str, float] = field(default_factory=dict)
    """Scheduled power per storage as a fraction of its rated power, in ``[-1, 1]``, ``> 0``
    charging. Keys are ``scenario.storage_names`` (``storage_A``, ... and ``members`` for the
    homes' own batteries, each at its own rating). Missing keys mean 0 (idle). This is the
    "grid buy/sell for storage": a scheduled flow not covered locally goes to the grid."""

    storage_follow: bool = False
    """Local real-time control on top of the schedule: each home battery absorbs its home's
    residual surplus and covers its residual deficit; community storages steer the community's
    grid exchange toward ``procurement_kwh`` (only while P2P is on, since they reach members'
    energy through the local market)."""

    p2p_enabled: bool = False
    """Match members' surpluses with deficits on the local market before the grid."""

    home_batteries_pooled: bool = False
    """With ``storage_follow`` and P2P on: the home batteries act as one pool that steers the
    community's grid exchange toward ``procurement_kwh`` (an aggregator dispatching them; what
    a battery gives beyond its own home reaches neighbours through the local market), each
    battery's ``members`` setpoint still its floor, shared in proportion to each battery's
    room. Off: each home battery follows its own home's residual."""

    p2p_price_rule: str = "midpoint"
    """One of :data:`P2P_PRICE_RULES`."""

    exchange_target_kwh: float | None = None
    """The community's net exchange with the grid this step (import - export [kWh], < 0 an
    export) that the steering storages (community storages, pooled home batteries) move it
    toward. None: the procurement (so storages cover what was not bought ahead). A plan that
    wants to export part of a surplus, or to take a smooth import, says so here."""

    battery_setpoints: Mapping[str, float] = field(default_factory=dict)
    """Per home battery (keys: the scenario's member names): its own setpoint, in place of the
    ``members`` one, as a fraction in ``[-1, 1]`` of that battery's rated power, with the same
    meaning (a schedule; a floor with ``storage_follow``). A battery without a key follows the
    ``members`` setpoint. For plans that run batteries of different models differently (the
    ``optimal`` plan of a neighbourhood of several battery models)."""

    ev_setpoints: Mapping[str, float] = field(default_factory=dict)
    """Charging power per EV charger as a fraction in ``[-1, 1]`` (of its charge power; below
    0, of its discharge power: V2G where the charger allows it). Keys are the scenario's
    charger names. A charger without a key charges uncontrolled (full power on arrival until
    the required SOC). With ``storage_follow`` the setpoint is a floor and the EV also absorbs
    its home's surplus. Whatever is asked, the charger takes at least what keeps the
    departure SOC reachable (docs/model.md)."""

    appliance_start: Mapping[str, bool] = field(default_factory=dict)
    """Per flexible appliance (CityLearn's washing machines): while one of its jobs waits,
    start it now (true) or wait (false). An appliance without a key starts a job as its window
    opens; a job still waiting at its window's last step starts then whatever is asked."""

    thermal_setpoints: Mapping[str, float] = field(default_factory=dict)
    """Per thermal storage tank (keys: the scenario's tank names, ``Building_1/dhw``...):
    charge (> 0) or discharge (< 0) as a fraction in ``[-1, 1]`` of its capacity per hour
    (CityLearn's ``dhw_storage``/``cooling_storage``/``heating_storage`` actions). Charging
    runs the tank's heat pump or heater above the demand (within its power); discharging
    serves the demand from the tank instead. A tank without a key is idle; the demand is
    always served (docs/model.md)."""

    @property
    def steering_target_kwh(self) -> float:
        return (
            self.procurement_kwh if self.exchange_target_kwh is None else self.exchange_target_kwh
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "burn_rate_ct_per_kwh": self.burn_rate_ct_per_kwh,
            "procurement_kwh": self.procurement_kwh,
            "storage_setpoints": dict(self.storage_setpoints),
            "storage_follow": self.storage_follow,
            "p2p_enabled": self.p2p_enabled,
            "home_batteries_pooled": self.home_batteries_pooled,
            "p2p_price_rule": self.p2p_price_rule,
            "exchange_target_kwh": self.exchange_target_kwh,
            "battery_setpoints": as_dict(self.battery_setpoints),
            "ev_setpoints": as_dict(self.ev_setpoints),
            "appliance_start": dict(self.appliance_start),
            "thermal_setpoints": as_dict(self.thermal_setpoints),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Levers:
        """Parse untrusted JSON; unknown keys are refused so typos do not pass silently."""
        if not isinstance(data, Mapping):
            raise LeverError("parameters: must be an object")
        known = set(cls.__dataclass_fields__)
        for key in data:
            if key not in known:
                raise LeverError(f"parameters.{key}: unknown lever")
        kwargs: dict[str, Any] = {}
        for key in ("burn_rate_ct_per_kwh", "procurement_kwh"):
            if key in data:
                kwargs[key] = _number(f"parameters.{key}", data[key])
        for key in ("storage_setpoints", "battery_setpoints", "ev_setpoints", "thermal_setpoints"):
            if key in data:
                sp = data[key]
                if not isinstance(sp, Mapping):
                    raise LeverError(f"parameters.{key}: must be an object")
                kwargs[key] = {str(k): _number(f"parameters.{key}.{k}", v) for k, v in sp.items()}
        if "appliance_start" in data:
            starts = data["appliance_start"]
            if not isinstance(starts, Mapping):
                raise LeverError("parameters.appliance_start: must be an object")
            for k, v in starts.items():
                if not isinstance(v, bool):
                    raise LeverError(f"parameters.appliance_start.{k}: must be true or false")
            kwargs["appliance_start"] = {str(k): v for k, v in starts.items()}
        if data.get("exchange_target_kwh") is not None:
            kwargs["exchange_target_kwh"] = _number(
                "parameters.exchange_target_kwh", data["exchange_target_kwh"]
            )
        for key in ("storage_follow", "p2p_enabled", "home_batteries_pooled"):
            if key in data:
                if not isinstance(data[key], bool):
                    raise LeverError(f"parameters.{key}: must be true or false")
                kwargs[key] = data[key]
        if "p2p_price_rule" in data:
            rule = data["p2p_price_rule"]
            if rule not in P2P_PRICE_RULES:
                raise LeverError(
                    f"parameters.p2p_price_rule: must be one of {list(P2P_PRICE_RULES)}"
                )
            kwargs["p2p_price_rule"] = rule
        return cls(**kwargs)

    def clipped(
        self,
        storage_names: tuple[str, ...],
        max_burn_rate: float,
        ev_names: tuple[str, ...] = (),
        appliance_names: tuple[str, ...] = (),
        tank_names: tuple[str, ...] = (),
        battery_names: tuple[str, ...] = (),
    ) -> Levers:
        """The same levers within physical limits; NaN counts as 0, unknown storages and
        chargers are dropped (a charger without a setpoint stays without one). ``battery_names``:
        the members with a home battery (other keys of ``battery_setpoints`` are dropped)."""
        setpoints = {
            name: _clip(float(self.storage_setpoints.get(name, 0.0)), -1.0, 1.0)
            for name in storage_names
        }
        # Only the keys given, in the scenario's order: a charger without one stays
        # uncontrolled, a tank idle, a battery on the ``members`` setpoint.
        ev_setpoints = _fractions(self.ev_setpoints, ev_names)
        thermal = _fractions(self.thermal_setpoints, tank_names)
        batteries = _fractions(self.battery_setpoints, battery_names)
        rule = self.p2p_price_rule if self.p2p_price_rule in P2P_PRICE_RULES else "midpoint"
        target = self.exchange_target_kwh
        # Every field, set at once: ``dataclasses.replace`` costs several times more per step,
        # and the frozen ``__init__`` spends about 2 us on one ``object.__setattr__`` per field.
        out = object.__new__(Levers)
        out.__dict__.update(
            burn_rate_ct_per_kwh=_clip(float(self.burn_rate_ct_per_kwh), 0.0, max_burn_rate),
            procurement_kwh=_clip(float(self.procurement_kwh), 0.0, math.inf),
            storage_setpoints=setpoints,
            storage_follow=bool(self.storage_follow),
            p2p_enabled=bool(self.p2p_enabled),
            home_batteries_pooled=bool(self.home_batteries_pooled),
            p2p_price_rule=rule,
            exchange_target_kwh=None
            if target is None or math.isnan(float(target))
            else _clip(float(target), -math.inf, math.inf),
            battery_setpoints=batteries,
            ev_setpoints=ev_setpoints,
            appliance_start={
                n: bool(v) for n, v in self.appliance_start.items() if n in appliance_names
            }
            if self.appliance_start
            else {},
            thermal_setpoints=thermal,
        )
        return out


def _fractions(given: Mapping[str, float], names: tuple[str, ...]) -> Mapping[str, float]:
    """The keys of ``given`` that are in ``names`` (in that order), clipped to [-1, 1], NaN 0,
    as :class:`Setpoints`; vectorized: a setpoint per EV or battery of thousands of homes."""
    if not given:
        return {}
    if isinstance(given, Setpoints) and (given.names is names or given.names == names):
        keys: tuple[str, ...] = names  # an array already, in the scenario's order
        values = given.array
    elif len(given) == len(names) and tuple(given) == names:  # every name, in order: the usual
        keys = names
        values = np.fromiter(given.values(), float, len(names))
    else:
        keys = tuple(n for n in names if n in given)
        values = np.fromiter((given[n] for n in keys), float, len(keys))
    # A new array (never the caller's); np.clip's wrapper costs more, and NaN stays NaN here.
    values = np.minimum(np.maximum(values, -1.0), 1.0)
    nan = np.isnan(values)
    if nan.any():
        values[nan] = 0.0
    return Setpoints(keys, values)


def _clip(x: float, lo: float, hi: float) -> float:
    if math.isnan(x):
        return 0.0 if lo <= 0.0 <= hi else lo
    return min(max(x, lo), hi)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LeverError(f"{name}: must be a number")
    if not math.isfinite(value):
        raise LeverError(f"{name}: must be finite")
    return float(value)
