"""``citylearn:PATH``: a CityLearn dataset folder (``schema.json``, ``Building_*.csv``, ...).

Mapping (docs/scenarios.md has the full table):

- one member per building with ``include: true`` (a building without the key is included),
  in the order of ``schema.json``;
- load = ``non_shiftable_load`` [kWh per step] plus the electricity of the heat pumps and
  electric heaters (``cooling_device``, ``heating_device``, ``dhw_device``) serving the
  recorded ``cooling_demand``, ``heating_demand`` and ``dhw_demand`` as they come (COP:
  CityLearn's Carnot fraction on the outdoor temperature; heaters at their efficiency); the
  devices' power limits not applied to the demand; the thermal storages (``dhw_storage``,
  ``cooling_storage``, ``heating_storage``) are tanks a ``thermal_setpoints`` lever charges
  and discharges (:mod:`.citylearn_tanks`, idle without it);
- PV = ``solar_generation`` [W per kW installed] x ``pv.attributes.nominal_power`` / 1000
  [kWh per step];
- PV and batteries with ``autosize: true`` (or no size) are autosized as CityLearn 3.0.2 does
  (:mod:`.autosize`; autosized PV output from pvlib PVWatts on the dataset's weather);
- home battery from ``electrical_storage.attributes``: ``capacity`` [kWh], ``nominal_power``
  [kW], ``efficiency`` on charge and on discharge, ``soc_min = 1 - depth_of_discharge``
  (0 when absent), ``soc_init = soc_min`` (CityLearn starts batteries empty); degradation
  (``capacity_loss_coefficient``), standing loss (``loss_coefficient``) and power curves are
  ignored;
- prices: ``pricing.csv`` ``electricity_pricing`` taken 1:1 as CT/kWh day-ahead; no
  imbalance market (imbalance buy = sell = day-ahead) and no export price (feed-in 0). Without
  a price file: a flat :data:`FALLBACK_PRICE` CT/kWh, with a note;
- time: rows ``simulation_start_time_step`` .. ``simulation_end_time_step`` of
  ``seconds_per_time_step``; timestamps from the ``month``/``hour`` columns, see
  :func:`start_timestamp`;
- weather.csv -> ``Scenario.weather``; ``carbon_intensity.csv`` (``carbon_intensity`` [kg
  CO2/kWh]) -> ``Scenario.carbon_kg_per_kwh`` (zeros, with a note, when the schema names none);
- EV chargers and their EVs (``chargers``, ``electric_vehicles_def``): :mod:`.citylearn_ev`;
- washing machines (``washing_machines``): :mod:`.citylearn_appliances`;
- no tariff components (CityLearn has no demand charge or connection limit): a run may add
  them (``load_scenario(..., tariff=...)``).

Anything the loader cannot use is listed in ``Scenario.notes`` (schema entries it does not read
by :mod:`.citylearn_unused`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..sim.params import Prices, Scenario, ScenarioError, StorageBank
from ..sim.thermal_storage import ThermalTanks
from .autosize import Autosized, needs_autosize, resolve_seed
from .citylearn_appliances import load_appliances
from .citylearn_buildings import autosize_buildings
from .citylearn_ev import load_chargers
from .citylearn_unused import unused_entries
from .csv_table import CsvTable, numeric_column, read_csv_table

SCHEMA = "schema.json"
YEAR = 2022
"""Calendar year given to the first month of the data (CityLearn files carry month and hour
but no year; 2022 makes the 2022 challenge data's ``day_type`` match the weekdays)."""
FALLBACK_PRICE = 0.30
"""Flat day-ahead price [CT/kWh] used when a dataset has no price file."""
DEFAULT_EFFICIENCY = 0.9
"""Battery efficiency when the schema gives none (CityLearn's own default)."""
DEFAULT_C_RATE = 0.5
"""Battery power = capacity x this when the schema gives no ``nominal_power``."""
IGNORED_DEMANDS = ("dhw_demand", "cooling_demand", "heating_demand")
USED_DEVICES = (
    "electrical_storage",
    "pv",
    "chargers",
    "washing_machines",
    "cooling_device",  # their efficiency and supply temperatures give the COP that serves
    "heating_device",  # the recorded thermal demands (autosize.thermal_electricity)
    "dhw_device",
    "cooling_storage",  # thermal tanks (citylearn_tanks)
    "heating_storage",
    "dhw_storage",
)
WEATHER_COLUMNS = {
    "outdoor_dry_bulb_temperature": "temp_air_c",
    "outdoor_relative_humidity": "relative_humidity_pct",
    "diffuse_solar_irradiance": "dhi_w_m2",
    "direct_solar_irradiance": "dni_w_m2",
}


def _schema_path(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / SCHEMA
    if not p.is_file():
        raise ScenarioError(f"{p}: not found (expected a CityLearn dataset folder with {SCHEMA})")
    return p


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise ScenarioError(f"{path}: expected a JSON object")
    buildings = schema.get("buildings")
    if not isinstance(buildings, dict) or not buildings:
        raise ScenarioError(f"{path}: field 'buildings' missing or empty")
    return schema


def _number(path: Path, field: str, value: Any, *, minimum: float = 0.0) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{path}: field {field}: {value!r} is not a number") from None
    if not math.isfinite(x) or x < minimum:
        raise ScenarioError(
            f"{path}: field {field}: {value!r} must be a finite number >= {minimum}"
        )
    return x


def start_timestamp(month: np.ndarray, hour: np.ndarray, dt_h: float) -> tuple[str, str | None]:
    """The start of row 0 as an ISO string, and a note if it had to be guessed.

    CityLearn labels rows with ``month`` and ``hour`` (1..24). We read ``hour`` h as the step
    that starts at h mod 24 o'clock (hour 24 = 00:00), and anchor the calendar at the first
    month change: the first row labelled with the new month lies on day 1 of that month (in
    :data:`YEAR`, or the next year if the month number went down). The 2022 challenge data
    (first rows: July/24, August/1) thus start on 2022-08-01 00:00. Without a month change the
    data are placed on day 1 of the first row's month, with a note.
    """
    step = timedelta(hours=dt_h)
    change = np.flatnonzero(month[1:] != month[:-1])
    if len(change):
        k = int(change[0]) + 1
        year = YEAR if month[k] >= month[0] else YEAR + 1
        anchor = datetime(year, int(month[k]), 1) + timedelta(hours=int(hour[k]) % 24)
        return (anchor - k * step).strftime("%Y-%m-%dT%H:%M:%S"), None
    start = datetime(YEAR, int(month[0]), 1) + timedelta(hours=int(hour[0]) % 24)
    return (
        start.strftime("%Y-%m-%dT%H:%M:%S"),
        "time: no month change in the data; placed on day 1 of the first row's month",
    )


def _included(schema: dict[str, Any], path: Path) -> tuple[list[str], list[str]]:
    names: list[str] = []
    skipped: list[str] = []
    for name, spec in schema["buildings"].items():
        if not isinstance(spec, dict):
            raise ScenarioError(f"{path}: field buildings.{name}: expected an object")
        (names if spec.get("include", True) else skipped).append(name)
    if not names:
        raise ScenarioError(f"{path}: no building has include=true")
    return names, skipped


def _battery(
    path: Path, name: str, spec: dict[str, Any], notes: list[str]
) -> tuple[float, float, float, float]:
    """(capacity_kwh, power_kw, efficiency, soc_min) of one building's electrical_storage."""
    dev = spec.get("electrical_storage")
    if not dev:
        return 0.0, 0.0, DEFAULT_EFFICIENCY, 0.0
    field = f"buildings.{name}.electrical_storage"
    attrs = dev.get("attributes") or {}
    if needs_autosize(dev, "capacity"):
        return 0.0, 0.0, DEFAULT_EFFICIENCY, 0.0  # sized (and noted) by _autosize
    cap = _number(path, f"{field}.attributes.capacity", attrs["capacity"])
    if attrs.get("nominal_power") is not None:
        power = _number(path, f"{field}.attributes.nominal_power", attrs["nominal_power"])
    else:
        power = cap * DEFAULT_C_RATE
        notes.append(f"{name}: battery nominal_power missing -> {DEFAULT_C_RATE} x capacity")
    eff = _number(
        path, f"{field}.attributes.efficiency", attrs.get("efficiency", DEFAULT_EFFICIENCY)
    )
    if not 0 < eff <= 1:
        raise ScenarioError(f"{path}: field {field}.attributes.efficiency: must be in (0, 1]")
    soc_min = 0.0
    if attrs.get("depth_of_discharge") is not None:
        dod = _number(path, f"{field}.attributes.depth_of_discharge", attrs["depth_of_discharge"])
        if dod > 1:
            raise ScenarioError(
                f"{path}: field {field}.attributes.depth_of_discharge: must be in [0, 1]"
            )
        soc_min = 1.0 - dod
    return cap, power, eff, soc_min


def _pv_kw(path: Path, name: str, spec: dict[str, Any], notes: list[str]) -> float:
    dev = spec.get("pv")
    if not dev:
        return 0.0
    attrs = dev.get("attributes") or {}
    if needs_autosize(dev, "nominal_power"):
        return 0.0  # sized (and noted) by _autosize
    return _number(path, f"buildings.{name}.pv.attributes.nominal_power", attrs["nominal_power"])


def _rows(schema: dict[str, Any], path: Path, n_rows: int) -> slice:
    start = int(
        _number(path, "simulation_start_time_step", schema.get("simulation_start_time_step", 0))
    )
    end_raw = schema.get("simulation_end_time_step")
    end = n_rows - 1 if end_raw is None else int(_number(path, "simulation_end_time_step", end_raw))
    if end < start:
        raise ScenarioError(
            f"{path}: field simulation_end_time_step ({end}) is before simulation_start_time_step"
        )
    if end >= n_rows:
        raise ScenarioError(
            f"{path}: field simulation_end_time_step: {end} is beyond the data "
            f"({n_rows} rows, last step {n_rows - 1})"
        )
    return slice(start, end + 1)


def load_citylearn(
    path: str | Path,
    *,
    members: int | None = None,
    community_storage: bool = False,
    flexible_share: float = 0.0,
    seed: int | None = None,
) -> Scenario:
    """A scenario from a CityLearn dataset folder (or its ``schema.json``).

    ``members`` keeps the first included buildings; ``community_storage`` adds ``storage_A``
    and ``storage_B`` sized by the synthetic rule; ``flexible_share`` makes that share of every
    load deferrable (CityLearn's load is non-shiftable, so the default is 0). ``seed`` drives
    autosizing (default: the schema's ``random_seed``, else 0), see :mod:`.autosize`.
    """
    schema_path = _schema_path(path)
    schema = _read_schema(schema_path)
    root = schema_path.parent
    notes: list[str] = []
    if schema.get("root_directory"):
        candidate = schema_path.parent / str(schema["root_directory"])
        if candidate.is_dir():
            root = candidate
        else:
            notes.append(
                f"root_directory {schema['root_directory']!r} not found; files read from {root}"
            )
    names, skipped = _included(schema, schema_path)
    if skipped:
        notes.append(f"buildings with include=false skipped: {', '.join(skipped)}")
    if members is not None:
        if members > len(names):
            raise ScenarioError(
                f"{schema_path}: members={members} requested, the schema includes {len(names)} "
                "buildings"
            )
        names = names[:members]
    dt_h = _number(schema_path, "seconds_per_time_step", schema.get("seconds_per_time_step", 3600))
    dt_h /= 3600.0

    loads, pvs, batteries, pv_kws, files, frames = [], [], [], [], [], []
    first: CsvTable | None = None
    ignored = dict.fromkeys(IGNORED_DEMANDS, 0.0)
    ignored_devices: dict[str, list[str]] = {}
    for name in names:
        spec = schema["buildings"][name]
        fname = spec.get("energy_simulation")
        if not fname:
            raise ScenarioError(f"{schema_path}: field buildings.{name}.energy_simulation missing")
        fpath = root / str(fname)
        df = read_csv_table(fpath, ("non_shiftable_load", "solar_generation"))
        if first is None:
            first, first_path = df, fpath
        elif len(df) != len(first):
            raise ScenarioError(
                f"{fpath}: {len(df)} rows, expected {len(first)} (as {first_path.name})"
            )
        loads.append(numeric_column(df, fpath, "non_shiftable_load"))
        kw = _pv_kw(schema_path, name, spec, notes)
        pvs.append(numeric_column(df, fpath, "solar_generation") * kw / 1000.0)
        pv_kws.append(kw)
        batteries.append(_battery(schema_path, name, spec, notes))
        files.append(fpath)
        frames.append(df)
        for key, dev in spec.items():
            if key not in USED_DEVICES and isinstance(dev, dict) and "type" in dev:
                ignored_devices.setdefault(key, []).append(name)
        for col in IGNORED_DEMANDS:
            if col in df:
                ignored[col] += float(np.nansum(df.numeric(col)))
    assert first is not None
    rows = _rows(schema, schema_path, len(first))
    load = np.stack(loads, axis=1)[rows]
    n_steps = load.shape[0]

    if "month" in first and "hour" in first:
        month = numeric_column(first, first_path, "month").astype(int)
        hour = numeric_column(first, first_path, "hour").astype(int)
        start_full, note = start_timestamp(month, hour, dt_h)
        if note:
            notes.append(note)
    else:
        start_full = f"{YEAR}-01-01T00:00:00"
        notes.append(
            f"time: {first_path.name} has no month/hour columns; start set to {start_full}"
        )
    start = (datetime.fromisoformat(start_full) + rows.start * timedelta(hours=dt_h)).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    thermal: list[np.ndarray | None] = [None] * len(names)
    tank_rows: list[tuple[int, dict[str, Any]]] = []
    weather_tables: dict[Path, CsvTable] = {}  # read once for autosizing and the weather
    _autosize(schema, schema_path, root, names, frames, rows, dt_h, start_full, seed,
              pvs, pv_kws, batteries, notes, thermal, tank_rows, weather_tables)  # fmt: skip
    tanks = _tanks(tank_rows, n_steps)
    served_thermal = 0.0
    for i, extra in enumerate(thermal):  # heat pumps and heaters serve the recorded demands
        if extra is not None:
            load[:, i] += extra
            served_thermal += float(extra.sum())
    pv = np.stack(pvs, axis=1)[rows]

    prices = _prices(schema, schema_path, root, names, len(first), rows, notes)
    weather = _weather(schema, root, names, len(first), rows, notes, weather_tables)
    carbon = _carbon(schema, root, names, len(first), rows, notes)
    evs = load_chargers(schema, schema_path, root, names, rows, notes)
    appliances = load_appliances(schema, root, names, rows, notes)
    cap, power, eff, soc_min = (np.array(v, dtype=float) for v in zip(*batteries, strict=True))
    bank = StorageBank(
        tuple(names), cap, power, eff, eff, soc_min, np.ones(len(names)), soc_min.copy()
    )
    if community_storage:
        from .synthetic import community_storages

        storages = community_storages(len(names))
        notes.append("community storage: storage_A/storage_B added, sized by the synthetic rule")
    else:
        storages = StorageBank.empty()
    notes.insert(
        0,
        f"citylearn: {len(names)} buildings from {schema_path}, steps {rows.start}-{rows.stop - 1}"
        f" ({n_steps} of {dt_h:g} h) from {start}; PV {sum(pv_kws):g} kW, batteries "
        f"{cap.sum():g} kWh",
    )
    if served_thermal > 0:
        notes.append(
            "load: non_shiftable_load plus the electricity of the heat pumps and electric "
            f"heaters serving the recorded {', '.join(k for k, v in ignored.items() if v > 0)} "
            f"({served_thermal:.1f} kWh; COP = CityLearn's Carnot fraction on the outdoor "
            "temperature, heaters at their efficiency; device power limits not applied to the "
            f"demand); {tanks.n} thermal storage tanks "
            f"({tanks.capacity_kwh.sum():.1f} kWh_th) idle unless a thermal_setpoints lever "
            "drives them"
        )
    else:
        notes.append(
            "load: non_shiftable_load only; ignored: "
            + ", ".join(f"{k} ({v:.1f} kWh)" for k, v in ignored.items())
        )
    for key, where in ignored_devices.items():
        notes.append(f"devices ignored: {key} ({', '.join(where)}); this model has no such device")
    notes.extend(unused_entries(schema, names, USED_DEVICES))  # everything else, named
    notes.append(
        "battery: efficiency on charge and discharge, starts empty; degradation, standing loss "
        "and power curves ignored"
    )
    return Scenario(
        name=f"citylearn-{schema_path.parent.name}",
        start=start,
        dt_h=dt_h,
        member_names=tuple(names),
        load_kwh=load,
        pv_kwh=pv,
        prices=prices,
        member_batteries=bank,
        community_storages=storages,
        flexible_share=np.full(len(names), float(flexible_share)),
        weather=weather,
        notes=tuple(notes),
        carbon_kg_per_kwh=carbon,
        ev_chargers=evs,
        appliances=appliances,
        thermal_tanks=tanks,
    )


def _tanks(rows: list[tuple[int, dict[str, Any]]], n_steps: int) -> ThermalTanks:
    """The tanks' columns stacked into one bank (empty without tanks)."""
    if not rows:
        return ThermalTanks.empty(n_steps)
    per_tank = ("capacity_kwh", "loss_coefficient", "efficiency", "soc_init",
                "max_input_kw", "max_output_kw")  # fmt: skip
    return ThermalTanks(
        names=tuple(t["name"] for _, t in rows),
        member=np.array([i for i, _ in rows]),
        use=tuple(t["use"] for _, t in rows),
        **{k: np.array([t[k] for _, t in rows], dtype=float) for k in per_tank},  # type: ignore[arg-type]
        **{  # type: ignore[arg-type]
            k: np.stack([t[k] for _, t in rows], axis=1)
            for k in ("demand_kwh", "elec_per_kwh", "device_max_kwh")
        },
    )


def _autosize(
    schema: dict[str, Any],
    schema_path: Path,
    root: Path,
    names: list[str],
    frames: list[CsvTable],
    rows: slice,
    dt_h: float,
    start_full: str,
    seed: int | None,
    pvs: list[np.ndarray],
    pv_kws: list[float],
    batteries: list[tuple[float, float, float, float]],
    notes: list[str],
    thermal: list[np.ndarray | None],
    tank_rows: list[tuple[int, dict[str, Any]]],
    weather_tables: dict[Path, CsvTable],
) -> None:
    """Hook into :mod:`.autosize`: replaces the PV and battery of every building whose schema
    asks for autosizing (``autosize: true`` or no size), in place, with notes; ``thermal``
    gets each building's heat pump and heater electricity (None: no thermal demand)."""
    sized = autosize_buildings(
        schema, schema_path, root, names, frames, rows, dt_h, start_full, seed, weather_tables
    )
    for i, name in enumerate(names):
        result = sized[name]
        notes.extend(result.notes)
        if result.thermal_kwh is not None:
            thermal[i] = result.thermal_kwh
        tank_rows.extend((i, tank) for tank in result.tanks)
        if result.pv is not None:
            pv_kws[i] = result.pv.nominal_kw
            pvs[i] = result.pv.w_per_kw * result.pv.nominal_kw / 1000.0 * dt_h
        if result.battery is not None:
            b = result.battery
            batteries[i] = (b.capacity_kwh, b.power_kw, b.efficiency, 1.0 - b.depth_of_discharge)
    count = sum((r.pv is not None) + (r.battery is not None) for r in sized.values())
    if count:
        notes.append(
            f"autosize: {count} devices sized with seed {resolve_seed(schema, schema_path, seed)}"
            " by a reproduction of CityLearn 3.0.2's method (docs/scenarios.md); PV output from"
            " pvlib PVWatts replaces the files' solar_generation for autosized PV"
        )


def autosized_devices(path: str | Path, *, seed: int | None = None) -> dict[str, Autosized]:
    """Every included building's autosized PV and battery (for benchmarks and inspection)."""
    schema_path = _schema_path(path)
    schema = _read_schema(schema_path)
    root = schema_path.parent
    if schema.get("root_directory") and (root / str(schema["root_directory"])).is_dir():
        root = root / str(schema["root_directory"])
    names, _ = _included(schema, schema_path)
    frames = [
        read_csv_table(root / str(schema["buildings"][n]["energy_simulation"])) for n in names
    ]
    dt_h = _number(schema_path, "seconds_per_time_step", schema.get("seconds_per_time_step", 3600))
    rows = _rows(schema, schema_path, len(frames[0]))
    first = frames[0]
    month = numeric_column(first, root, "month").astype(int)
    hour = numeric_column(first, root, "hour").astype(int)
    start_full, _ = start_timestamp(month, hour, dt_h / 3600.0)
    return autosize_buildings(
        schema, schema_path, root, names, frames, rows, dt_h / 3600.0, start_full, seed
    )


def _carbon(
    schema: dict[str, Any],
    root: Path,
    names: list[str],
    n_rows: int,
    rows: slice,
    notes: list[str],
) -> np.ndarray | None:
    """``carbon_intensity.csv`` of the first building [kg CO2/kWh], or None (no such file)."""
    cname = schema["buildings"][names[0]].get("carbon_intensity")
    cpath = root / str(cname) if cname else None
    if cpath is None or not cpath.is_file():
        what = f"{cpath} not found" if cpath else "no carbon intensity file in the schema"
        notes.append(f"carbon: {what}; carbon intensity 0 (carbon KPIs are 0)")
        return None
    df = read_csv_table(cpath, ("carbon_intensity",))
    if len(df) != n_rows:
        raise ScenarioError(f"{cpath}: {len(df)} rows, expected {n_rows} (as the building files)")
    notes.append(f"carbon: {cpath.name} carbon_intensity as kg CO2/kWh of grid imports")
    return numeric_column(df, cpath, "carbon_intensity")[rows]


def _prices(
    schema: dict[str, Any],
    schema_path: Path,
    root: Path,
    names: list[str],
    n_rows: int,
    rows: slice,
    notes: list[str],
) -> Prices:
    files = {schema["buildings"][n].get("pricing") for n in names} - {None, ""}
    n_steps = rows.stop - rows.start
    chosen = schema["buildings"][names[0]].get("pricing")
    ppath = root / str(chosen) if chosen else None
    if ppath is None or not ppath.is_file():
        what = f"{ppath} not found" if ppath else "no pricing file in the schema"
        notes.append(
            f"prices: {what}; flat {FALLBACK_PRICE} CT/kWh day-ahead and imbalance, feed-in 0"
        )
        flat = np.full(n_steps, FALLBACK_PRICE)
        return Prices(flat, flat.copy(), flat.copy(), np.zeros(n_steps))
    if len(files) > 1:
        notes.append(f"prices: buildings name different price files; {ppath.name} used for all")
    df = read_csv_table(ppath, ("electricity_pricing",))
    if len(df) != n_rows:
        raise ScenarioError(f"{ppath}: {len(df)} rows, expected {n_rows} (as the building files)")
    da = numeric_column(df, ppath, "electricity_pricing")[rows]
    notes.append(
        f"prices: {ppath.name} electricity_pricing as CT/kWh day-ahead; no imbalance market "
        "(imbalance buy = sell = day-ahead) and no export price (feed-in 0)"
    )
    return Prices(da, da.copy(), da.copy(), np.zeros(n_steps))


def _weather(
    schema: dict[str, Any],
    root: Path,
    names: list[str],
    n_rows: int,
    rows: slice,
    notes: list[str],
    tables: dict[Path, CsvTable] | None = None,
) -> dict[str, np.ndarray]:
    """The first building's weather file's columns (``tables``: files already read)."""
    wname = schema["buildings"][names[0]].get("weather")
    wpath = root / str(wname) if wname else None
    if wpath is None or not wpath.is_file():
        notes.append("weather: no weather file; Scenario.weather left empty")
        return {}
    df = tables[wpath] if tables and wpath in tables else read_csv_table(wpath)
    if len(df) != n_rows:
        raise ScenarioError(f"{wpath}: {len(df)} rows, expected {n_rows} (as the building files)")
    out = {
        key: numeric_column(df, wpath, col, nonnegative=False)[rows]
        for col, key in WEATHER_COLUMNS.items()
        if col in df
    }
    if not out:
        notes.append(f"weather: {wpath.name} has none of {', '.join(WEATHER_COLUMNS)}")
    forecasts = [c for c in df.columns if "_predicted_" in c]
    other = [c for c in df.columns if c not in WEATHER_COLUMNS and c not in forecasts]
    if forecasts:
        # The advisors forecast from history only. CityLearn's 2022 files hold the realized
        # weather 6, 12 and 24 h later in these columns: reading them would be perfect foresight.
        notes.append(
            f"weather: {len(forecasts)} forecast columns (*_predicted_*) not used: the "
            "advisors forecast from history only"
        )
    if other:
        notes.append(f"weather: columns not used: {', '.join(other)}")
    return out
