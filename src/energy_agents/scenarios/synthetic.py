"""The embedded default scenario: a synthetic community built from data inside PyPI packages.

- Weather: the typical meteorological year (TMY3) file bundled with pvlib,
  ``pvlib/data/723170TYA.CSV`` (Greensboro, NC, USA; 36.1 N, 79.95 W), read with
  :func:`pvlib.iotools.read_tmy3` (no network).
- PV: pvlib's models on that weather (solar position, Hay-Davies transposition to a tilted
  plane, physical incidence-angle losses, SAPM cell temperature, PVWatts DC with PVWatts
  system losses, PVWatts inverter). A handful of orientations is computed once (cached) as
  kWh per kWp per hour; each member gets one orientation scaled by its own kWp.
- Load: the BDEW household standard load profile from demandlib (``demandlib.bdew.H25``,
  the 2025 revision of H0, dynamised), normalised to one year and scaled to each member's
  annual consumption, with seeded member-specific variation: a time shift of up to +-2 h,
  a daily level factor and hourly multiplicative noise; every member's year is then rescaled
  so that its annual total is exactly its drawn consumption.
- Tariff: a time-of-use day-ahead price (see :func:`tou_day_ahead`), imbalance buy 1.25 x and
  imbalance sell 0.75 x day-ahead, feed-in 0.08 CT/kWh; a demand charge of 10 CT per kW of
  each month's highest import; a connection limit of 1.5 kW per member for import (a typical
  after-diversity maximum demand per home) and 60 % of the installed PV for export (at least
  the import limit), 1 CT/kWh on import above the limit (:func:`default_tariff`).
- EVs (``ev_share`` of the homes, 0 by default): one home charger per EV, overnight sessions
  from a parametric model with published figures (:mod:`.synthetic_ev`).
- Heat pumps (``heat_pump_share`` of the homes, 0 by default): space heat by degree-hours on the
  TMY's temperature and hot water, through CityLearn's COP model (:mod:`.synthetic_heat`).
- Carbon: the measured hourly grid carbon intensity of the CityLearn Challenge 2022 dataset,
  placed on this calendar by month, day and hour (``scenarios/data/carbon_intensity.csv``,
  written by ``scripts/make_synthetic_carbon.py``; the only full year of hourly grid carbon
  intensity among the bundled data).

Everything is deterministic for a seed; the weather/PV/profile base is cached per process and
the per-member arrays are built vectorized (no per-member pvlib calls), so 10,000 members
take a few seconds.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..sim.params import Prices, Scenario, ScenarioError, StorageBank, Tariff
from .synthetic_ev import synthetic_chargers
from .synthetic_heat import add_heat_pumps

YEAR = 2023
"""Calendar year of the synthetic community (2023-01-01 is a Sunday; 365 days)."""
START = f"{YEAR}-01-01T00:00:00"
N_STEPS = 8760
DEFAULT_MEMBERS = 20
DEFAULT_FLEXIBLE_SHARE = 0.15
DEFAULT_ELASTICITY = 10.0
DEFAULT_EV_SHARE = 0.0
"""Homes with an EV by default (``--ev-share`` sets it; 0 keeps the published figures of the
default community comparable across versions)."""

ANNUAL_LOAD_KWH = (2000.0, 6000.0)
"""Range of the members' annual consumption [kWh/yr], drawn uniformly."""
MAX_SHIFT_H = 2
"""Members' load profiles are shifted by -2..+2 h (drawn per member)."""
DAILY_SD = 0.15
"""Standard deviation of a member's daily load level (normal around 1, clipped to 0.5-1.6)."""
HOURLY_NOISE = 0.3
"""Hourly multiplicative noise, uniform in [0.7, 1.3]."""
NOISE_BLOCK = 512
"""Members per block when applying the hourly noise (bounds the temporary memory)."""
PV_SHARE = 0.8
"""Share of members with a PV system; the others have 0 kWp."""
PV_KWP = (2.0, 8.0)
"""Range of installed PV [kWp] of members with PV (rounded to 0.1 kWp)."""
BATTERY_SHARE = 0.5
BATTERY_SIZES_KWH = (5.0, 6.4, 8.0, 10.0, 13.5)
BATTERY_C_RATE = 0.5
BATTERY_EFFICIENCY = 0.95
COMMUNITY_STORAGE_KWH_PER_MEMBER = {"storage_A": 2.5, "storage_B": 1.5}
COMMUNITY_STORAGE_C_RATE = 0.5
COMMUNITY_STORAGE_EFFICIENCY = 0.92

