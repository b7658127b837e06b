"""Autosizing of CityLearn PV and batteries: a reproduction of CityLearn 3.0.2's method.

CityLearn sizes a device when its schema entry says ``autosize: true``; we also size one that
states no size (``pv.attributes.nominal_power``, ``electrical_storage.attributes.capacity``).
The method follows ``citylearn/building.py`` (``autosize_pv``, ``autosize_electrical_storage``,
``_estimate_baseline_electricity_consumption``) and ``citylearn/energy_model.py``
(``PV.autosize``, ``Battery.autosize``, ``HeatPump.get_cop``); docs/scenarios.md has the
equations. It is not bit-identical (pvlib's PVWatts instead of SAM's, see below).

**Randomness, deterministic for a seed.** CityLearn gives every device its own seed, an md5 of
``building name, building type, device name, device type`` times ``random_seed + 1``
(:func:`device_seed`), and every random attribute is the first draw of a fresh
``numpy.random.RandomState(device_seed)``. We do the same, so for the same schema and seed the
sampled quantities (battery model and hours of storage, the PV's share of annual demand, heat
pump efficiencies and supply temperatures) are CityLearn's own.

**Baseline demand** [kWh per step] = ``non_shiftable_load`` + the electricity of the heating,
cooling and hot-water devices serving ``heating_demand``, ``cooling_demand``, ``dhw_demand``:
a heat pump at COP = efficiency x (T_supply + 273.15) / |T_supply - T_outdoor| (clipped to 20
when negative or above 20), an electric heater at its efficiency. A demand whose device the
schema does not name is served at the middle of CityLearn's default ranges (CityLearn draws an
unseeded default device there; we cannot reproduce an unseeded draw).

**Battery.** Demand = mean over days (blocks of 24 rows, as CityLearn) of the daily peak.
Among :data:`BATTERY_CHOICES_FILE` (CityLearn's ``battery_choices.yaml``: ten real home
batteries) the models whose power is <= that demand (else the smallest one) are candidates;
one is drawn; capacity = model capacity x max(1, floor(demand x hours / model capacity)) with
hours ~ U(1.5, 3.5); power = model power (units in series; ``parallel: true`` multiplies it).
Missing depth of discharge -> 1; missing efficiency -> U(0.90, 0.98) (CityLearn's defaults).

**PV.** Output per kW from the dataset's weather through pvlib's PVWatts (solar position at mid
hour, Perez transposition, physical IAM, SAPM open-rack cell temperature, PVWatts DC with
gamma -0.37 %/C and 14.08 % system losses, PVWatts inverter at the design's DC/AC ratio): from
the EPW file the schema names (``pv.autosize_attributes.epw_filepath``), else from the weather
CSV (DNI, DHI, temperature) at ``autosize_attributes.latitude``/``longitude`` (the files'
clock read as local standard time, UTC offset = round(longitude / 15) h). Size = floor(
annual demand / annual yield per kW x share / module kW) modules, share ~ U(0.7, 1.0), at least
one module, at most floor(roof area / module area) modules (module area = 5.263 m^2 per kW
when the design has none). CityLearn samples the design (module, tilt, azimuth, DC/AC ratio)
from LBNL's Tracking the Sun table, which is not available offline; :data:`PV_DESIGNS_FILE`
holds the same columns (a file from that table can replace it) and ships one typical design
(400 W modules, tilt 20 deg, south, DC/AC 1.2: PVWatts' defaults with a current module size).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..sim.heat_pump import COP_MAX, heat_pump_cop
from ..sim.params import ScenarioError
from .csv_table import CsvTable

if TYPE_CHECKING:  # pandas (for pvlib and the choice tables) is imported where it is used
    import pandas as pd

__all__ = ["COP_MAX", "heat_pump_cop"]  # re-exported: where the autosizing found them first

DATA = Path(__file__).resolve().parent / "data"
BATTERY_CHOICES_FILE = DATA / "battery_choices.csv"
PV_DESIGNS_FILE = DATA / "pv_designs.csv"
DEFAULT_BUILDING_TYPE = "citylearn.citylearn.Building"
"""CityLearn's building type when the schema names none (part of the device seed)."""
DURATION_H = (1.5, 3.5)
ZNE_SHARE = (0.7, 1.0)
BATTERY_EFFICIENCY = (0.90, 0.98)
HEAT_PUMP_EFFICIENCY = (0.2, 0.3)
HEATING_SUPPLY_C = (45.0, 50.0)
COOLING_SUPPLY_C = (7.0, 10.0)
HEATER_EFFICIENCY = (0.9, 0.99)
M2_PER_KW = 5.263
"""Module area per kW when the design gives none (CityLearn's fallback)."""
PVWATTS_LOSSES = 0.1408
GAMMA_PDC = -0.0037
INVERTER_EFFICIENCY = 0.96
DEMANDS = (
    ("cooling_device", "cooling_demand", False),
    ("heating_device", "heating_demand", True),
    ("dhw_device", "dhw_demand", True),
)


