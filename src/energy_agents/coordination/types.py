"""The AI Manager's coordinated decision: the seed's fields plus the levers it sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..advisors.types import Recommendation
from ..sim.levers import Levers
from ..sim.observation import Observation


@dataclass(frozen=True)
class Decision:
    """``action``, ``details`` and ``timestamp`` keep the seed's ``/aggregate`` shape;
    ``parameters`` are the levers applied to the step. ``followed``/``overridden``/``missing``
    list agent names: advice taken, advice outvoted or changed, advisors that did not answer."""

    action: str
    details: Mapping[str, int]
    timestamp: str
    parameters: Levers
    strategy: str
    step: int
    followed: Sequence[str] = ()
    overridden: Sequence[str] = ()
    missing: Sequence[str] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "details": dict(self.details),
            "timestamp": self.timestamp,
            "parameters": self.parameters.to_dict(),
            "strategy": self.strategy,
            "step": self.step,
            "followed": list(self.followed),
            "overridden": list(self.overridden),
            "missing": list(self.missing),
            "data": dict(self.data),
        }


def make_decision(
    strategy: str,
    obs: Observation | None,
    levers: Levers,
    action: str,
    *,
    details: Mapping[str, int] | None = None,
    followed: Sequence[str] = (),
    overridden: Sequence[str] = (),
    missing: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
) -> Decision:
    """Every strategy's decision, built one way: the step and the (simulated) timestamp come
    from the observation it decides (none: step 0 and no timestamp, the seed's use).
    Every field is set at once (the frozen ``__init__`` spends about 2 us a step on one
    ``object.__setattr__`` per field)."""
    decision = object.__new__(Decision)
    decision.__dict__.update(
        action=action,
        details=dict(details or {}),
        timestamp=obs.timestamp if obs is not None else "",
        parameters=levers,
        strategy=strategy,
        step=obs.step if obs is not None else 0,
        followed=tuple(followed),
        overridden=tuple(overridden),
        missing=tuple(missing),
        data=dict(data or {}),
    )
    return decision


class Strategy(Protocol):
    """A coordination strategy. ``decide`` is pure given its inputs: any memory it needs
    (track records, learned weights) travels in ``state``, a JSON-serializable dict that the
    caller keeps (the batch loop in memory, the server in its database)."""

    name: str
    uses_advisors: bool

    def decide(
        self,
        obs: Observation | None,
        recommendations: Sequence[Recommendation],
        state: Mapping[str, Any],
    ) -> tuple[Decision, dict[str, Any]]: ...