# Tariff [CT/kWh]
OFF_PEAK = 0.20  # 21:00-07:00 every day
MID = 0.30  # 07:00-21:00, except the weekday peak
PEAK = 0.45  # 17:00-21:00 Monday-Friday
IMBALANCE_BUY_FACTOR = 1.25
IMBALANCE_SELL_FACTOR = 0.75
FEED_IN = 0.08
DEMAND_CHARGE_CT_PER_KW = 10.0  # per kW of the month's highest import
IMPORT_LIMIT_KW_PER_MEMBER = 1.5  # after-diversity maximum demand of a home
EXPORT_LIMIT_SHARE_OF_PV = 0.6  # of the installed PV (Germany's cap for new PV, 2025)
OVERRUN_CT_PER_KWH = 1.0  # on import above the limit
CARBON_FILE = Path(__file__).parent / "data" / "carbon_intensity.csv"

ORIENTATIONS: tuple[tuple[str, float, float, float], ...] = (
    # name, tilt [deg], azimuth [deg, 180 = south], share of PV members
    ("south", 30.0, 180.0, 0.40),
    ("south-east", 30.0, 135.0, 0.15),
    ("south-west", 30.0, 225.0, 0.15),
    ("east", 25.0, 90.0, 0.10),
    ("west", 25.0, 270.0, 0.10),
    ("flat", 10.0, 180.0, 0.10),
)
DC_AC_RATIO = 1.1
GAMMA_PDC = -0.0037  # 1/K, PVWatts temperature coefficient (standard module)
TMY_FILE = "723170TYA.CSV"


def tmy_path() -> Path:
    """The TMY3 file bundled with pvlib."""
    import pvlib

    return Path(pvlib.__file__).parent / "data" / TMY_FILE


def _quiet_pandas_deprecations() -> None:
    """Inside ``warnings.catch_warnings()``: silence the libraries' pandas deprecations."""
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    pandas4 = getattr(pd.errors, "Pandas4Warning", None)
    if pandas4 is not None:
        warnings.simplefilter("ignore", pandas4)


@functools.lru_cache(maxsize=1)
def _tmy() -> tuple[pd.DataFrame, float, float, float]:
    """The bundled TMY year, one row per step (step ``t`` covers hour ``t`` of the year).

    TMY3 timestamps are hour-ending in local standard time, so row ``t`` (stamped ``t+1`` h)
    describes the hour that starts at ``t`` h: exactly our step ``t``.
    """
    import pvlib

    path = tmy_path()
    if not path.is_file():
        raise ScenarioError(f"{path}: pvlib's bundled TMY file is missing (reinstall pvlib)")
    data, meta = pvlib.iotools.read_tmy3(str(path), coerce_year=YEAR, map_variables=True)
    if len(data) != N_STEPS:
        raise ScenarioError(f"{path}: expected {N_STEPS} hourly rows, got {len(data)}")
    return data, float(meta["latitude"]), float(meta["longitude"]), float(meta["altitude"])


