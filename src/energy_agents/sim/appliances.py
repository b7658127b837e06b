"""Flexible appliances (CityLearn's washing machines): each job is a load profile that must
start within a window.

A *job* ``j`` of appliance ``a(j)`` (behind home ``h(a)``) may start at any step of its window
``[window_start_j, window_end_j]``; once started at ``s`` it draws ``profile_j[t - s]`` kWh at
steps ``s .. s + L_j - 1`` (it may run past the window's end, as in CityLearn). The lever
``appliance_start[a]`` says, while a job of ``a`` is waiting, whether to start it now (True)
or wait (False); without a lever a job starts as its window opens (uncontrolled). A job still
waiting at its window's last step starts then, whatever the lever says: the laundry gets done
(CityLearn leaves it undone). Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .checks import ScenarioError


@dataclass(frozen=True)
class Appliances:
    """The flexible appliances of a community and their jobs (module docstring)."""

    names: tuple[str, ...]
    member: np.ndarray  # (n_appliances,) home index
    job_appliance: np.ndarray  # (n_jobs,) appliance index, jobs sorted by window start
    window_start: np.ndarray  # (n_jobs,) first step a job may start
    window_end: np.ndarray  # (n_jobs,) last step it may start (it is started then at the latest)
    profile_kwh: np.ndarray  # (n_jobs, max length) energy per step of the cycle, zero-padded
    n_steps: int

    def __post_init__(self) -> None:
        n, j = len(self.names), np.asarray(self.job_appliance).size
        for key, size in (
            ("member", n),
            ("job_appliance", j),
            ("window_start", j),
            ("window_end", j),
        ):
            a = np.asarray(getattr(self, key))
            if a.shape != (size,) or (size and not np.all(a == a.astype(np.int64))):
                raise ScenarioError(f"appliances.{key}: {size} integers expected")
            object.__setattr__(self, key, a.astype(np.int64))
        prof = np.asarray(self.profile_kwh, dtype=float)
        if prof.ndim != 2 or prof.shape[0] != j:
            raise ScenarioError(f"appliances.profile_kwh: expected shape ({j}, cycle length)")
        if not np.all(np.isfinite(prof)) or np.any(prof < 0):
            raise ScenarioError("appliances.profile_kwh: must be finite and >= 0")
        object.__setattr__(self, "profile_kwh", prof)
        if j and (self.job_appliance.min() < 0 or self.job_appliance.max() >= n):
            raise ScenarioError("appliances.job_appliance: index beyond the appliances")
        bad = (self.window_start < 0) | (self.window_end < self.window_start)
        bad |= self.window_end >= self.n_steps
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise ScenarioError(
                f"appliances: job {k} of {self.names[self.job_appliance[k]]}: window "
                f"{self.window_start[k]}-{self.window_end[k]} outside steps 0-{self.n_steps - 1}"
            )
        if np.any(np.diff(self.window_start) < 0):
            raise ScenarioError("appliances.window_start: jobs must be sorted by window start")

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def n_jobs(self) -> int:
        return int(self.job_appliance.size)

    @classmethod
    def empty(cls, n_steps: int = 0) -> Appliances:
        z = np.zeros(0, np.int64)
        return cls((), z, z, z, z, np.zeros((0, 0)), n_steps)

    def head(self, n_steps: int) -> Appliances:
        """The jobs whose window ends within the first ``n_steps`` steps."""
        keep = self.window_end < n_steps
        return replace(
            self,
            job_appliance=self.job_appliance[keep],
            window_start=self.window_start[keep],
            window_end=self.window_end[keep],
            profile_kwh=self.profile_kwh[keep],
            n_steps=n_steps,
        )

    @property
    def job_energy_kwh(self) -> np.ndarray:
        return self.profile_kwh.sum(axis=1)


def starts(
    ap: Appliances, t: int, started: np.ndarray, lever: dict[str, bool] | None
) -> np.ndarray:
    """Indices of the jobs that start at step ``t`` (waiting ones the lever starts, those whose
    window ends now, and without a lever every waiting one)."""
    lo = int(np.searchsorted(ap.window_start, t, side="right"))
    cand = np.arange(lo)
    cand = cand[(started[:lo] < 0) & (ap.window_end[:lo] >= t)]
    if cand.size == 0 or lever is None:
        return cand
    go = np.array([lever.get(ap.names[a], True) for a in ap.job_appliance[cand]], dtype=bool)
    return cand[go | (ap.window_end[cand] == t)]


def load_kwh(ap: Appliances, t: int, started: np.ndarray, n_members: int) -> np.ndarray:
    """(n_members,) the running cycles' draw at step ``t``."""
    k = t - started
    width = ap.profile_kwh.shape[1]
    run = np.flatnonzero((started >= 0) & (k < width))
    out = np.zeros(n_members)
    if run.size:
        draw = ap.profile_kwh[run, k[run]]
        np.add.at(out, ap.member[ap.job_appliance[run]], draw)
    return out


def uncontrolled_kwh(
    ap: Appliances, n_members: int, lo: int = 0, hi: int | None = None
) -> np.ndarray:
    """(hi - lo, n_members) every job started as its window opens (the no-control run's), over
    the steps ``lo`` to ``hi`` (default: all)."""
    hi = ap.n_steps if hi is None else hi
    out = np.zeros((hi - lo, n_members))
    for j in range(ap.n_jobs):
        s, prof = int(ap.window_start[j]), ap.profile_kwh[j]
        m = int(ap.member[ap.job_appliance[j]])
        a, b = max(s, lo), min(s + prof.size, ap.n_steps, hi)
        if a < b:
            out[a - lo : b - lo, m] += prof[a - s : b - s]
    return out
