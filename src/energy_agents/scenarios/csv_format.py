"""``csv:PATH``: a plain-CSV format for users' own community data (docs/scenarios.md).

A folder (``PATH``, or the folder of ``PATH`` when it names ``timeseries.csv`` itself) with:

``timeseries.csv`` (required), long layout, one row per member and step::

    timestamp,member,load_kwh,pv_kwh
    2024-06-01T00:00:00,alice,0.42,0.0
    2024-06-01T00:00:00,bob,0.31,0.0

``timestamp`` is the start of the step (ISO 8601, local time, equally spaced by a multiple of
15 min that divides 24 h); ``load_kwh``/``pv_kwh`` are energy per step [kWh], >= 0. Every
member has exactly one row per timestamp.

``members.csv`` (optional): ``member`` plus any of ``battery_kwh``, ``battery_kw``,
``battery_efficiency`` (0.95, applied on charge and on discharge), ``battery_soc_min`` (0),
``battery_soc_max`` (1), ``battery_soc_init`` (0.5, clipped into the bounds),
``flexible_share`` (0). Members not listed get no battery and the defaults.

``prices.csv`` (optional): ``timestamp``, ``day_ahead`` [CT/kWh] plus optionally
``imbalance_buy`` (= day_ahead), ``imbalance_sell`` (= day_ahead), ``feed_in`` (0) and
``carbon_kg_per_kwh`` (the grid's carbon intensity, 0). Its timestamps equal those of
``timeseries.csv``. Without it: the synthetic time-of-use tariff and no carbon intensity.

``scenario.json`` (optional): ``{"tariff": {...}, "objective": ...}``: the tariff's components
(``Tariff`` fields: ``demand_charge_ct_per_kw``, ``demand_charge_period``,
``import_limit_kw``, ``export_limit_kw``, ``overrun_ct_per_kwh``; none without the file) and
the objective (a preset name such as ``"citylearn2022"``, or an object of ``Objective``
weights; ``cost`` without it).

``storages.csv`` (optional): community storages, ``name``, ``capacity_kwh``, ``power_kw`` plus
optionally ``efficiency`` (0.92), ``soc_min`` (0), ``soc_max`` (1), ``soc_init`` (0.5).

``weather.csv`` (optional): ``timestamp`` plus numeric columns, kept as weather history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..sim.objective import Objective, ObjectiveError
from ..sim.params import Prices, Scenario, ScenarioError, StorageBank, Tariff

TIMESERIES = "timeseries.csv"
MEMBERS = "members.csv"
PRICES = "prices.csv"
STORAGES = "storages.csv"
WEATHER = "weather.csv"
SCENARIO_FILE = "scenario.json"

MEMBER_DEFAULTS = {
    "battery_kwh": 0.0,
    "battery_kw": 0.0,
    "battery_efficiency": 0.95,
    "battery_soc_min": 0.0,
    "battery_soc_max": 1.0,
    "battery_soc_init": 0.5,
    "flexible_share": 0.0,
}
STORAGE_DEFAULTS = {"efficiency": 0.92, "soc_min": 0.0, "soc_max": 1.0, "soc_init": 0.5}


# --------------------------------------------------------------------------- shared helpers
def read_table(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV file; a missing file, an unreadable one or a missing column raises a
    :class:`ScenarioError` naming the file (and the column)."""
    if not path.is_file():
        raise ScenarioError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read as CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    for col in required:
        if col not in df.columns:
            raise ScenarioError(f"{path}: missing column {col!r}")
    return df