def device_seed(building: str, building_type: str, device: str, device_type: str, seed: int) -> int:
    """CityLearn's per-device seed (``internal/loading.py``): cumulative md5 sums x (seed + 1)."""
    import hashlib  # here: only autosizing needs it

    md5 = hashlib.md5()
    total = 0
    for text in (building, building_type, device, device_type):
        md5.update(text.encode())
        total += int(md5.hexdigest(), 16)
    return int(str(total * (seed + 1))[:9])


def draw(seed: int, value: Any, default: float | tuple[float, float]) -> float:
    """A device attribute as CityLearn sets it: the stated number, else the default (a range is
    sampled with the first draw of a fresh ``RandomState(seed)``)."""
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        if isinstance(value, (list, tuple)):
            return float(np.random.RandomState(seed).uniform(*value))
        return float(value)
    if isinstance(default, tuple):
        return float(np.random.RandomState(seed).uniform(*default))
    return float(default)


def needs_autosize(dev: dict[str, Any] | None, size_key: str) -> bool:
    """Whether a schema device entry is to be autosized (``autosize: true`` or no size)."""
    if not dev:
        return False
    attrs = dev.get("attributes") or {}
    return bool(dev.get("autosize")) or attrs.get(size_key) is None


@dataclass(frozen=True)
class AutosizedBattery:
    capacity_kwh: float
    power_kw: float
    efficiency: float
    depth_of_discharge: float
    model: str
    units: int
    hours: float
    demand_kw: float


@dataclass(frozen=True)
class AutosizedPV:
    nominal_kw: float
    w_per_kw: np.ndarray = field(repr=False)
    """AC output [W per kW installed] per row of the building file."""
    share: float
    module_kw: float
    roof_limit_kw: float
    annual_demand_kwh: float
    source: str


@dataclass(frozen=True)
class BuildingContext:
    """What autosizing reads for one building (arrays over the simulated rows)."""

    schema_path: Path
    root: Path
    name: str
    spec: dict[str, Any]
    frame: CsvTable
    rows: slice
    seed: int
    dt_h: float
    temperature_c: np.ndarray | None


NUMERIC_SIZING_ATTRIBUTES = (
    "duration",
    "safety_factor",
    "zero_net_energy_proportion",
    "roof_area",
    "latitude",
    "longitude",
)


def _sizing_attributes(ctx: BuildingContext, device: str) -> dict[str, Any]:
    """``autosize_attributes`` of a device, numbers checked (a clear error naming the field)."""
    dev = ctx.spec.get(device) or {}
    attrs = dev.get("autosize_attributes") or {}
    if not isinstance(attrs, dict):
        raise ScenarioError(
            f"{ctx.schema_path}: field buildings.{ctx.name}.{device}.autosize_attributes: "
            "expected an object"
        )
    for key in NUMERIC_SIZING_ATTRIBUTES:
        value = attrs.get(key)
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        ok = len(values) in (1, 2) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        )
        if ok and key not in ("latitude", "longitude"):
            ok = all(v >= 0 for v in values)
        if not ok:
            raise ScenarioError(
                f"{ctx.schema_path}: field buildings.{ctx.name}.{device}.autosize_attributes."
                f"{key}: {value!r} must be a finite number (or a [low, high] range), >= 0"
            )
    return dict(attrs)


def _seed_for(ctx: BuildingContext, device: str) -> int:
    dev = ctx.spec.get(device) or {}
    attrs = dev.get("attributes") or {}
    if attrs.get("random_seed") is not None:
        return int(attrs["random_seed"])
    btype = str(ctx.spec.get("type") or DEFAULT_BUILDING_TYPE)
    return device_seed(ctx.name, btype, device, str(dev.get("type", "")), ctx.seed)


def _column(ctx: BuildingContext, col: str) -> np.ndarray:
    if col not in ctx.frame:
        return np.zeros(ctx.rows.stop - ctx.rows.start)
    values = ctx.frame.numeric(col)[ctx.rows]
    return np.nan_to_num(values)


