"""Scenario builders: ``synthetic`` (the embedded default), ``citylearn:PATH``, ``csv:PATH``.

:func:`load_scenario` is the one entry point the CLI, the runner and the benchmarks use. Every
bad input raises :class:`~energy_agents.sim.params.ScenarioError` whose message names the
file and the column or field; nothing is simulated before the scenario is complete and valid.
See docs/scenarios.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..sim.objective import Objective, ObjectiveError
from ..sim.params import Scenario, ScenarioError, Tariff

SCENARIO_KINDS = ("synthetic", "citylearn:PATH", "csv:PATH")


def load_scenario(
    spec: str,
    *,
    members: int | None = None,
    days: int | None = None,
    seed: int = 0,
    community_storage: bool | None = None,
    flexible_share: float | None = None,
    tariff: Mapping[str, Any] | None = None,
    objective: str | Objective | None = None,
    ev_share: float | None = None,
    heat_pump_share: float | None = None,
) -> Scenario:
    """Build the scenario named by ``spec``.

    ``spec`` is ``"synthetic"``, ``"citylearn:PATH"`` (a CityLearn dataset folder or its
    ``schema.json``) or ``"csv:PATH"`` (a folder or a ``members.csv``-style file in the plain
    CSV format). ``members`` sets the community size of ``synthetic`` (default 20) and keeps
    the first ``members`` members of a dataset; ``days`` cuts the horizon to whole days from
    the start; ``seed`` drives the synthetic generator. ``community_storage`` and
    ``flexible_share`` override each kind's default (synthetic: storages on, 0.15; CityLearn:
    off, 0; CSV: as the files say). ``tariff`` overrides components of the kind's tariff
    (``Tariff`` fields; synthetic: a demand charge and connection limits, CityLearn: none, CSV:
    ``scenario.json``); ``objective`` replaces the scenario's (a preset name, ``"PRESET,key=v"``,
    or an :class:`Objective`). ``ev_share``: the share of synthetic homes with an EV (default 0;
    the datasets have the EVs their files describe, so it is refused for them); ``heat_pump_share``
    likewise for heat pumps.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ScenarioError(f"scenario {spec!r}: expected one of {', '.join(SCENARIO_KINDS)}")
    if members is not None and (isinstance(members, bool) or members < 1):
        raise ScenarioError(f"members: must be a positive integer, got {members!r}")
    if days is not None and (isinstance(days, bool) or days < 1):
        raise ScenarioError(f"days: must be a positive integer, got {days!r}")
    if flexible_share is not None and not 0.0 <= flexible_share <= 1.0:
        raise ScenarioError(f"flexible_share: must be within [0, 1], got {flexible_share!r}")
    kind, sep, path = spec.partition(":")
    kind = kind.strip().lower()
    for key, share in (("ev_share", ev_share), ("heat_pump_share", heat_pump_share)):
        if share is None:
            continue
        if not 0.0 <= share <= 1.0:
            raise ScenarioError(f"{key}: must be within [0, 1], got {share!r}")
        if not (kind == "synthetic" and not sep):
            raise ScenarioError(
                f"{key}: only for the synthetic scenario (a dataset has the devices its files "
                "describe)"
            )
    if kind == "synthetic" and not sep:
        from .synthetic import DEFAULT_FLEXIBLE_SHARE, DEFAULT_MEMBERS, build_synthetic

        scenario = build_synthetic(
            DEFAULT_MEMBERS if members is None else members,
            seed=seed,
            community_storage=True if community_storage is None else community_storage,
            flexible_share=DEFAULT_FLEXIBLE_SHARE if flexible_share is None else flexible_share,
            ev_share=0.0 if ev_share is None else ev_share,
            heat_pump_share=0.0 if heat_pump_share is None else heat_pump_share,
        )
    elif kind == "citylearn" and path:
        from .citylearn import load_citylearn

        scenario = load_citylearn(
            path,
            members=members,
            community_storage=bool(community_storage),
            flexible_share=0.0 if flexible_share is None else flexible_share,
        )
    elif kind == "csv" and path:
        from .csv_format import load_csv

        scenario = load_csv(
            path,
            members=members,
            community_storage=community_storage,
            flexible_share=flexible_share,
        )
    else:
        raise ScenarioError(
            f"scenario {spec!r}: unknown scenario; expected one of {', '.join(SCENARIO_KINDS)}"
        )
    if days is not None:
        scenario = scenario.head(days * scenario.steps_per_day)
    return with_tariff_and_objective(scenario, tariff, objective)


def with_tariff_and_objective(
    scenario: Scenario,
    tariff: Mapping[str, Any] | None = None,
    objective: str | Objective | None = None,
) -> Scenario:
    """``scenario`` with tariff components overridden and its objective replaced."""
    changes: dict[str, Any] = {}
    if tariff:
        merged = {**scenario.tariff.to_dict(), **dict(tariff)}
        changes["tariff"] = Tariff.from_dict(merged)
    if objective is not None:
        try:
            changes["objective"] = (
                objective if isinstance(objective, Objective) else Objective.parse(objective)
            )
        except ObjectiveError as exc:
            raise ScenarioError(str(exc)) from None
    return replace(scenario, **changes) if changes else scenario


__all__ = [
    "SCENARIO_KINDS",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "with_tariff_and_objective",
]
