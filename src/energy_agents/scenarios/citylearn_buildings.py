"""Every building's devices as the CityLearn loader reads them: the autosized PV and battery
(:mod:`.autosize`), the electricity of the heat pumps and heaters serving the recorded thermal
demands, and the thermal tanks (:mod:`.citylearn_tanks`). Above both, so neither imports the
other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .autosize import (
    Autosized,
    BuildingContext,
    autosize_building,
    resolve_seed,
    thermal_electricity,
)
from .citylearn_tanks import building_tanks
from .csv_table import CsvTable, numeric_column, read_csv_table


def autosize_buildings(
    schema: dict[str, Any],
    schema_path: Path,
    root: Path,
    names: list[str],
    frames: list[CsvTable],
    rows: slice,
    dt_h: float,
    start: str,
    seed: int | None,
    weather_tables: dict[Path, CsvTable] | None = None,
) -> dict[str, Autosized]:
    """Autosize every named building (``frames``: their files, full length; ``start``: the
    timestamp of row 0). The outdoor temperature is read from each building's weather file
    (kept in ``weather_tables`` by path when given, for the caller to read them again)."""
    base_seed = resolve_seed(schema, schema_path, seed)
    temps: dict[Path, np.ndarray | None] = {}
    out: dict[str, Autosized] = {}
    for name, frame in zip(names, frames, strict=True):
        spec = schema["buildings"][name]
        wname = spec.get("weather")
        wpath = root / str(wname) if wname else None
        if wpath is not None and wpath not in temps:
            temps[wpath] = None
            if wpath.is_file():
                wdf = read_csv_table(wpath)
                if weather_tables is not None:
                    weather_tables[wpath] = wdf
                if "outdoor_dry_bulb_temperature" in wdf and len(wdf) == len(frame):
                    temps[wpath] = numeric_column(
                        wdf, wpath, "outdoor_dry_bulb_temperature", nonnegative=False
                    )[rows]
        temp = temps.get(wpath) if wpath is not None else None
        ctx = BuildingContext(schema_path, root, name, spec, frame, rows, base_seed, dt_h, temp)
        sized = autosize_building(ctx, start)
        thermal, note = thermal_electricity(ctx)
        if note:
            sized.notes.append(note)
        tanks = building_tanks(ctx, sized.notes, served=thermal is not None)
        out[name] = replace(sized, thermal_kwh=thermal, tanks=tanks)
    return out