def device_cop(ctx: BuildingContext, device: str, col: str, heating: bool) -> np.ndarray:
    """(rows,) kWh of heat (or cold) per kWh of electricity of the device serving ``col``, as
    CityLearn's runtime draws it: an electric heater's efficiency; a heat pump's COP, the
    Carnot fraction on the outdoor temperature (:func:`..sim.heat_pump.heat_pump_cop`)."""
    n = ctx.rows.stop - ctx.rows.start
    dev = ctx.spec.get(device) or {}
    attrs = dev.get("attributes") or {}
    if str(dev.get("type", "")).endswith("ElectricHeater"):
        return np.full(n, draw(_seed_for(ctx, device), attrs.get("efficiency"), HEATER_EFFICIENCY))
    if ctx.temperature_c is None:
        raise ScenarioError(
            f"{ctx.schema_path}: buildings.{ctx.name}: {col} needs the weather file's "
            "outdoor_dry_bulb_temperature for its heat pump's COP"
        )
    if dev:
        s = _seed_for(ctx, device)
        eff = draw(s, attrs.get("efficiency"), HEAT_PUMP_EFFICIENCY)
        key, rng = (
            ("target_heating_temperature", HEATING_SUPPLY_C)
            if heating
            else ("target_cooling_temperature", COOLING_SUPPLY_C)
        )
        supply = draw(s, attrs.get(key), rng)
    else:
        eff = sum(HEAT_PUMP_EFFICIENCY) / 2
        supply = sum(HEATING_SUPPLY_C if heating else COOLING_SUPPLY_C) / 2
    return heat_pump_cop(eff, supply, ctx.temperature_c, heating)


def baseline_consumption(ctx: BuildingContext) -> np.ndarray:
    """Electricity [kWh per step] without storage or PV: load + heating/cooling/hot water."""
    total = _column(ctx, "non_shiftable_load")
    for device, col, heating in DEMANDS:
        demand = _column(ctx, col)
        if demand.any():
            total = total + demand / device_cop(ctx, device, col, heating)
    return total


STORAGE_SAFETY = (1.0, 2.0)
THERMAL_STORAGES = (
    ("cooling_storage", "cooling_demand"),
    ("heating_storage", "heating_demand"),
    ("dhw_storage", "dhw_demand"),
)


def thermal_sizes(ctx: BuildingContext) -> dict[str, float]:
    """CityLearn's sizes of the building's thermal devices that ask for autosizing.

    Heat pump / heater nominal power [kW] = max over steps of demand / COP (or / efficiency)
    x safety factor (default 1); storage tank capacity [kWh] = max over steps of its demand x
    safety factor (default U(1.0, 2.0)), as ``HeatPump.autosize``, ``ElectricHeater.autosize``
    and ``StorageTank.autosize``. For the thermal devices' loader; keys are schema device
    names. Demands are kWh per step, so kW equal kWh for hourly data (the only case sized).
    """
    out: dict[str, float] = {}
    for device, col, heating in DEMANDS:
        dev = ctx.spec.get(device)
        if not needs_autosize(dev, "nominal_power"):
            continue
        assert dev is not None
        attrs, size_attrs = dev.get("attributes") or {}, _sizing_attributes(ctx, device)
        s = _seed_for(ctx, device)
        demand = _column(ctx, col)
        safety = draw(s, size_attrs.get("safety_factor"), 1.0)
        if str(dev.get("type", "")).endswith("ElectricHeater"):
            eff = draw(s, attrs.get("efficiency"), HEATER_EFFICIENCY)
            out[device] = float(np.nanmax(demand / eff, initial=0.0)) * safety
            continue
        if ctx.temperature_c is None:
            raise ScenarioError(
                f"{ctx.schema_path}: buildings.{ctx.name}.{device}: autosizing needs the "
                "weather file's outdoor_dry_bulb_temperature"
            )
        eff = draw(s, attrs.get("efficiency"), HEAT_PUMP_EFFICIENCY)
        key, rng = (
            ("target_heating_temperature", HEATING_SUPPLY_C)
            if heating
            else ("target_cooling_temperature", COOLING_SUPPLY_C)
        )
        cop = heat_pump_cop(eff, draw(s, attrs.get(key), rng), ctx.temperature_c, heating)
        out[device] = float(np.nanmax(demand / cop, initial=0.0)) * safety
    for device, col in THERMAL_STORAGES:
        dev = ctx.spec.get(device)
        if not needs_autosize(dev, "capacity"):
            continue
        assert dev is not None
        size_attrs = _sizing_attributes(ctx, device)
        safety = draw(_seed_for(ctx, device), size_attrs.get("safety_factor"), STORAGE_SAFETY)
        out[device] = float(np.nanmax(_column(ctx, col), initial=0.0)) * safety
    return out