@functools.lru_cache(maxsize=1)
def weather_history() -> dict[str, np.ndarray]:
    """Weather per step from the TMY file (read-only arrays of shape ``(8760,)``)."""
    data = _tmy()[0]
    out = {
        "ghi_w_m2": data["ghi"],
        "dni_w_m2": data["dni"],
        "dhi_w_m2": data["dhi"],
        "temp_air_c": data["temp_air"],
        "wind_speed_m_s": data["wind_speed"],
        "relative_humidity_pct": data["relative_humidity"],
    }
    arrays = {k: np.asarray(v, dtype=np.float64).copy() for k, v in out.items()}
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=1)
def pv_per_kwp() -> np.ndarray:
    """AC output [kWh per kWp per hour] of each orientation in :data:`ORIENTATIONS`.

    Shape ``(8760, len(ORIENTATIONS))``, read-only. Solar position at the middle of each hour.
    """
    import pvlib

    data, lat, lon, alt = _tmy()
    mid = data.index - pd.Timedelta(minutes=30)
    with warnings.catch_warnings():
        _quiet_pandas_deprecations()  # pvlib 0.16 on pandas 3.1: DatetimeIndex.dayofyear
        solpos = pvlib.solarposition.get_solarposition(
            mid, lat, lon, altitude=alt, temperature=data["temp_air"].to_numpy()
        )
        dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(mid), dtype=float)
    zenith = solpos["apparent_zenith"].to_numpy()
    azimuth = solpos["azimuth"].to_numpy()
    dni, ghi, dhi = (data[c].to_numpy(dtype=float) for c in ("dni", "ghi", "dhi"))
    temp_air = data["temp_air"].to_numpy(dtype=float)
    wind = data["wind_speed"].to_numpy(dtype=float)
    losses = 1.0 - pvlib.pvsystem.pvwatts_losses() / 100.0
    tparams = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"]
    cols = []
    for _, tilt, surf_az, _share in ORIENTATIONS:
        poa = pvlib.irradiance.get_total_irradiance(
            tilt,
            surf_az,
            zenith,
            azimuth,
            dni,
            ghi,
            dhi,
            dni_extra=dni_extra,
            model="haydavies",
        )
        aoi = pvlib.irradiance.aoi(tilt, surf_az, zenith, azimuth)
        iam = pvlib.iam.physical(aoi)
        effective = np.asarray(poa["poa_direct"]) * iam + np.asarray(poa["poa_diffuse"])
        effective = np.nan_to_num(np.clip(effective, 0.0, None))
        temp_cell = pvlib.temperature.sapm_cell(
            np.asarray(poa["poa_global"]), temp_air, wind, **tparams
        )
        dc = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, pdc0=1.0, gamma_pdc=GAMMA_PDC)
        dc = np.asarray(dc, dtype=float) * losses
        ac = pvlib.inverter.pvwatts(dc, pdc0=1.0 / DC_AC_RATIO)
        cols.append(np.clip(np.nan_to_num(np.asarray(ac, dtype=float)), 0.0, None))
    out = np.stack(cols, axis=1)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=1)
def household_profile() -> np.ndarray:
    """BDEW household profile (demandlib ``H25``), hourly, normalised to sum 1 over the year.

    Shape ``(8760,)``, read-only.
    """
    from demandlib import bdew

    index = pd.date_range(START, periods=N_STEPS, freq="h")
    with warnings.catch_warnings():
        # demandlib 0.2.2 uses ``inplace=True``, which pandas >= 3.1 deprecates.
        _quiet_pandas_deprecations()
        values = np.asarray(bdew.H25(index), dtype=np.float64)
    if values.shape != (N_STEPS,) or not np.all(np.isfinite(values)) or values.sum() <= 0:
        raise ScenarioError("demandlib H25: unexpected household profile")
    out = values / values.sum()
    out.flags.writeable = False
    return out


def tou_day_ahead(timestamps: np.ndarray) -> np.ndarray:
    """Time-of-use day-ahead price [CT/kWh] for step start times (``datetime64``).

    Off-peak 0.20 from 21:00 to 07:00, mid 0.30 from 07:00 to 21:00, peak 0.45 from 17:00 to
    21:00 Monday to Friday.
    """
    ts = np.asarray(timestamps, dtype="datetime64[s]")
    hours = (ts - ts.astype("datetime64[D]")).astype("timedelta64[h]").astype(int)
    # 1970-01-01 was a Thursday: day number + 3 gives Monday = 0.
    weekday = (ts.astype("datetime64[D]").astype(np.int64) + 3) % 7
    price = np.where((hours >= 7) & (hours < 21), MID, OFF_PEAK)
    peak = (hours >= 17) & (hours < 21) & (weekday < 5)
    return np.where(peak, PEAK, price).astype(np.float64)


def tariff_prices(timestamps: np.ndarray) -> Prices:
    """The documented synthetic tariff for the given step start times."""
    da = tou_day_ahead(timestamps)
    n = len(da)
    return Prices(
        day_ahead=da,
        imbalance_buy=da * IMBALANCE_BUY_FACTOR,
        imbalance_sell=da * IMBALANCE_SELL_FACTOR,
        feed_in=np.full(n, FEED_IN),
    )


def default_tariff(n_members: int, pv_kwp: float) -> Tariff:
    """The synthetic community's demand charge and connection limits (module docstring)."""
    imp = IMPORT_LIMIT_KW_PER_MEMBER * n_members
    return Tariff(
        demand_charge_ct_per_kw=DEMAND_CHARGE_CT_PER_KW,
        demand_charge_period="month",
        import_limit_kw=imp,
        export_limit_kw=max(EXPORT_LIMIT_SHARE_OF_PV * pv_kwp, imp),
        overrun_ct_per_kwh=OVERRUN_CT_PER_KWH,
    )


