"""What a run minimizes and is judged on: an :class:`Objective` (docs/model.md, "Objective").

An objective is a weighted sum of terms of one run, in CT (community tokens):

    J = tokens * tokens_spent
      + carbon_ct_per_kg * carbon_kg            (of the grid imports)
      + peak_ct_per_kw * sum_days(peak import of the day [kW])
      + ramping_ct_per_kwh * R                  (R = sum_t |E_t - E_(t-1)|, E the district net)
      + shares of a score against the no-control run (the ``citylearn2022`` preset):
        cost * tokens_spent / C0 + carbon * G / G0 + ramping * R / R0
        + load_factor * (1 - L) / (1 - L0)       (linearized, see :func:`load_factor_weights`)

with C0, G0, R0 and 1 - L0 the CityLearn 2022 terms of the no-control run
(:mod:`energy_agents.sim.grid`). The tariff's demand charge and overrun costs are part of
``tokens_spent`` already (they are what the community pays). Every term is convex and
piecewise linear in a run's flows, so the perfect-foresight LP minimizes ``J`` exactly and
its optimum is a lower bound on ``J`` for every strategy.

Presets (:data:`PRESETS`): ``cost`` (tokens only), ``carbon`` (tokens plus carbon at the US
EPA's 2023 social cost of carbon, $190/t, with 1 CT taken as $1), ``citylearn2022`` (the
CityLearn Challenge 2022's score mean(C, G, mean(R, 1 - L)), each against the no-control run).
``Objective.parse("cost,carbon_ct_per_kg=0.1")`` starts from a preset and overrides weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

ABSOLUTE_TERMS = ("tokens", "carbon_ct_per_kg", "peak_ct_per_kw", "ramping_ct_per_kwh")
SHARE_TERMS = ("cost_share", "carbon_share", "ramping_share", "load_factor_share")


class ObjectiveError(ValueError):
    """An objective that cannot be read; the message names the field."""


@dataclass(frozen=True)
class Objective:
    """Weights of the terms of ``J`` (module docstring); all finite and >= 0."""

    name: str = "cost"
    tokens: float = 1.0
    """Weight of tokens spent [CT per CT]."""
    carbon_ct_per_kg: float = 0.0
    """Price of carbon [CT per kg CO2] on the grid imports."""
    peak_ct_per_kw: float = 0.0
    """Price of each simulation day's peak import [CT per kW]."""
    ramping_ct_per_kwh: float = 0.0
    """Price of ramping [CT per kWh of |E_t - E_(t-1)|]."""
    cost_share: float = 0.0
    """Share of ``tokens_spent / C0`` in a score against the no-control run."""
    carbon_share: float = 0.0
    """Share of ``G / G0`` (carbon of the district's net import)."""
    ramping_share: float = 0.0
    """Share of ``R / R0``."""
    load_factor_share: float = 0.0
    """Share of ``(1 - L) / (1 - L0)``, L the mean over 730-hour blocks of mean(E) / max(E)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ObjectiveError("objective.name: must be a non-empty string")
        for key in (*ABSOLUTE_TERMS, *SHARE_TERMS):
            v = getattr(self, key)
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or v < 0
            ):
                raise ObjectiveError(f"objective.{key}: must be a finite number >= 0, got {v!r}")
            object.__setattr__(self, key, float(v))
        if not any(getattr(self, k) > 0 for k in (*ABSOLUTE_TERMS, *SHARE_TERMS)):
            raise ObjectiveError("objective: every weight is 0; nothing to minimize")

    @property
    def normalized(self) -> bool:
        """True when a term is a share of a score against the no-control run."""
        return any(getattr(self, k) > 0 for k in SHARE_TERMS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Objective:
        if not isinstance(data, Mapping):
            raise ObjectiveError("objective: must be an object")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ObjectiveError(
                    f"objective.{key}: unknown weight; known: {', '.join(sorted(known))}"
                )
        return cls(**dict(data))

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``PRESET`` or ``PRESET,key=value,...`` or ``key=value,...`` (from ``cost``)."""
        if not isinstance(text, str) or not text.strip():
            raise ObjectiveError(f"objective: expected a preset ({', '.join(PRESETS)}) or weights")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        base = PRESETS["cost"]
        if parts and "=" not in parts[0]:
            name = parts.pop(0)
            if name not in PRESETS:
                raise ObjectiveError(
                    f"objective: unknown preset {name!r}; known: {', '.join(PRESETS)}"
                )
            base = PRESETS[name]
        if not parts:
            return base
        overrides: dict[str, float] = {}
        known = set(ABSOLUTE_TERMS) | set(SHARE_TERMS)
        for part in parts:
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in known:
                raise ObjectiveError(
                    f"objective.{key or part}: unknown weight; known: {', '.join(sorted(known))}"
                )
            try:
                overrides[key] = float(value)
            except ValueError:
                raise ObjectiveError(
                    f"objective.{key}: {value.strip()!r} is not a number"
                ) from None
        label = ",".join([base.name, *(f"{k}={v:g}" for k, v in overrides.items())])
        return replace(base, name=label, **overrides)


PRESETS: dict[str, Objective] = {
    "cost": Objective("cost"),
    "carbon": Objective("carbon", carbon_ct_per_kg=0.19),
    "citylearn2022": Objective(
        "citylearn2022",
        tokens=0.0,
        cost_share=1 / 3,
        carbon_share=1 / 3,
        ramping_share=1 / 6,
        load_factor_share=1 / 6,
    ),
}
"""Named objectives (``--objective NAME``)."""
