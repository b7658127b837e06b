"""The sweep file (TOML, docs/sweep.md): scenarios, strategies, objectives and tariff variants
crossed, and/or an explicit list of cases. Every problem is collected and reported at once,
each naming its entry (``scenarios #2: path: ...``), before anything runs."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..coordination.registry import STRATEGIES
from ..sim.objective import Objective, ObjectiveError
from ..sim.params import ScenarioError, Tariff
from .case import KINDS, Case

SWEEP_KEYS = {"strategies", "objectives", "tariffs", "days"}
SCENARIO_KEYS = {
    "kind",
    "path",
    "members",
    "seeds",
    "days",
    "community_storage",
    "flexible_share",
}
CASE_KEYS = {
    "scenario",
    "members",
    "seed",
    "days",
    "strategy",
    "objective",
    "tariff",
    "community_storage",
    "flexible_share",
}
TOP_KEYS = {"sweep", "tariffs", "scenarios", "cases"}
TARIFF_KEYS = set(Tariff.__dataclass_fields__)
DEFAULT_TARIFF = "default"  # the scenario's own tariff


class SweepError(ValueError):
    """A sweep file that cannot be run; one line per bad entry."""


@dataclass
class Sweep:
    path: Path
    cases: list[Case]


class _Errors:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{where}: {message}")


def load_sweep(path: Path) -> Sweep:
    """Read and check ``path``; raises :class:`SweepError` naming every bad entry."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepError(f"sweep file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"sweep file {path}: not valid TOML: {exc}") from None
    errors = _Errors()
    cases = parse_sweep(data, path.resolve().parent, errors)
    if errors.lines:
        raise SweepError(f"sweep file {path}:\n  " + "\n  ".join(errors.lines))
    return Sweep(path, cases)


def parse_sweep(data: dict[str, Any], base: Path, errors: _Errors) -> list[Case]:
    _unknown(data, TOP_KEYS, "sweep file", errors)
    head = _table(data.get("sweep", {}), "[sweep]", errors)
    _unknown(head, SWEEP_KEYS, "[sweep]", errors)
    tariffs = _tariffs(data.get("tariffs", {}), errors)
    default_days = _opt_positive(head, "days", "[sweep]", errors)

    cases: list[tuple[str, Case]] = []
    scenarios = _array(data, "scenarios", errors)
    if scenarios:
        strategies = _names(head, "strategies", "[sweep]", errors, _strategy_error, required=True)
        objectives: list[str | None] = list(
            _names(head, "objectives", "[sweep]", errors, _objective_error) or [None]
        )
        variants = _names(
            head, "tariffs", "[sweep]", errors, lambda n: _tariff_error(n, tariffs)
        ) or [DEFAULT_TARIFF, *tariffs]
        for i, entry in enumerate(scenarios, 1):
            where = f"scenarios #{i}"
            for base_case in _scenario_entry(entry, where, base, default_days, errors):
                for strategy in strategies:
                    for objective in objectives:
                        for variant in variants:
                            case = _with(base_case, strategy, objective, variant, tariffs)
                            cases.append((where, case))
    elif ("strategies" in head or "objectives" in head) and not data.get("cases"):
        errors.add("[sweep]", "strategies are given but there is no [[scenarios]] entry")
    for i, entry in enumerate(_array(data, "cases", errors), 1):
        case = _case_entry(entry, f"cases #{i}", base, default_days, tariffs, errors)
        if case is not None:
            cases.append((f"cases #{i}", case))
    if not cases and not errors.lines:
        errors.add(
            "sweep file", "no cases: give [[scenarios]] with [sweep] strategies, or [[cases]]"
        )
    seen: dict[str, str] = {}
    unique: list[Case] = []
    for where, case in cases:
        if case.id in seen:
            errors.add(where, f"the case {case.label} is already given by {seen[case.id]}")
            continue
        seen[case.id] = where
        unique.append(case)
    return unique


