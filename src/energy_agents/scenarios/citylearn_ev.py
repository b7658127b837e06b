"""The EV chargers of a CityLearn schema (``chargers`` per building, ``electric_vehicles_def``).

Read as CityLearn 3.0.2 reads them (docs/scenarios.md has the table):

- a charger file row with ``electric_vehicle_charger_state`` 1 and the id of an included EV
  of ``electric_vehicles_def`` is a connected step; a *session* starts at the first step of
  the episode, when the EV id changes, when the state was not 1 before, or when the
  departure countdown (``electric_vehicle_departure_time``, hours) restarts after reaching 1;
- arrival SOC: ``current_soc`` of the session's first row, else the previous row's
  ``electric_vehicle_estimated_soc_arrival``, else the EV's ``initial_soc``; required SOC:
  ``electric_vehicle_required_soc_departure`` of the first row; SOC columns are fractions
  when within [0, 1] and percent above (CityLearn's rule);
- a session departs at its last row when the file shows it ending there; a session the
  episode cuts has no requirement;
- charger ``max_charging_power`` (else ``nominal_power``, else 50 kW, CityLearn's default),
  ``max_discharging_power`` (default 50 kW, CityLearn's), ``efficiency`` (default 1) on each
  direction; EV ``capacity`` and ``depth_of_discharge`` (lowest SOC ``1 - dod``).

What is not modelled is named in the notes: minimum charging power (a dead band),
efficiency curves, the EV's SOC drift while away (the arrival SOC comes from the file).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..sim.ev import EVChargers
from ..sim.params import ScenarioError
from .csv_table import CsvTable, read_csv_table

STATE = "electric_vehicle_charger_state"
EV_ID = "electric_vehicle_id"
CURRENT_SOC = "current_soc"
DEPARTURE = "electric_vehicle_departure_time"
REQUIRED = "electric_vehicle_required_soc_departure"
ARRIVAL_SOC = "electric_vehicle_estimated_soc_arrival"
DEFAULT_POWER_KW = 50.0
IGNORED_ATTRIBUTES = (
    "min_charging_power",
    "min_discharging_power",
    "charge_efficiency_curve",
    "discharge_efficiency_curve",
)


def _soc(raw: np.ndarray) -> np.ndarray:
    """CityLearn's SOC columns: a fraction within [0, 1], percent above, NaN when missing."""
    out = np.where(raw > 1.0, raw / 100.0, raw)
    return np.where((raw >= 0.0) & (out <= 1.0), out, np.nan)


