"""Writes src/energy_agents/scenarios/data/carbon_intensity.csv, the synthetic default's hourly
grid carbon intensity, from the CityLearn Challenge 2022 dataset (MIT licence, Copyright (c)
2020 Jose Ramon Vazquez-Canteli, Intelligent Environments Laboratory).

The dataset's year runs from 2022-08-01 00:00 to 2023-07-31 23:00 (8,760 hours); each hour is
placed on the synthetic calendar (2023-01-01 .. 2023-12-31) by month, day and hour, so every
hour of the synthetic year gets the measured value of the same calendar hour.

    .venv/bin/python scripts/make_synthetic_carbon.py ../shared/data/citylearn_challenge_2022_phase_1
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parents[1] / "src/energy_agents/scenarios/data/carbon_intensity.csv"


def main(folder: str) -> int:
    values = pd.read_csv(Path(folder) / "carbon_intensity.csv")["carbon_intensity"].to_numpy()
    if values.size != 8760:
        raise SystemExit(f"expected 8760 hourly rows, got {values.size}")
    source = pd.date_range("2022-08-01", periods=8760, freq="h")
    target = pd.date_range("2023-01-01", periods=8760, freq="h")
    key = {(t.month, t.day, t.hour): k for k, t in enumerate(source)}
    out = np.array([values[key[(t.month, t.day, t.hour)]] for t in target])
    OUT.write_text("carbon_kg_per_kwh\n" + "".join(f"{v:.6f}\n" for v in out), encoding="utf-8")
    print(f"wrote {OUT} ({out.size} hours, mean {out.mean():.4f} kg/kWh)")
    return 0


if __name__ == "__main__":
    sys.exit(
        main(
            sys.argv[1] if len(sys.argv) > 1 else "../shared/data/citylearn_challenge_2022_phase_1"
        )
    )