@lru_cache(maxsize=4)
def battery_choices(path: Path = BATTERY_CHOICES_FILE) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path).set_index("model")


@lru_cache(maxsize=4)
def pv_designs(path: Path = PV_DESIGNS_FILE) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path)


def autosize_battery(
    daily_peak_kw: float, seed: int, attrs: dict[str, Any], table: pd.DataFrame | None = None
) -> AutosizedBattery:
    """``Battery.autosize`` for a mean daily peak demand [kW] (``autosize_attributes`` in attrs)."""
    table = battery_choices() if table is None else table
    hours = draw(seed, attrs.get("duration"), DURATION_H)
    safety = draw(seed, attrs.get("safety_factor"), 1.0)
    parallel = bool(attrs.get("parallel", False))
    choices = table[table["nominal_power"] <= daily_peak_kw]
    if choices.empty:
        choices = table.sort_values("nominal_power").iloc[0:1]
    model = str(np.random.RandomState(seed).choice(list(choices.index)))
    row = choices.loc[model]
    units = max(1, math.floor(daily_peak_kw * hours * safety / float(row["capacity"])))
    dod = draw(seed, row["depth_of_discharge"], 1.0)
    eff = draw(seed, row["efficiency"], BATTERY_EFFICIENCY)
    return AutosizedBattery(
        capacity_kwh=float(row["capacity"]) * units,
        power_kw=float(row["nominal_power"]) * max(1.0, units * int(parallel)),
        efficiency=eff,
        depth_of_discharge=dod,
        model=model,
        units=units,
        hours=hours,
        demand_kw=daily_peak_kw,
    )


def pvwatts_w_per_kw(
    times: pd.DatetimeIndex,
    latitude: float,
    longitude: float,
    weather: pd.DataFrame,
    design: dict[str, Any],
) -> np.ndarray:
    """PVWatts AC output [W per kW DC] at the mid-hour ``times``; weather columns ``ghi``,
    ``dni``, ``dhi``, ``temp_air``, ``wind_speed`` (W/m^2, C, m/s)."""
    import pvlib

    tilt = float(design["tilt_1"])
    azimuth = float(design["azimuth_1"])
    dc_ac = float(design["inverter_loading_ratio"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pvlib on pandas 3: deprecations inside solar position
        sol = pvlib.solarposition.get_solarposition(times, latitude, longitude)
        dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(times), dtype=float)
        airmass = np.asarray(pvlib.atmosphere.get_relative_airmass(sol["apparent_zenith"]))
    zenith = sol["apparent_zenith"].to_numpy()
    sun_az = sol["azimuth"].to_numpy()
    dni, ghi, dhi, temp, wind = (
        weather[c].to_numpy(dtype=float) for c in ("dni", "ghi", "dhi", "temp_air", "wind_speed")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        poa = pvlib.irradiance.get_total_irradiance(
            tilt, azimuth, zenith, sun_az, dni, ghi, dhi,
            dni_extra=dni_extra, airmass=airmass, model="perez",
        )  # fmt: skip
        iam = pvlib.iam.physical(pvlib.irradiance.aoi(tilt, azimuth, zenith, sun_az))
    direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float) * np.asarray(iam))
    diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
    effective = np.clip(direct + diffuse, 0.0, None)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
    cell = pvlib.temperature.sapm_cell(effective, temp, wind, **params)
    dc = pvlib.pvsystem.pvwatts_dc(effective, cell, pdc0=1000.0, gamma_pdc=GAMMA_PDC)
    dc = np.asarray(dc, dtype=float) * (1.0 - PVWATTS_LOSSES)
    ac = pvlib.inverter.pvwatts(dc, pdc0=1000.0 / dc_ac, eta_inv_nom=INVERTER_EFFICIENCY)
    return np.clip(np.nan_to_num(np.asarray(ac, dtype=float)), 0.0, None)


@lru_cache(maxsize=8)
def _epw_output(path: Path, design_key: tuple[tuple[str, Any], ...]) -> np.ndarray:
    import pandas as pd
    import pvlib

    try:
        data, meta = pvlib.iotools.read_epw(str(path))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ScenarioError(f"{path}: not a readable EPW weather file ({exc})") from None
    times = pd.DatetimeIndex(data.index) - pd.Timedelta(minutes=30)  # EPW rows end the hour
    out = pvwatts_w_per_kw(
        times, float(meta["latitude"]), float(meta["longitude"]), data, dict(design_key)
    )
    out.flags.writeable = False
    return out