@functools.lru_cache(maxsize=1)
def carbon_intensity() -> np.ndarray:
    """Hourly carbon intensity of the synthetic year [kg CO2/kWh], read-only ``(8760,)``."""
    values = pd.read_csv(CARBON_FILE)["carbon_kg_per_kwh"].to_numpy(dtype=np.float64)
    if values.shape != (N_STEPS,):
        raise ScenarioError(f"{CARBON_FILE}: expected {N_STEPS} hourly rows, got {values.size}")
    values.flags.writeable = False
    return values


def community_storages(n_members: int) -> StorageBank:
    """``storage_A`` and ``storage_B`` sized with the community (kWh per member, 0.5 C)."""
    names = tuple(COMMUNITY_STORAGE_KWH_PER_MEMBER)
    cap = np.array([COMMUNITY_STORAGE_KWH_PER_MEMBER[k] * n_members for k in names])
    return StorageBank.uniform(
        names,
        cap,
        cap * COMMUNITY_STORAGE_C_RATE,
        efficiency=COMMUNITY_STORAGE_EFFICIENCY,
        soc_min=0.1,
        soc_max=1.0,
        soc_init=0.5,
    )


def member_names(n: int) -> tuple[str, ...]:
    width = max(3, len(str(n - 1)))
    return tuple(f"member_{i:0{width}d}" for i in range(n))