def _scenario_entry(
    entry: Any, where: str, base: Path, default_days: int | None, errors: _Errors
) -> list[Case]:
    if not isinstance(entry, dict):
        errors.add(where, "expected a table")
        return []
    _unknown(entry, SCENARIO_KEYS, where, errors)
    kind = entry.get("kind")
    if kind not in KINDS:
        errors.add(where, f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        return []
    path = _data_path(kind, entry.get("path"), where, base, errors)
    members = _int_list(entry, "members", where, errors, minimum=1) or [None]
    if kind == "synthetic":
        seeds: list[int | None] = list(_int_list(entry, "seeds", where, errors) or [0])
    else:
        if "seeds" in entry:
            errors.add(where, f"seeds: only a synthetic scenario has seeds (kind is {kind!r})")
        seeds = [0]
    days = _opt_positive(entry, "days", where, errors) or default_days
    storage = _opt_bool(entry, "community_storage", where, errors)
    share = _opt_share(entry, where, errors)
    if path is None and kind != "synthetic":
        return []
    return [
        Case(
            kind=kind,
            strategy="none",
            path=path,
            members=m,
            seed=s or 0,
            days=days,
            community_storage=storage,
            flexible_share=share,
        )
        for m in members
        for s in seeds
    ]


def _case_entry(
    entry: Any,
    where: str,
    base: Path,
    default_days: int | None,
    tariffs: dict[str, dict[str, Any]],
    errors: _Errors,
) -> Case | None:
    if not isinstance(entry, dict):
        errors.add(where, "expected a table")
        return None
    _unknown(entry, CASE_KEYS, where, errors)
    n = len(errors.lines)
    spec = entry.get("scenario")
    if not isinstance(spec, str):
        errors.add(where, f"scenario: expected synthetic, citylearn:PATH or csv:PATH, got {spec!r}")
        return None
    kind, sep, raw = spec.partition(":")
    if kind not in KINDS or (kind == "synthetic") == bool(sep):
        errors.add(where, f"scenario: expected synthetic, citylearn:PATH or csv:PATH, got {spec!r}")
        return None
    path = _data_path(kind, raw if sep else None, where, base, errors)
    strategy = entry.get("strategy")
    if (msg := _strategy_error(strategy)) is not None:
        errors.add(where, f"strategy: {msg}")
    objective = entry.get("objective")
    if objective is not None and (msg := _objective_error(objective)) is not None:
        errors.add(where, f"objective: {msg}")
    variant = entry.get("tariff", DEFAULT_TARIFF)
    if (msg := _tariff_error(variant, tariffs)) is not None:
        errors.add(where, f"tariff: {msg}")
    members = _opt_positive(entry, "members", where, errors)
    seed = entry.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        errors.add(where, f"seed: expected an integer, got {seed!r}")
    elif kind != "synthetic" and "seed" in entry:
        errors.add(where, f"seed: only a synthetic scenario has a seed (scenario is {kind!r})")
    days = _opt_positive(entry, "days", where, errors) or default_days
    storage = _opt_bool(entry, "community_storage", where, errors)
    share = _opt_share(entry, where, errors)
    if len(errors.lines) > n:
        return None
    case = Case(
        kind=kind,
        strategy="none",
        path=path,
        members=members,
        seed=seed,
        days=days,
        community_storage=storage,
        flexible_share=share,
    )
    return _with(case, strategy, objective, variant, tariffs)


def _with(
    case: Case,
    strategy: str,
    objective: str | None,
    variant: str,
    tariffs: dict[str, dict[str, Any]],
) -> Case:
    from dataclasses import replace

    return replace(
        case,
        strategy=strategy,
        objective=objective,
        tariff_name=variant,
        tariff=dict(tariffs.get(variant, {})),
    )


def _tariffs(raw: Any, errors: _Errors) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        errors.add("[tariffs]", "expected tables [tariffs.NAME]")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, table in raw.items():
        where = f"[tariffs.{name}]"
        if name == DEFAULT_TARIFF:
            errors.add(where, f"{DEFAULT_TARIFF!r} is the scenario's own tariff; pick another name")
            continue
        if not isinstance(table, dict):
            errors.add(where, "expected a table of tariff components")
            continue
        _unknown(table, TARIFF_KEYS, where, errors)
        values = {k: v for k, v in table.items() if k in TARIFF_KEYS}
        for k, v in values.items():
            if k == "demand_charge_period":
                if v not in ("month", "day"):
                    errors.add(where, f"{k}: expected 'month' or 'day', got {v!r}")
            elif isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
                errors.add(where, f"{k}: expected a number, got {v!r}")
        try:
            Tariff.from_dict(values)
        except ScenarioError as exc:
            if not any(line.startswith(where) for line in errors.lines):
                errors.add(where, str(exc))
        except (TypeError, ValueError):
            pass  # already named above
        out[name] = values
    return out


def _data_path(kind: str, raw: Any, where: str, base: Path, errors: _Errors) -> str | None:
    if kind == "synthetic":
        if raw is not None:
            errors.add(where, "path: a synthetic scenario has no path")
        return None
    if not isinstance(raw, str) or not raw.strip():
        errors.add(where, f"path: a {kind} scenario needs the dataset folder's path")
        return None
    path = (base / raw).resolve()
    if not path.exists():
        errors.add(where, f"path: {path} does not exist")
        return None
    return str(path)


def _strategy_error(name: Any) -> str | None:
    if name not in STRATEGIES:
        return f"unknown {name!r}; known: {', '.join(sorted(STRATEGIES))}"
    return None


def _objective_error(text: Any) -> str | None:
    try:
        Objective.parse(text)
    except ObjectiveError as exc:
        return str(exc)
    return None


def _tariff_error(name: Any, tariffs: dict[str, dict[str, Any]]) -> str | None:
    if name != DEFAULT_TARIFF and name not in tariffs:
        return f"unknown {name!r}; defined: {', '.join([DEFAULT_TARIFF, *tariffs])}"
    return None


def _names(
    table: dict[str, Any],
    key: str,
    where: str,
    errors: _Errors,
    check: Callable[[Any], str | None],
    required: bool = False,
) -> list[str]:
    raw = table.get(key)
    if raw is None:
        if required:
            errors.add(where, f"{key}: name at least one")
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        errors.add(where, f"{key}: expected a list of names, got {raw!r}")
        return []
    good = []
    for name in raw:
        if (msg := check(name)) is not None:
            errors.add(where, f"{key}: {msg}")
        else:
            good.append(name)
    return good


def _array(data: dict[str, Any], key: str, errors: _Errors) -> list[Any]:
    raw = data.get(key, [])
    if not isinstance(raw, list):
        errors.add(key, f"expected [[{key}]] entries")
        return []
    return raw


def _table(raw: Any, where: str, errors: _Errors) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors.add(where, "expected a table")
        return {}
    return raw


def _unknown(table: dict[str, Any], known: set[str], where: str, errors: _Errors) -> None:
    for key in table:
        if key not in known:
            errors.add(where, f"unknown key {key!r}; known: {', '.join(sorted(known))}")


def _int_list(
    entry: dict[str, Any], key: str, where: str, errors: _Errors, minimum: int | None = None
) -> list[int]:
    raw = entry.get(key)
    if raw is None:
        return []
    values = raw if isinstance(raw, list) else [raw]
    good = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
            bound = "" if minimum is None else f" >= {minimum}"
            errors.add(where, f"{key}: expected integers{bound}, got {v!r}")
        else:
            good.append(v)
    if isinstance(raw, list) and not raw:
        errors.add(where, f"{key}: an empty list gives no cases")
    return good


def _opt_positive(entry: dict[str, Any], key: str, where: str, errors: _Errors) -> int | None:
    v = entry.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        errors.add(where, f"{key}: expected a positive integer, got {v!r}")
        return None
    return v


def _opt_bool(entry: dict[str, Any], key: str, where: str, errors: _Errors) -> bool | None:
    v = entry.get(key)
    if v is not None and not isinstance(v, bool):
        errors.add(where, f"{key}: expected true or false, got {v!r}")
        return None
    return v


def _opt_share(entry: dict[str, Any], where: str, errors: _Errors) -> float | None:
    v = entry.get("flexible_share")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
        errors.add(where, f"flexible_share: expected a number within [0, 1], got {v!r}")
        return None
    return float(v)