def numeric_column(
    df: pd.DataFrame, path: Path, col: str, *, nonnegative: bool = True
) -> np.ndarray:
    """Column ``col`` as float64; a NaN, a non-number or (if ``nonnegative``) a negative value
    raises a :class:`ScenarioError` naming the file, the column and the line."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = df[col].iloc[i]
        what = (
            f"{raw!r} is not a number"
            if isinstance(raw, str)
            else f"{raw} (missing, NaN or infinite)"
        )
        raise ScenarioError(f"{path}: column {col!r}, line {i + 2}: {what}")
    if nonnegative and np.any(values < 0):
        i = int(np.flatnonzero(values < 0)[0])
        raise ScenarioError(f"{path}: column {col!r}, line {i + 2}: {values[i]} is negative")
    return values


def _timestamps(df: pd.DataFrame, path: Path) -> pd.DatetimeIndex:
    try:
        ts = pd.to_datetime(df["timestamp"], format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ScenarioError(f"{path}: column 'timestamp': not ISO 8601 ({exc})") from None
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise ScenarioError(f"{path}: column 'timestamp', line {i + 2}: missing")
    idx = pd.DatetimeIndex(ts)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx


# --------------------------------------------------------------------------- the format
def resolve_folder(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_file():
        return p.parent
    if not p.is_dir():
        raise ScenarioError(f"{p}: no such CSV scenario folder or file")
    return p


def _read_timeseries(
    path: Path,
) -> tuple[pd.DatetimeIndex, tuple[str, ...], np.ndarray, np.ndarray, float]:
    df = read_table(path, ("timestamp", "member", "load_kwh", "pv_kwh"))
    if len(df) == 0:
        raise ScenarioError(f"{path}: no rows")
    members_col = df["member"]
    if members_col.isna().any():
        i = int(np.flatnonzero(members_col.isna().to_numpy())[0])
        raise ScenarioError(f"{path}: column 'member', line {i + 2}: missing")
    load = numeric_column(df, path, "load_kwh")
    pv = numeric_column(df, path, "pv_kwh")
    ts = _timestamps(df, path)
    m_codes, m_names = pd.factorize(members_col.astype(str).str.strip(), sort=False)
    t_codes, t_uniques = pd.factorize(ts, sort=True)
    n_t, n_m = len(t_uniques), len(m_names)
    flat = t_codes.astype(np.int64) * n_m + m_codes
    counts = np.bincount(flat, minlength=n_t * n_m)
    if np.any(counts > 1):
        k = int(np.flatnonzero(counts > 1)[0])
        raise ScenarioError(
            f"{path}: member {m_names[k % n_m]!r} has more than one row at timestamp "
            f"{t_uniques[k // n_m]}"
        )
    if np.any(counts == 0):
        k = int(np.flatnonzero(counts == 0)[0])
        raise ScenarioError(
            f"{path}: member {m_names[k % n_m]!r} has no row at timestamp {t_uniques[k // n_m]} "
            "(every member needs one row per timestamp)"
        )
    times = pd.DatetimeIndex(t_uniques)
    dt_h = _step_hours(times, path)
    load_arr = np.empty(n_t * n_m)
    pv_arr = np.empty(n_t * n_m)
    load_arr[flat] = load
    pv_arr[flat] = pv
    return (
        times,
        tuple(str(m) for m in m_names),
        load_arr.reshape(n_t, n_m),
        pv_arr.reshape(n_t, n_m),
        dt_h,
    )


def _step_hours(times: pd.DatetimeIndex, path: Path) -> float:
    if len(times) < 2:
        return 1.0
    seconds = times.to_numpy().astype("datetime64[s]").astype(np.int64)
    diffs = np.diff(seconds)
    if np.any(diffs != diffs[0]):
        i = int(np.flatnonzero(diffs != diffs[0])[0])
        raise ScenarioError(
            f"{path}: column 'timestamp': steps must be equally spaced "
            f"(gap after {times[i + 1]} differs from the first step)"
        )
    dt_h = float(diffs[0]) / 3600.0
    if (dt_h * 4) % 1 != 0 or 24 % dt_h != 0:
        raise ScenarioError(
            f"{path}: column 'timestamp': step of {dt_h} h is not a multiple of 15 min "
            "dividing 24 h"
        )
    return dt_h


def _aligned(
    df: pd.DataFrame, path: Path, times: pd.DatetimeIndex, reference: Path
) -> pd.DataFrame:
    """``df`` (with a ``timestamp`` column) reordered to ``times``; any other set of
    timestamps raises naming both files."""
    ts = _timestamps(df, path)
    if ts.has_duplicates:
        raise ScenarioError(f"{path}: column 'timestamp': duplicate {ts[ts.duplicated()][0]}")
    if len(ts) != len(times):
        raise ScenarioError(
            f"{path}: {len(ts)} rows, expected {len(times)} (one per timestamp of {reference.name})"
        )
    pos = pd.Index(ts).get_indexer(times)
    if np.any(pos < 0):
        missing = times[int(np.flatnonzero(pos < 0)[0])]
        raise ScenarioError(f"{path}: column 'timestamp': no row for {missing}")
    return df.iloc[pos].reset_index(drop=True)


def _read_members(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    n = len(names)
    out = {k: np.full(n, v) for k, v in MEMBER_DEFAULTS.items()}
    if not path.is_file():
        return out
    df = read_table(path, ("member",))
    index = {m: i for i, m in enumerate(names)}
    keys = df["member"].astype(str).str.strip()
    if keys.duplicated().any():
        raise ScenarioError(f"{path}: column 'member': {keys[keys.duplicated()].iloc[0]!r} twice")
    rows = []
    for line, key in enumerate(keys, start=2):
        if key not in index:
            raise ScenarioError(
                f"{path}: column 'member', line {line}: unknown member {key!r} "
                f"(not in {TIMESERIES})"
            )
        rows.append(index[key])
    unknown = [c for c in df.columns if c != "member" and c not in MEMBER_DEFAULTS]
    if unknown:
        raise ScenarioError(
            f"{path}: unknown column {unknown[0]!r} (expected member, {', '.join(MEMBER_DEFAULTS)})"
        )
    for col in MEMBER_DEFAULTS:
        if col in df.columns:
            out[col][rows] = numeric_column(df, path, col)
    checks = (
        ("battery_efficiency", (out["battery_efficiency"] <= 0) | (out["battery_efficiency"] > 1)),
        ("battery_soc_max", out["battery_soc_max"] > 1),
        ("battery_soc_min", out["battery_soc_min"] > out["battery_soc_max"]),
        ("flexible_share", out["flexible_share"] > 1),
    )
    for col, bad in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScenarioError(
                f"{path}: column {col!r}: member {names[i]!r} has {out[col][i]} "
                "(efficiency in (0, 1], 0 <= soc_min <= soc_max <= 1, flexible_share <= 1)"
            )
    out["battery_soc_init"] = np.clip(
        out["battery_soc_init"], out["battery_soc_min"], out["battery_soc_max"]
    )
    return out


def _read_storages(path: Path) -> StorageBank:
    df = read_table(path, ("name", "capacity_kwh", "power_kw"))
    names = tuple(df["name"].astype(str).str.strip())
    if len(set(names)) != len(names):
        raise ScenarioError(f"{path}: column 'name': names must be unique")
    cols = {c: numeric_column(df, path, c) for c in ("capacity_kwh", "power_kw")}
    for col, default in STORAGE_DEFAULTS.items():
        cols[col] = (
            numeric_column(df, path, col) if col in df.columns else np.full(len(df), default)
        )
    try:
        return StorageBank(
            names,
            cols["capacity_kwh"],
            cols["power_kw"],
            cols["efficiency"],
            cols["efficiency"],
            cols["soc_min"],
            cols["soc_max"],
            cols["soc_init"],
        )
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def read_scenario_file(path: Path) -> tuple[Tariff, Objective]:
    """The tariff and objective of ``scenario.json`` (defaults without the file)."""
    if not path.is_file():
        return Tariff(), Objective()
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a JSON object")
    unknown = set(data) - {"tariff", "objective"}
    if unknown:
        raise ScenarioError(
            f"{path}: field {sorted(unknown)[0]}: unknown; known: objective, tariff"
        )
    try:
        tariff = data.get("tariff") or {}
        if not isinstance(tariff, dict):
            raise ScenarioError("tariff: expected an object")
        objective = data.get("objective", "cost")
        obj = (
            Objective.parse(objective)
            if isinstance(objective, str)
            else Objective.from_dict(objective)
        )
        return Tariff.from_dict(tariff), obj
    except (ScenarioError, ObjectiveError, TypeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _read_prices(
    path: Path, times: pd.DatetimeIndex, reference: Path
) -> tuple[Prices, np.ndarray | None]:
    """The prices, and the carbon intensity when the file has its column."""
    df = _aligned(read_table(path, ("timestamp", "day_ahead")), path, times, reference)
    da = numeric_column(df, path, "day_ahead")
    get = {
        c: numeric_column(df, path, c) if c in df.columns else None
        for c in ("imbalance_buy", "imbalance_sell", "feed_in")
    }
    prices = Prices(
        day_ahead=da,
        imbalance_buy=da.copy() if get["imbalance_buy"] is None else get["imbalance_buy"],
        imbalance_sell=da.copy() if get["imbalance_sell"] is None else get["imbalance_sell"],
        feed_in=np.zeros(len(da)) if get["feed_in"] is None else get["feed_in"],
    )
    try:
        prices.check(len(times))
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    carbon = None
    if "carbon_kg_per_kwh" in df.columns:
        carbon = numeric_column(df, path, "carbon_kg_per_kwh")
    return prices, carbon


def _read_weather(path: Path, times: pd.DatetimeIndex, reference: Path) -> dict[str, np.ndarray]:
    df = _aligned(read_table(path, ("timestamp",)), path, times, reference)
    return {
        c: numeric_column(df, path, c, nonnegative=False) for c in df.columns if c != "timestamp"
    }


def load_csv(
    path: str | Path,
    *,
    members: int | None = None,
    community_storage: bool | None = None,
    flexible_share: float | None = None,
) -> Scenario:
    """A scenario from a folder in the plain-CSV format (see the module docstring).

    ``members`` keeps the first members (in order of first appearance in timeseries.csv);
    ``community_storage`` False drops storages.csv, True without storages.csv adds the
    synthetic ``storage_A``/``storage_B``; ``flexible_share`` overrides members.csv.
    """
    folder = resolve_folder(path)
    ts_path = Path(path) if Path(path).is_file() else folder / TIMESERIES
    times, names, load, pv, dt_h = _read_timeseries(ts_path)
    notes = [f"csv: {len(names)} members, {len(times)} steps of {dt_h:g} h from {ts_path}"]
    info = _read_members(folder / MEMBERS, names)
    if members is not None:
        if members > len(names):
            raise ScenarioError(
                f"{ts_path}: members={members} requested, the file has {len(names)}"
            )
        names, load, pv = names[:members], load[:, :members], pv[:, :members]
        info = {k: v[:members] for k, v in info.items()}
    if not (folder / MEMBERS).is_file():
        notes.append(f"{MEMBERS} not found: no home batteries, flexible share 0")
    try:
        batteries = StorageBank(
            names,
            info["battery_kwh"],
            info["battery_kw"],
            info["battery_efficiency"],
            info["battery_efficiency"],
            info["battery_soc_min"],
            info["battery_soc_max"],
            info["battery_soc_init"],
        )
    except ScenarioError as exc:
        raise ScenarioError(f"{folder / MEMBERS}: {exc}") from None
    carbon = None
    if (folder / PRICES).is_file():
        prices, carbon = _read_prices(folder / PRICES, times, ts_path)
    else:
        from .synthetic import tariff_prices

        prices = tariff_prices(times.to_numpy().astype("datetime64[s]"))
        notes.append(f"{PRICES} not found: the synthetic time-of-use tariff (docs/scenarios.md)")
    storages = StorageBank.empty()
    if community_storage is not False:
        if (folder / STORAGES).is_file():
            storages = _read_storages(folder / STORAGES)
        elif community_storage:
            from .synthetic import community_storages

            storages = community_storages(len(names))
            notes.append(f"{STORAGES} not found: storage_A/storage_B sized by the synthetic rule")
    weather = (
        _read_weather(folder / WEATHER, times, ts_path) if (folder / WEATHER).is_file() else {}
    )
    flex = info["flexible_share"] if flexible_share is None else np.full(len(names), flexible_share)
    if carbon is None:
        notes.append(f"carbon: no carbon_kg_per_kwh column in {PRICES}; carbon intensity 0")
    tariff, objective = read_scenario_file(folder / SCENARIO_FILE)
    return Scenario(
        name=f"csv-{folder.name}",
        start=times[0].strftime("%Y-%m-%dT%H:%M:%S"),
        dt_h=dt_h,
        member_names=names,
        load_kwh=load,
        pv_kwh=pv,
        prices=prices,
        member_batteries=batteries,
        community_storages=storages,
        flexible_share=flex,
        weather=weather,
        notes=tuple(notes),
        carbon_kg_per_kwh=carbon,
        tariff=tariff,
        objective=objective,
    )
