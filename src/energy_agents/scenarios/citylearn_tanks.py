"""CityLearn's thermal storage tanks (``cooling_storage``, ``heating_storage``,
``dhw_storage``): one :class:`~energy_agents.sim.thermal_storage.ThermalTanks` row per
building and use, with the COP of the device that charges it.

Attributes read (``<storage>.attributes``): ``capacity`` [kWh_th] (autosized as CityLearn's
``StorageTank.autosize`` when asked), ``loss_coefficient`` [share per hour, in [0, 1];
default CityLearn's U(0.001, 0.009) draw], ``efficiency`` [round trip, in (0, 1]; default
U(0.9, 0.98)], ``initial_soc`` [0, 1] (default 0), ``max_input_power`` /
``max_output_power`` [kW_th, >= 0, optional]. The device's ``nominal_power`` [kW electric]
(autosized when asked) limits the charging: device output <= nominal x dt x COP. A bad value
is refused naming the file and field; a tank of capacity 0, or without a demand to serve, is
left out with a note.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..sim.checks import ScenarioError
from .autosize import (
    BuildingContext,
    _column,
    _seed_for,
    device_cop,
    draw,
    needs_autosize,
    thermal_sizes,
)

TANKS = (  # storage, its device, its demand column, heating?, the use's short name
    ("cooling_storage", "cooling_device", "cooling_demand", False, "cooling"),
    ("heating_storage", "heating_device", "heating_demand", True, "heating"),
    ("dhw_storage", "dhw_device", "dhw_demand", True, "dhw"),
)
LOSS_COEFFICIENT = (0.001, 0.009)
TANK_EFFICIENCY = (0.9, 0.98)


def _value(
    ctx: BuildingContext, field: str, raw: Any, lo: float, hi: float, *, open_lo: bool = False
) -> float:
    where = f"{ctx.schema_path}: field buildings.{ctx.name}.{field}"
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: {raw!r} is not a number") from None
    if not math.isfinite(x) or x < lo or x > hi or (open_lo and x == lo):
        bracket = "(" if open_lo else "["
        raise ScenarioError(f"{where}: {raw!r} must be in {bracket}{lo:g}, {hi:g}]")
    return x


def device_cop_and_power(
    ctx: BuildingContext, device: str, col: str, heating: bool
) -> tuple[np.ndarray, float | None]:
    """(kWh_th per kWh electric per step, nominal electric power [kW] or None) of the
    device serving ``col`` (:func:`.autosize.device_cop`)."""
    dev = ctx.spec.get(device) or {}
    attrs = dev.get("attributes") or {}
    cop = device_cop(ctx, device, col, heating)
    if not dev:
        return cop, None
    if needs_autosize(dev, "nominal_power"):
        return cop, thermal_sizes(ctx).get(device)
    return cop, _value(
        ctx, f"{device}.attributes.nominal_power", attrs["nominal_power"], 0, math.inf
    )


def building_tanks(
    ctx: BuildingContext, notes: list[str], *, served: bool = True
) -> list[dict[str, Any]]:
    """The building's tanks as ThermalTanks columns (one dict per tank); ``served`` False:
    the building's thermal demands are not served (no demand, or noted), its tanks left out
    with a note."""
    out: list[dict[str, Any]] = []
    for storage, device, col, heating, use in TANKS:
        dev = ctx.spec.get(storage)
        if not isinstance(dev, dict) or not dev:
            continue
        if not served:
            notes.append(f"{ctx.name}: {storage} left out (no {col} served)")
            continue
        field = f"{storage}.attributes"
        attrs = dev.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise ScenarioError(
                f"{ctx.schema_path}: field buildings.{ctx.name}.{field}: expected an object"
            )
        if needs_autosize(dev, "capacity"):
            cap = thermal_sizes(ctx).get(storage, 0.0)
        else:
            cap = _value(ctx, f"{field}.capacity", attrs["capacity"], 0, math.inf)
        seed = _seed_for(ctx, storage)
        loss = draw(seed, attrs.get("loss_coefficient"), LOSS_COEFFICIENT)
        loss = _value(ctx, f"{field}.loss_coefficient", loss, 0, 1)
        eff = draw(seed, attrs.get("efficiency"), TANK_EFFICIENCY)
        eff = _value(ctx, f"{field}.efficiency", eff, 0, 1, open_lo=True)
        soc = _value(ctx, f"{field}.initial_soc", attrs.get("initial_soc", 0.0), 0, 1)
        limits = [
            math.inf
            if attrs.get(key) is None
            else _value(ctx, f"{field}.{key}", attrs[key], 0, math.inf)
            for key in ("max_input_power", "max_output_power")
        ]
        demand = _column(ctx, col)
        if cap <= 0 or not demand.any():
            why = "capacity 0" if cap <= 0 else f"no {col} to serve"
            notes.append(f"{ctx.name}: {storage} left out ({why})")
            continue
        cop, nominal = device_cop_and_power(ctx, device, col, heating)
        device_max = np.full(cop.shape, math.inf) if nominal is None else nominal * ctx.dt_h * cop
        out.append(
            {
                "name": f"{ctx.name}/{use}",
                "use": use,
                "capacity_kwh": cap,
                "loss_coefficient": loss,
                "efficiency": eff,
                "soc_init": soc,
                "max_input_kw": limits[0],
                "max_output_kw": limits[1],
                "demand_kwh": demand,
                "elec_per_kwh": 1.0 / cop,
                "device_max_kwh": device_max,
            }
        )
    return out
