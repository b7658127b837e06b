"""Heat pumps of the synthetic community: space heating and hot water, served as they come.

A parametric model on the bundled TMY's outdoor temperature (no fitted data is bundled):

- space heat [kWh_th per hour] by the degree-hour method on a 15.5 degC base (the UK CIBSE
  TM41 base temperature), scaled per home to an annual demand drawn from 6,000-12,000 kWh_th
  (a 100-150 m2 single-family home at 50-80 kWh/m2/yr of useful heat);
- hot water 1,500-2,500 kWh_th/yr per home (about 100-170 L a day heated by 35 K), drawn in a
  morning and an evening peak (06-09 h and 18-22 h);
- an air-source heat pump with CityLearn's COP model (``HeatPump.get_cop``: a Carnot fraction
  ``eta * T_supply / (T_supply - T_outdoor)``) at ``eta = 0.35`` and supply temperatures of
  35 degC (floor heating) and 50 degC (hot water): COP about 3.9 at 7 degC outdoors and 2.7
  at -5 degC for space heating, in line with the seasonal performance of 2.8-3.2 measured in
  field trials (the UK's Electrification of Heat demonstration, 2023).

The electricity is added to the home's load (no thermal storage flexibility yet: the heat is
served as it comes). Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

from ..sim.heat_pump import heat_pump_cop

BASE_C = 15.5
SPACE_KWH_TH = (6_000.0, 12_000.0)
DHW_KWH_TH = (1_500.0, 2_500.0)
ETA = 0.35
SUPPLY_SPACE_C = 35.0
SUPPLY_DHW_C = 50.0
DHW_HOURS = ((6, 9), (18, 22))
HOMES_PER_BLOCK = 512


def heat_pump_kwh(
    rng: np.random.Generator, homes: np.ndarray, temp_c: np.ndarray, n_members: int
) -> tuple[np.ndarray, float]:
    """(n_steps, n_members) hourly electricity of the heat pumps of ``homes``, and the heat they
    deliver in the year [kWh_th]."""
    out = np.zeros((temp_c.size, n_members))
    return out, add_heat_pumps(rng, homes, temp_c, out)[0]


def add_heat_pumps(
    rng: np.random.Generator, homes: np.ndarray, temp_c: np.ndarray, load_kwh: np.ndarray
) -> tuple[float, float]:
    """Add the hourly electricity of the heat pumps of ``homes`` to their columns of
    ``load_kwh`` (n_steps, n_members), in place and in blocks of homes (at 5,000 heat pumps a
    year of them is 350 MB); returns the heat they deliver in the year [kWh_th] and the
    electricity they take for it [kWh]."""
    n_steps = temp_c.size
    if homes.size == 0:
        return 0.0, 0.0
    dh = np.maximum(BASE_C - temp_c, 0.0)
    shape_space = dh / dh.sum() if dh.sum() > 0 else np.full(n_steps, 1.0 / n_steps)
    hour = np.arange(n_steps) % 24
    dhw_on = np.zeros(n_steps, bool)
    for lo, hi in DHW_HOURS:
        dhw_on |= (hour >= lo) & (hour < hi)
    shape_dhw = dhw_on / dhw_on.sum()
    space = rng.uniform(*SPACE_KWH_TH, homes.size)
    dhw = rng.uniform(*DHW_KWH_TH, homes.size)
    per_space = shape_space / heat_pump_cop(ETA, SUPPLY_SPACE_C, temp_c, True)
    per_dhw = shape_dhw / heat_pump_cop(ETA, SUPPLY_DHW_C, temp_c, True)
    elec_total = 0.0
    for lo in range(0, homes.size, HOMES_PER_BLOCK):
        b = slice(lo, lo + HOMES_PER_BLOCK)
        elec = np.outer(per_space, space[b]) + np.outer(per_dhw, dhw[b])
        load_kwh[:, homes[b]] += elec
        elec_total += float(elec.sum())
    return float(space.sum() + dhw.sum()), elec_total