def _loads(rng: np.random.Generator, n: int, annual_kwh: np.ndarray) -> np.ndarray:
    """``(8760, n)`` hourly load [kWh]: shifted profile x daily factor x hourly noise,
    rescaled so each column sums to ``annual_kwh``."""
    base = household_profile()
    shifts = np.arange(-MAX_SHIFT_H, MAX_SHIFT_H + 1)
    shifted = np.stack([np.roll(base, s) for s in shifts], axis=1)  # (8760, 5)
    shift_idx = rng.integers(0, len(shifts), n)
    load = np.take(shifted, shift_idx, axis=1)  # (8760, n), C-contiguous
    daily = rng.normal(1.0, DAILY_SD, (N_STEPS // 24, n)).clip(0.5, 1.6)
    # Hourly noise, uniform in [1 - HOURLY_NOISE, 1 + HOURLY_NOISE], drawn as bytes and applied
    # in blocks of members so that no second (8760, n) array is ever allocated.
    scale = np.float32(2 * HOURLY_NOISE / 255)
    for lo in range(0, n, NOISE_BLOCK):
        hi = min(n, lo + NOISE_BLOCK)
        load.reshape(N_STEPS // 24, 24, n)[:, :, lo:hi] *= daily[:, None, lo:hi]
        block = load[:, lo:hi]
        noise = rng.integers(0, 256, (N_STEPS, hi - lo), dtype=np.uint8).astype(np.float32)
        noise *= scale
        noise += np.float32(1 - HOURLY_NOISE)
        block *= noise
    load *= annual_kwh / load.sum(axis=0)
    return load


def _pv(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(8760, n)`` PV [kWh], kWp per member, orientation index per member."""
    has_pv = rng.random(n) < PV_SHARE
    kwp = np.where(has_pv, np.round(rng.uniform(*PV_KWP, n), 1), 0.0)
    shares = np.array([o[3] for o in ORIENTATIONS])
    orient = rng.choice(len(ORIENTATIONS), size=n, p=shares / shares.sum())
    pv = np.take(pv_per_kwp(), orient, axis=1)  # (8760, n), C-contiguous
    pv *= kwp
    return pv, kwp, orient


def build_synthetic(
    members: int = DEFAULT_MEMBERS,
    *,
    seed: int = 0,
    community_storage: bool = True,
    flexible_share: float = DEFAULT_FLEXIBLE_SHARE,
    elasticity: float = DEFAULT_ELASTICITY,
    ev_share: float = DEFAULT_EV_SHARE,
    heat_pump_share: float = 0.0,
) -> Scenario:
    """A synthetic community of ``members`` households over one year (8,760 hourly steps);
    a share ``ev_share`` of the homes has an EV and a charger (:mod:`.synthetic_ev`), a share
    ``heat_pump_share`` a heat pump for space heat and hot water (:mod:`.synthetic_heat`)."""
    if isinstance(members, bool) or not isinstance(members, int | np.integer) or members < 1:
        raise ScenarioError(f"members: must be a positive integer, got {members!r}")
    if not 0.0 <= flexible_share <= 1.0:
        raise ScenarioError(f"flexible_share: must be within [0, 1], got {flexible_share}")
    for key, share in (("ev_share", ev_share), ("heat_pump_share", heat_pump_share)):
        if not 0.0 <= share <= 1.0:
            raise ScenarioError(f"{key}: must be within [0, 1], got {share}")
    n = int(members)
    rng = np.random.default_rng(seed)
    annual = rng.uniform(*ANNUAL_LOAD_KWH, n)
    load = _loads(rng, n, annual)
    pv, kwp, orient = _pv(rng, n)
    has_bat = rng.random(n) < BATTERY_SHARE
    bat_cap = np.where(has_bat, rng.choice(BATTERY_SIZES_KWH, n), 0.0)
    names = member_names(n)
    batteries = StorageBank.uniform(
        names,
        bat_cap,
        bat_cap * BATTERY_C_RATE,
        efficiency=BATTERY_EFFICIENCY,
        soc_min=0.1,
        soc_max=1.0,
        soc_init=0.5,
    )
    timestamps = np.datetime64(START, "s") + np.arange(N_STEPS) * np.timedelta64(3600, "s")
    tariff = default_tariff(n, float(kwp.sum()))
    notes = (
        f"synthetic: {n} households, seed {seed}, one year from {START} in 1 h steps",
        f"weather and PV: pvlib bundled TMY3 {TMY_FILE} (Greensboro NC), PVWatts; "
        f"{int((kwp > 0).sum())} members with PV ({kwp.sum():.1f} kWp in total)",
        "load: demandlib BDEW H25 household profile scaled to "
        f"{ANNUAL_LOAD_KWH[0]:.0f}-{ANNUAL_LOAD_KWH[1]:.0f} kWh/yr with seeded variation",
        f"home batteries: {int(has_bat.sum())} members ({bat_cap.sum():.1f} kWh in total)",
        "tariff: time-of-use day-ahead 0.20/0.30/0.45 CT/kWh, imbalance buy 1.25x, "
        "imbalance sell 0.75x, feed-in 0.08 CT/kWh; demand charge "
        f"{DEMAND_CHARGE_CT_PER_KW:g} CT/kW-month; connection limit {tariff.import_limit_kw:g} kW "
        f"import, {tariff.export_limit_kw:g} kW export, {OVERRUN_CT_PER_KWH:g} CT/kWh above it",
        "carbon: hourly grid carbon intensity of the CityLearn 2022 dataset on this calendar",
    )
    # EVs from their own stream, so that a share of 0 leaves every other draw as it was.
    ev_rng = np.random.default_rng([seed, 1])
    ev_homes = np.flatnonzero(ev_rng.random(n) < ev_share)
    evs = synthetic_chargers(ev_rng, ev_homes, np.datetime64(START, "s"), N_STEPS)
    # Heat pumps from a third stream: their electricity joins the homes' load.
    hp_rng = np.random.default_rng([seed, 2])
    hp_homes = np.flatnonzero(hp_rng.random(n) < heat_pump_share)
    if hp_homes.size:
        heat, hp_kwh = add_heat_pumps(hp_rng, hp_homes, weather_history()["temp_air_c"], load)
        notes = (
            *notes,
            f"heat pumps: {hp_homes.size} homes, {heat:,.0f} kWh of space heat and hot water for "
            f"{hp_kwh:,.0f} kWh of electricity, served as it comes (no thermal storage; "
            "parametric, scenarios/synthetic_heat.py)",
        )
    if evs.n:
        notes = (
            *notes,
            f"ev: {evs.n} homes with an EV and an 11 kW charger, one overnight session on most "
            "days, 80 % required at departure (parametric, scenarios/synthetic_ev.py)",
        )
    return Scenario(
        name=f"synthetic-{n}-seed{seed}",
        start=START,
        dt_h=1.0,
        member_names=names,
        load_kwh=load,
        pv_kwh=pv,
        prices=tariff_prices(timestamps),
        member_batteries=batteries,
        community_storages=community_storages(n) if community_storage else StorageBank.empty(),
        flexible_share=np.full(n, float(flexible_share)),
        elasticity=elasticity,
        weather=dict(weather_history()),
        notes=notes,
        carbon_kg_per_kwh=carbon_intensity(),
        tariff=tariff,
        ev_chargers=evs,
    )
