"""Strategies keyed by name: ``--strategy NAME`` and ``/aggregate?strategy=NAME`` look here."""

from __future__ import annotations

from collections.abc import Callable

from ..sim.params import Scenario
from .baseline import NoControl
from .types import Strategy

StrategyFactory = Callable[[Scenario | None], Strategy]
"""Builds a strategy; ``optimal`` needs the whole scenario (perfect foresight), others ignore it."""

STRATEGIES: dict[str, StrategyFactory] = {
    "none": lambda scenario: NoControl(),
    "seed": lambda scenario: _seed(),
    "weighted": lambda scenario: _weighted(),
    "learned": lambda scenario: _learned(),
    "mpc": lambda scenario: _mpc(scenario),
    "optimal": lambda scenario: _optimal(scenario),
}


def _seed() -> Strategy:
    from .seed import SeedRule

    return SeedRule()


def _mpc(scenario: Scenario | None) -> Strategy:
    from .mpc import MPCStrategy

    return MPCStrategy(scenario)


def _optimal(scenario: Scenario | None) -> Strategy:
    from .optimal import OptimalStrategy

    return OptimalStrategy(scenario)


def _weighted() -> Strategy:
    from .weighted import Weighted

    return Weighted()


def _learned() -> Strategy:
    from .learned import Learned

    return Learned()


class UnknownStrategyError(KeyError):
    def __str__(self) -> str:
        return f"strategy: unknown {self.args[0]!r}; known: {', '.join(sorted(STRATEGIES))}"


def make_strategy(name: str, scenario: Scenario | None = None) -> Strategy:
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(name) from None
    return factory(scenario)