def _csv_output(
    ctx: BuildingContext, attrs: dict[str, Any], design: dict[str, Any], start: str
) -> tuple[np.ndarray, str] | str:
    """PV output from the weather CSV (full length of the file), or why it cannot be made."""
    lat, lon = attrs.get("latitude"), attrs.get("longitude")
    wname = ctx.spec.get("weather")
    if lat is None or lon is None or not wname:
        return "no EPW file and no weather CSV with pv.autosize_attributes latitude/longitude"
    wpath = ctx.root / str(wname)
    import pandas as pd

    from .csv_table import numeric_column, read_csv_table

    df = read_csv_table(wpath, ("direct_solar_irradiance", "diffuse_solar_irradiance"))
    dni = numeric_column(df, wpath, "direct_solar_irradiance")
    dhi = numeric_column(df, wpath, "diffuse_solar_irradiance")
    if "outdoor_dry_bulb_temperature" in df:
        temp = numeric_column(df, wpath, "outdoor_dry_bulb_temperature", nonnegative=False)
    else:
        temp = np.full(len(df), 20.0)
    # The files' clock is local standard time: UTC offset from the longitude, sun at mid-step.
    offset = pd.Timedelta(hours=round(float(lon) / 15.0))
    times = pd.date_range(start, periods=len(df), freq=pd.Timedelta(hours=ctx.dt_h))
    times = (times + pd.Timedelta(hours=ctx.dt_h / 2) - offset).tz_localize("UTC")
    import pvlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zen = pvlib.solarposition.get_solarposition(times, float(lat), float(lon))["zenith"]
    ghi = dhi + dni * np.clip(np.cos(np.radians(zen.to_numpy())), 0.0, None)
    weather = pd.DataFrame(
        {"dni": dni, "dhi": dhi, "ghi": ghi, "temp_air": temp, "wind_speed": 1.0}, index=times
    )
    out = pvwatts_w_per_kw(times, float(lat), float(lon), weather, design)
    return out, f"{wpath.name} at {lat}, {lon} (the files' clock as local standard time)"


def autosize_pv(
    ctx: BuildingContext, annual_demand_kwh: float, start: str, designs: pd.DataFrame | None = None
) -> AutosizedPV | str:
    """``PV.autosize`` for one building, or a sentence saying why it cannot be sized."""
    attrs = _sizing_attributes(ctx, "pv")
    seed = _seed_for(ctx, "pv")
    designs = pv_designs() if designs is None else designs
    design = designs.sample(1, random_state=seed).iloc[0].to_dict()
    module_kw = float(design["nameplate_capacity_module_1"]) / 1000.0
    n_rows = len(ctx.frame)
    if attrs.get("epw_filepath"):
        epw = ctx.root / str(attrs["epw_filepath"])
        if not epw.is_file():
            raise ScenarioError(
                f"{ctx.schema_path}: field buildings.{ctx.name}.pv.autosize_attributes."
                f"epw_filepath: {epw} not found"
            )
        w_full = np.array(_epw_output(epw, tuple(sorted(design.items()))))
        source = epw.name
        if len(w_full) < n_rows:
            raise ScenarioError(
                f"{epw}: {len(w_full)} hourly rows, the building files have {n_rows}"
            )
    else:
        made = _csv_output(ctx, attrs, design, start)
        if isinstance(made, str):
            return made
        w_full, source = made
        if len(w_full) != n_rows:
            raise ScenarioError(f"{source}: {len(w_full)} rows, the building files have {n_rows}")
    w_per_kw = w_full[:n_rows]
    share = draw(seed, attrs.get("zero_net_energy_proportion"), ZNE_SHARE)
    safety = draw(seed, attrs.get("safety_factor"), 1.0)
    # CityLearn divides by the whole weather file's yield, not the simulated rows'.
    yield_kwh = float(w_full.sum()) / 1000.0 * ctx.dt_h
    if attrs.get("use_sample_target") and design.get("PV_system_size_DC") is not None:
        target = float(design["PV_system_size_DC"])
    elif yield_kwh <= 0:
        target = 0.0
    else:
        target = math.floor(annual_demand_kwh / yield_kwh * share * safety / module_kw) * module_kw
    area = design.get("module_area")
    pv_area = module_kw * M2_PER_KW if area is None or math.isnan(float(area)) else float(area)
    roof = attrs.get("roof_area")
    roof_kw = math.inf if roof is None else math.floor(float(roof) / pv_area) * module_kw
    kw = min(max(target, module_kw), roof_kw)
    return AutosizedPV(kw, w_per_kw, share, module_kw, roof_kw, annual_demand_kwh, source)