def _attr(path: Path, field: str, attrs: dict[str, Any], key: str, default: float) -> float:
    value = attrs.get(key)
    if value is None:
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{path}: field {field}.{key}: {value!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise ScenarioError(f"{path}: field {field}.{key}: {value!r} must be a number >= 0")
    return x


def _vehicles(schema: dict[str, Any], path: Path) -> dict[str, tuple[float, float, float]]:
    """{EV id: (capacity kWh, lowest SOC, initial SOC)} of the included EVs."""
    out = {}
    for name, spec in (schema.get("electric_vehicles_def") or {}).items():
        field = f"electric_vehicles_def.{name}"
        if not isinstance(spec, dict):
            raise ScenarioError(f"{path}: field {field}: expected an object")
        if not spec.get("include", True):
            continue
        attrs = (spec.get("battery") or {}).get("attributes") or {}
        cap = _attr(path, f"{field}.battery.attributes", attrs, "capacity", 0.0)
        if cap <= 0:
            raise ScenarioError(f"{path}: field {field}.battery.attributes.capacity: must be > 0")
        dod = _attr(path, f"{field}.battery.attributes", attrs, "depth_of_discharge", 1.0)
        soc0 = _attr(path, f"{field}.battery.attributes", attrs, "initial_soc", 0.0)
        if dod > 1 or soc0 > 1:
            raise ScenarioError(
                f"{path}: field {field}.battery.attributes: depth_of_discharge and initial_soc "
                "must be within [0, 1]"
            )
        out[str(name)] = (cap, 1.0 - dod, soc0)
    return out


def _sessions(
    df: CsvTable, fpath: Path, rows: slice, vehicles: dict[str, tuple[float, float, float]]
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Per-step arrays of one charger over the episode's ``rows``, and the EV ids it names
    that no included EV definition has."""
    for col in (STATE, EV_ID):
        if col not in df:
            raise ScenarioError(f"{fpath}: column {col!r} missing")
    if len(df) < rows.stop:
        raise ScenarioError(f"{fpath}: {len(df)} rows, the episode needs {rows.stop}")
    state = df.numeric(STATE)
    ids = np.array([i.strip() for i in df.text(EV_ID)], dtype=object)
    known = np.array([i in vehicles for i in ids])
    unknown = {i for i, s, k in zip(ids, state, known, strict=True) if s == 1 and not k}
    unknown -= {"", "nan", "None"}
    conn_full = (state == 1) & known
    nan = np.full(len(df), np.nan)
    dep = df.numeric(DEPARTURE) if DEPARTURE in df else nan
    cur = _soc(df.numeric(CURRENT_SOC)) if CURRENT_SOC in df else nan
    req = _soc(df.numeric(REQUIRED)) if REQUIRED in df else nan
    est = _soc(df.numeric(ARRIVAL_SOC)) if ARRIVAL_SOC in df else nan

    n = rows.stop - rows.start
    out = {k: np.zeros(n) for k in ("connected", "arrival", "departs", "capacity_kwh",
                                    "arrival_soc", "required_soc", "soc_min")}  # fmt: skip

    def continues(t: int) -> bool:
        """Row t (full file) continues the session of row t - 1."""
        if t <= 0 or not (conn_full[t] and conn_full[t - 1]) or ids[t] != ids[t - 1]:
            return False
        return not (dep[t - 1] <= 1 and dep[t] > dep[t - 1])

    required = 0.0
    for k, t in enumerate(range(rows.start, rows.stop)):
        if not conn_full[t]:
            continue
        cap, soc_min, soc0 = vehicles[ids[t]]
        out["connected"][k] = 1.0
        out["capacity_kwh"][k] = cap
        out["soc_min"][k] = soc_min
        if k == 0 or not continues(t):
            arrival = cur[t]
            if not np.isfinite(arrival) and t > 0:
                arrival = est[t - 1]
            out["arrival"][k] = 1.0
            out["arrival_soc"][k] = arrival if np.isfinite(arrival) else soc0
            required = float(req[t]) if np.isfinite(req[t]) else 0.0
        out["required_soc"][k] = required
        nxt = t + 1
        if nxt < len(df) and not continues(nxt):
            out["departs"][k] = 1.0
    return out, unknown


def load_chargers(
    schema: dict[str, Any],
    schema_path: Path,
    root: Path,
    names: list[str],
    rows: slice,
    notes: list[str],
) -> EVChargers:
    """Every charger of the included buildings, in schema order (none: an empty set)."""
    vehicles = _vehicles(schema, schema_path)
    cols: list[dict[str, np.ndarray]] = []
    chargers: list[str] = []
    member, charge, discharge, eff = [], [], [], []
    ignored: dict[str, list[str]] = {}
    for i, bname in enumerate(names):
        for cname, spec in (schema["buildings"][bname].get("chargers") or {}).items():
            field = f"buildings.{bname}.chargers.{cname}"
            if not isinstance(spec, dict):
                raise ScenarioError(f"{schema_path}: field {field}: expected an object")
            fname = spec.get("charger_simulation")
            if not fname:
                raise ScenarioError(f"{schema_path}: field {field}.charger_simulation missing")
            attrs = spec.get("attributes") or {}
            fa = f"{field}.attributes"
            top = _attr(schema_path, fa, attrs, "nominal_power", DEFAULT_POWER_KW)
            charge.append(_attr(schema_path, fa, attrs, "max_charging_power", top))
            discharge.append(
                _attr(schema_path, fa, attrs, "max_discharging_power", DEFAULT_POWER_KW)
            )
            e = _attr(schema_path, fa, attrs, "efficiency", 1.0)
            if not 0 < e <= 1:
                raise ScenarioError(f"{schema_path}: field {fa}.efficiency: must be in (0, 1]")
            eff.append(e)
            for key in IGNORED_ATTRIBUTES:
                if attrs.get(key):
                    ignored.setdefault(key, []).append(str(cname))
            fpath = root / str(fname)
            arrays, unknown = _sessions(read_csv_table(fpath, (STATE,)), fpath, rows, vehicles)
            if unknown:
                notes.append(
                    f"ev: {fpath.name} names EVs without an included definition in "
                    f"electric_vehicles_def: {', '.join(sorted(unknown))} (their steps count as "
                    "no EV connected)"
                )
            cols.append(arrays)
            chargers.append(str(cname))
            member.append(i)
    n_steps = rows.stop - rows.start
    if not chargers:
        return EVChargers.empty(n_steps)
    stacked = {k: np.stack([c[k] for c in cols], axis=1) for k in cols[0]}
    ev = EVChargers.from_steps(
        tuple(chargers),
        np.asarray(member),
        np.asarray(charge),
        np.asarray(discharge),
        np.asarray(eff),
        **stacked,
    )
    sessions = ev.sessions.n
    notes.append(
        f"ev: {ev.n} chargers ({', '.join(chargers)}), {sessions} sessions, "
        f"{int(ev.sessions.departs.sum())} departures with a required SOC; the EV's SOC while "
        "away is not simulated (arrival SOC from the charger files)"
    )
    for key, where in ignored.items():
        notes.append(f"ev: charger attribute {key} not modelled ({', '.join(where)})")
    return ev
