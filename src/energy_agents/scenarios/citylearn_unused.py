"""Names every entry of a CityLearn ``schema.json`` that the ``citylearn:`` loader does not use.

A loader must name everything it cannot use: devices with a ``type`` are named by the loader
itself ("devices ignored: ..."); this module names the rest, so that nothing is dropped
without a word: collections of devices without a ``type`` of their own (``chargers``,
``washing_machines``, ...), top-level sections (``electric_vehicles_def``, ``start_date``,
``observations``, ``agent``, ...) and per-building settings (``inactive_actions``, ...).
Empty and false values are skipped (they ask for nothing).
"""

from __future__ import annotations

from typing import Any

TOP_LEVEL_READ = frozenset(
    {
        "buildings",
        "root_directory",
        "seconds_per_time_step",
        "simulation_start_time_step",
        "simulation_end_time_step",
        "random_seed",  # the autosizing seed
        "electric_vehicles_def",  # the EVs the chargers serve (citylearn_ev)
    }
)
BUILDING_READ = frozenset(
    {
        "include",
        "energy_simulation",
        "weather",
        "pricing",
        "carbon_intensity",
        "type",  # part of the autosizing device seeds
    }
)


def _present(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != {}


def _typed_device(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def unused_entries(
    schema: dict[str, Any], names: list[str], used_devices: tuple[str, ...]
) -> list[str]:
    """Notes naming the schema's unused top-level keys and the included buildings' unused keys
    (``used_devices``: the building keys the loader reads as devices)."""
    notes: list[str] = []
    top = [k for k, v in schema.items() if k not in TOP_LEVEL_READ and _present(v)]
    if top:
        notes.append(f"schema entries not used: {', '.join(top)}")
    where: dict[str, list[str]] = {}
    for name in names:
        spec = schema["buildings"][name]
        for key, value in spec.items():
            if key in BUILDING_READ or key in used_devices or not _present(value):
                continue
            if _typed_device(value):
                continue  # named by the loader's "devices ignored" note
            label = name
            if isinstance(value, dict):
                label = f"{name}: {', '.join(map(str, value))}"
            where.setdefault(key, []).append(label)
    for key, labels in where.items():
        if len(labels) == len(names) > 3 and all(":" not in s for s in labels):
            shown = f"all {len(names)} buildings"
        else:
            shown = "; ".join(labels)
        notes.append(f"building entries not used: {key} ({shown})")
    return notes