@dataclass
class Autosized:
    """One building's autosized devices (None: not autosized) and its notes."""

    pv: AutosizedPV | None = None
    battery: AutosizedBattery | None = None
    notes: list[str] = field(default_factory=list)
    thermal_kwh: np.ndarray | None = field(default=None, repr=False)
    """Electricity [kWh per simulated row] its heat pumps and heaters draw to serve the
    recorded heating, cooling and hot-water demands (None: none, or not computable: noted)."""
    tanks: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """Its thermal storage tanks as ThermalTanks columns (:mod:`.citylearn_tanks`)."""


def autosize_building(ctx: BuildingContext, start: str) -> Autosized:
    """Autosize the building's PV and battery where its schema asks for it."""
    out = Autosized()
    spec = ctx.spec
    pv_dev, bat_dev = spec.get("pv"), spec.get("electrical_storage")
    want_pv = needs_autosize(pv_dev, "nominal_power")
    want_bat = needs_autosize(bat_dev, "capacity")
    if not (want_pv or want_bat):
        return out
    if abs(ctx.dt_h - 1.0) > 1e-9:
        what = ", ".join(d for d, w in (("pv", want_pv), ("electrical_storage", want_bat)) if w)
        out.notes.append(
            f"{ctx.name}: {what} not autosized: autosizing needs hourly data "
            f"(steps are {ctx.dt_h:g} h) -> no such device"
        )
        return out
    demand = baseline_consumption(ctx)
    if want_bat:
        assert bat_dev is not None
        n_days = max(1, math.ceil(len(demand) / 24))
        peaks = [demand[24 * d : 24 * (d + 1)].max() for d in range(n_days)]
        daily_peak = float(np.mean(peaks))
        b = autosize_battery(
            daily_peak,
            _seed_for(ctx, "electrical_storage"),
            _sizing_attributes(ctx, "electrical_storage"),
        )
        out.battery = b
        out.notes.append(
            f"{ctx.name}: electrical_storage autosized: {b.units} x {b.model} = "
            f"{b.capacity_kwh:g} kWh / {b.power_kw:g} kW ({b.hours:.2f} h of the mean daily "
            f"peak {daily_peak:.2f} kW)"
        )
    if want_pv:
        # CityLearn: the mean over 8,760-row blocks of their sums.
        blocks = range(0, len(demand), 8760)
        annual = float(np.mean([demand[k : k + 8760].sum() for k in blocks]))
        p = autosize_pv(ctx, annual, start)
        if isinstance(p, str):
            out.notes.append(f"{ctx.name}: pv not autosized: {p} -> no PV")
        else:
            out.pv = p
            roof = "" if math.isinf(p.roof_limit_kw) else f", roof limit {p.roof_limit_kw:g} kW"
            out.notes.append(
                f"{ctx.name}: pv autosized: {p.nominal_kw:g} kW ({p.share:.2f} of "
                f"{p.annual_demand_kwh:.0f} kWh demand, {p.module_kw:g} kW modules{roof}; "
                f"PVWatts on {p.source})"
            )
    return out


def resolve_seed(schema: dict[str, Any], schema_path: Path, seed: int | None) -> int:
    """The autosizing seed: ``seed``, else the schema's ``random_seed``, else 0."""
    if seed is not None:
        return int(seed)
    raw = schema.get("random_seed")
    if raw is None:
        return 0
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ScenarioError(
            f"{schema_path}: field random_seed: {raw!r} is not an integer"
        ) from None


def thermal_electricity(ctx: BuildingContext) -> tuple[np.ndarray | None, str | None]:
    """What the building's heat pumps and electric heaters draw to serve its recorded thermal
    demands (CityLearn's COP on the outdoor temperature, :func:`baseline_consumption`), and a
    note when it cannot be computed (no outdoor temperature for a heat pump)."""
    if not any(_column(ctx, col).any() for _, col, _ in DEMANDS):
        return None, None
    try:
        total = baseline_consumption(ctx)
    except ScenarioError as exc:
        return None, f"{ctx.name}: thermal demands not served ({exc}); they are left out"
    return total - _column(ctx, "non_shiftable_load"), None
