"""The washing machines of a CityLearn schema (``washing_machines`` per building).

Each ``washing_machine_energy_simulation`` file has, per row, ``wm_start_time_step`` and
``wm_end_time_step`` (the window in which the cycle may start, as rows of the file; -1: none)
and ``load_profile`` (the cycle's energy per step, a JSON list). Consecutive rows with the same
window are one job. Windows are mapped onto the episode's steps; a job whose window lies
outside the episode is left out (counted in the notes), one cut by the episode's start or end
keeps the part inside. CityLearn starts a cycle only when its controller asks; our model starts
a waiting job at its window's end at the latest (docs/model.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..sim.appliances import Appliances
from ..sim.params import ScenarioError
from .csv_table import CsvTable, read_csv_table

START, END, PROFILE = "wm_start_time_step", "wm_end_time_step", "load_profile"


def _profile(value: Any, fpath: Path, row: int) -> list[float]:
    try:
        prof = json.loads(str(value))
        prof = [float(x) for x in (prof if isinstance(prof, list) else [prof])]
    except (ValueError, TypeError):
        raise ScenarioError(
            f"{fpath}: row {row + 2}: column {PROFILE}: {value!r} is not a list of numbers"
        ) from None
    if not prof or any(not math.isfinite(x) or x < 0 for x in prof):
        raise ScenarioError(f"{fpath}: row {row + 2}: column {PROFILE}: needs numbers >= 0")
    return prof


def _jobs(df: CsvTable, fpath: Path) -> list[tuple[int, int, list[float]]]:
    for col in (START, END, PROFILE):
        if col not in df:
            raise ScenarioError(f"{fpath}: column {col!r} missing")
    start = np.nan_to_num(df.numeric(START), nan=-1).astype(int)
    end = np.nan_to_num(df.numeric(END), nan=-1).astype(int)
    jobs, last = [], None
    for i in np.flatnonzero(start >= 0):
        window = (int(start[i]), int(end[i]))
        if window == last:
            continue
        if window[1] < window[0]:
            raise ScenarioError(
                f"{fpath}: row {i + 2}: {END} {window[1]} before {START} {window[0]}"
            )
        jobs.append((*window, _profile(df.text(PROFILE)[i], fpath, int(i))))
        last = window
    return jobs


def load_appliances(
    schema: dict[str, Any], root: Path, names: list[str], rows: slice, notes: list[str]
) -> Appliances:
    """Every washing machine of the included buildings (none: an empty set)."""
    n_steps = rows.stop - rows.start
    labels, member, job_app, w0, w1, profiles = [], [], [], [], [], []
    dropped = 0
    for i, bname in enumerate(names):
        for aname, spec in (schema["buildings"][bname].get("washing_machines") or {}).items():
            field = f"buildings.{bname}.washing_machines.{aname}"
            fname = (
                (spec or {}).get("washing_machine_energy_simulation")
                if isinstance(spec, dict)
                else None
            )
            if not fname:
                raise ScenarioError(
                    f"{root}: field {field}.washing_machine_energy_simulation missing"
                )
            fpath = root / str(fname)
            a = len(labels)
            labels.append(f"{bname}/{aname}")
            member.append(i)
            for s, e, prof in _jobs(read_csv_table(fpath, (START, END, PROFILE)), fpath):
                s, e = s - rows.start, e - rows.start
                if e < 0 or s >= n_steps:
                    dropped += 1
                    continue
                job_app.append(a)
                w0.append(max(s, 0))
                w1.append(min(e, n_steps - 1))
                profiles.append(prof)
    if not labels:
        return Appliances.empty(n_steps)
    width = max((len(p) for p in profiles), default=0)
    prof = np.zeros((len(profiles), width))
    for k, p in enumerate(profiles):
        prof[k, : len(p)] = p
    order = np.argsort(np.asarray(w0, dtype=np.int64), kind="stable")
    ap = Appliances(
        tuple(labels),
        np.asarray(member),
        np.asarray(job_app, dtype=np.int64)[order],
        np.asarray(w0, dtype=np.int64)[order],
        np.asarray(w1, dtype=np.int64)[order],
        prof[order],
        n_steps,
    )
    notes.append(
        f"appliances: {ap.n} washing machines ({', '.join(labels)}), {ap.n_jobs} jobs, "
        f"{ap.job_energy_kwh.sum():.1f} kWh; each starts within its window (at its end at the "
        f"latest){f'; {dropped} jobs outside the episode left out' if dropped else ''}"
    )
    return ap
