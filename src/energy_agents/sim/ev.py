"""EV chargers: an EV is a battery while it is plugged in, and leaves with its required SOC.

The chargers' data are *sessions* (:class:`Sessions`): one EV plugged into one charger from
its arrival (with ``arrival_soc``) to its last connected step, with the EV's capacity, its
lowest SOC (``1 - depth_of_discharge``), the SOC it must have when it leaves
(``required_soc``) and whether the session ends with a departure (``departs``; a session cut
by the end of the data has no requirement). Loaders that read per step (CityLearn's charger
files) build them with :meth:`EVChargers.from_steps`; the step reads one step of them as an
:class:`EVRow`. Stored per session, a year of 5,000 chargers takes about 240 MB instead of
3 GB per step.

Energy ``e`` [kWh] in the EV evolves like a battery's, ``e += eta * f`` charging and
``e += f / eta`` discharging (V2G), ``f`` the flow at the charger's terminals [kWh per step,
> 0 charging], at most ``charge_kw * dt`` and ``discharge_kw * dt`` (0: no V2G).

The departure requirement is hard where it is physically feasible: whatever a lever asks,
the charger takes at least the *floor* that keeps the required energy reachable at full power
over the steps left (docs/model.md). A requirement above what the session can reach is
charged at full power and counted (``ev_infeasible_departures``, ``ev_shortfall_kwh``).
Pure numpy, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, Protocol

import numpy as np

from .checks import ScenarioError, as_array, as_flags

FLAGS = ("connected", "arrival", "departs")
"""The per-step yes/no fields of :meth:`EVChargers.from_steps` (a number > 0 reads as yes)."""
AMOUNTS = ("capacity_kwh", "arrival_soc", "required_soc", "soc_min")
PER_STEP = FLAGS + AMOUNTS
PER_CHARGER = ("charge_kw", "discharge_kw", "efficiency")
SESSION_FIELDS = ("charger", "start", "stop", "departs", *AMOUNTS)
"""The fields of :class:`Sessions`, in its order."""
PER_SESSION = ("capacity_kwh", "required_soc", "soc_min")
"""The per-step fields that hold one value for a whole session (one EV, one requirement)."""
ROW_FIELDS = {
    "start": "start",
    "stop": "stop",
    "departs": "required_now",
    **{key: key for key in AMOUNTS},
}
"""The session fields an :class:`EVRow` carries, and the row's name for each."""
REQUIRED_TOL_KWH = 1e-6
"""A departure counts as short when the EV lacks more than this [kWh] of its required energy."""


@dataclass(frozen=True)
class Sessions:
    """The chargers' sessions, one entry each (an :class:`EVChargers`' sorted by charger and
    then by start; :attr:`Changes.by_start` by start and then by charger)."""

    charger: np.ndarray  # (S,) int32 index of the charger
    start: np.ndarray  # (S,) int32 first connected step: the EV arrives there
    stop: np.ndarray  # (S,) int32 one past its last connected step
    departs: np.ndarray  # (S,) bool: the EV leaves after its last step (the requirement counts)
    capacity_kwh: np.ndarray  # (S,) > 0
    arrival_soc: np.ndarray  # (S,) in [0, 1]
    required_soc: np.ndarray  # (S,) in [0, 1]
    soc_min: np.ndarray  # (S,) in [0, 1]

    @property
    def n(self) -> int:
        return int(self.charger.size)

    @classmethod
    def empty(cls) -> Sessions:
        i, z = np.zeros(0, np.int32), np.zeros(0)
        return cls(i, i, i, np.zeros(0, bool), z, z, z, z)


class EVRow(NamedTuple):
    """The chargers at one step (:meth:`EVChargers.row`), each field one entry per charger."""

    connected: np.ndarray  # bool
    arrival: np.ndarray  # bool: a session starts at this step
    departs: np.ndarray  # bool: the EV leaves after this step
    capacity_kwh: np.ndarray  # 0 while nothing is connected
    arrival_soc: np.ndarray  # the session's arrival SOC (read where ``arrival``)
    required_soc: np.ndarray
    soc_min: np.ndarray
    steps_left: np.ndarray  # int32 connected steps left in the session, this one included
    required_now: np.ndarray  # bool: the session ends with a departure (its requirement counts)
    session: np.ndarray  # int32 the session connected (-1: none)
    start: np.ndarray  # int32 its first step (-1: none)
    stop: np.ndarray  # int32 one past its last step (0: none)
    step: int  # last, so that ``row[:-1]`` is the arrays (``kernel.chargers_step`` takes them)


class Changes(NamedTuple):
    """Where the chargers' sessions start, step by step (:attr:`EVChargers.changes`): a row
    advances by these and by the sessions whose stop it reaches, so a step reads only the
    sessions that start then, one after the other in memory."""

    starts_at: np.ndarray  # (T + 2,) int64: by_start[starts_at[t]:starts_at[t + 1]] start at t
    session: np.ndarray  # (S,) int32 each of them's index in ``sessions``
    by_start: Sessions  # the sessions in the order of their starts (then of their chargers)


@dataclass(frozen=True)
class EVChargers:
    """The chargers of a community and their EVs' sessions (see the module docstring)."""

    names: tuple[str, ...]
    member: np.ndarray  # (n,) index of the home whose meter the charger is behind
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    efficiency: np.ndarray  # on each direction, in (0, 1]
    n_steps: int
    sessions: Sessions

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(set(self.names)) != n:
            raise ScenarioError("ev_chargers.names: must be unique")
        member = np.asarray(self.member)
        if member.shape != (n,) or (
            n and (member.min() < 0 or not np.all(member == member.astype(int)))
        ):
            raise ScenarioError("ev_chargers.member: one home index >= 0 per charger")
        object.__setattr__(self, "member", member.astype(np.int64))
        for key in PER_CHARGER:
            object.__setattr__(self, key, as_array(f"ev_chargers.{key}", getattr(self, key), (n,)))
        if np.any(self.charge_kw < 0) or np.any(self.discharge_kw < 0):
            raise ScenarioError("ev_chargers.charge_kw/discharge_kw: must be >= 0")
        if np.any((self.efficiency <= 0) | (self.efficiency > 1)):
            raise ScenarioError("ev_chargers.efficiency: must be in (0, 1]")
        if isinstance(self.n_steps, bool) or not isinstance(self.n_steps, int | np.integer):
            raise ScenarioError("ev_chargers.n_steps: must be an integer")
        object.__setattr__(self, "n_steps", int(self.n_steps))
        object.__setattr__(self, "sessions", _checked(self.sessions, n, self.n_steps))

    @classmethod
    def from_steps(
        cls,
        names: tuple[str, ...],
        member: np.ndarray,
        charge_kw: np.ndarray,
        discharge_kw: np.ndarray,
        efficiency: np.ndarray,
        connected: np.ndarray,
        arrival: np.ndarray,
        departs: np.ndarray,
        capacity_kwh: np.ndarray,
        arrival_soc: np.ndarray,
        required_soc: np.ndarray,
        soc_min: np.ndarray,
    ) -> EVChargers:
        """The chargers from per-step arrays ``(n_steps, n_chargers)``: whether an EV is
        connected, arrives (a session starts) or departs after the step, the EV's capacity, its
        SOC on arrival (read where it arrives), its required SOC and its lowest SOC. A session
        runs from an arrival to a departure, the next arrival, or the last connected step; its
        EV's capacity, requirement and lowest SOC must not change within it."""
        n = len(names)
        steps = np.shape(connected)[0] if np.ndim(connected) == 2 else -1
        given = dict(zip(PER_STEP, (connected, arrival, departs, capacity_kwh, arrival_soc,
                                    required_soc, soc_min), strict=True))  # fmt: skip
        v = {k: as_flags(f"ev_chargers.{k}", given[k], (steps, n)) for k in FLAGS}
        v |= {k: as_array(f"ev_chargers.{k}", given[k], (steps, n)) for k in AMOUNTS}
        conn = v["connected"]
        for key in ("arrival", "departs"):
            if np.any(v[key] & ~conn):
                t, c = np.argwhere(v[key] & ~conn)[0]
                raise ScenarioError(
                    f"ev_chargers.{key}: step {t}, charger {names[c]}: no EV connected"
                )
        # A session starts where an EV connects, and after a departure while still connected.
        before = np.vstack((np.zeros((1, n), bool), conn[:-1] & ~v["departs"][:-1]))
        if np.any(conn & ~before & ~v["arrival"]):
            t, c = np.argwhere(conn & ~before & ~v["arrival"])[0]
            raise ScenarioError(
                f"ev_chargers.arrival: step {t}, charger {names[c]}: an EV connects "
                "without an arrival"
            )
        if np.any(conn & (v["capacity_kwh"] <= 0)):
            t, c = np.argwhere(conn & (v["capacity_kwh"] <= 0))[0]
            raise ScenarioError(
                f"ev_chargers.capacity_kwh: step {t}, charger {names[c]}: must be > 0 "
                "while an EV is connected"
            )
        for key in ("arrival_soc", "required_soc", "soc_min"):
            if np.any((v[key] < 0) | (v[key] > 1)):
                raise ScenarioError(f"ev_chargers.{key}: must be within [0, 1]")
        # A session ends at a departure, before the next arrival, or where the EV unplugs.
        after = np.vstack((v["arrival"][1:] | ~conn[1:], np.ones((1, n), bool)))
        end = conn & (v["departs"] | after)
        parts = []
        for c in range(n):
            first = np.flatnonzero(v["arrival"][:, c])
            last = np.flatnonzero(end[:, c])
            last = last[np.searchsorted(last, first)]
            at = np.full(steps, -1)  # each connected step's session, to check the amounts
            for k, (a, b) in enumerate(zip(first, last + 1, strict=True)):
                at[a:b] = k
            on = at >= 0
            for key in PER_SESSION:
                col = v[key][:, c]
                if np.any(col[on] != col[first][at[on]]):
                    t = int(np.flatnonzero(on & (col != col[first][np.maximum(at, 0)]))[0])
                    raise ScenarioError(
                        f"ev_chargers.{key}: step {t}, charger {names[c]}: changes within a "
                        "session (one EV, one requirement per session)"
                    )
            parts.append(
                (np.full(first.size, c), first, last + 1, v["departs"][last, c],
                 *(v[key][first, c] for key in AMOUNTS))
            )  # fmt: skip
        sessions = Sessions.empty()
        if parts:
            sessions = Sessions(*(np.concatenate([p[i] for p in parts]) for i in range(8)))
        return cls(names, member, charge_kw, discharge_kw, efficiency, steps, sessions)

    @property
    def n(self) -> int:
        return len(self.names)

    @classmethod
    def empty(cls, n_steps: int = 0) -> EVChargers:
        z = np.zeros(0)
        return cls((), np.zeros(0, np.int64), z, z, z, n_steps, Sessions.empty())

    def head(self, n_steps: int) -> EVChargers:
        """The first ``n_steps`` steps (a session cut there has no departure within them, so
        no requirement)."""
        s = self.sessions
        keep = s.start < n_steps
        cut = Sessions(
            s.charger[keep],
            s.start[keep],
            np.minimum(s.stop[keep], n_steps).astype(np.int32),
            s.departs[keep] & (s.stop[keep] <= n_steps),
            *(getattr(s, key)[keep] for key in AMOUNTS),
        )
        return EVChargers(
            self.names, self.member, self.charge_kw, self.discharge_kw, self.efficiency,
            min(n_steps, self.n_steps), cut,
        )  # fmt: skip

    # ----------------------------------------------------------------- one step of them
    @cached_property
    def changes(self) -> Changes:
        """Where the sessions start, step by step (:class:`Changes`)."""
        s = self.sessions
        by_start = np.argsort(s.start, kind="stable")  # sorted by charger within a start
        return Changes(
            starts_at=np.searchsorted(s.start[by_start], np.arange(self.n_steps + 2)),
            session=by_start.astype(np.int32),
            by_start=Sessions(*(getattr(s, key)[by_start] for key in SESSION_FIELDS)),
        )

    @cached_property
    def padded(self) -> Sessions:
        """The sessions with one more entry, the last, read by session -1 (no session): charger
        and start -1, stop 0, no departure, zero amounts."""
        s = self.sessions
        return Sessions(
            np.append(s.charger, np.int32(-1)),
            np.append(s.start, np.int32(-1)),
            np.append(s.stop, np.int32(0)),
            np.append(s.departs, False),
            *(np.append(getattr(s, key), 0.0) for key in AMOUNTS),
        )

    @cached_property
    def _session_keys(self) -> np.ndarray:
        """(S,) int64 each session's charger and start as one number, sorted (``_checked``)."""
        s = self.sessions
        return s.charger.astype(np.int64) * (self.n_steps + 1) + s.start

    def sessions_at(self, t: int) -> np.ndarray:
        """(n,) int32 the session connected at each charger at step ``t`` (-1: none): a binary
        search per charger."""
        s, chargers = self.sessions, np.arange(self.n)
        if not s.n:
            return np.full(self.n, -1, np.int32)
        wanted = chargers * (self.n_steps + 1) + t
        last = np.searchsorted(self._session_keys, wanted, side="right") - 1
        on = (last >= 0) & (s.charger[last] == chargers) & (s.stop[last] > t)
        return np.where(on, last, -1).astype(np.int32)

    def row(self, t: int, before: EVRow | None = None) -> EVRow:
        """The chargers at step ``t``. Given ``before``, the row of step ``t - 1``, it changes
        only where a session stops or starts at ``t`` (:attr:`changes`): reading every
        charger's session afresh costs a cache miss per charger and field (about 0.4 ms a step
        at 5,000). Without it, each charger's session is found by a binary search."""
        padded = self.padded
        if before is None or before.step != t - 1:
            sid = self.sessions_at(t)
            v = {key: getattr(padded, key)[sid] for key in ROW_FIELDS}
        else:
            c = self.changes
            sid = before.session.copy()
            v = {key: getattr(before, ROW_FIELDS[key]).copy() for key in ROW_FIELDS}
            gone = before.stop == t
            new = slice(c.starts_at[t], c.starts_at[t + 1])
            sid[gone] = -1
            sid[c.by_start.charger[new]] = c.session[new]
            for key, mine in v.items():
                mine[gone] = getattr(padded, key)[-1]
                mine[c.by_start.charger[new]] = getattr(c.by_start, key)[new]
        stop, leaves = v["stop"], v["departs"]
        return EVRow(
            connected=sid >= 0,
            arrival=v["start"] == t,
            departs=leaves & (stop == t + 1),
            capacity_kwh=v["capacity_kwh"],
            arrival_soc=v["arrival_soc"],
            required_soc=v["required_soc"],
            soc_min=v["soc_min"],
            steps_left=np.maximum(stop - t, 0),
            required_now=leaves,
            session=sid,
            start=v["start"],
            stop=stop,
            step=t,
        )

    @cached_property
    def arrives(self) -> np.ndarray:
        """(T,) bool: a session starts at this step at some charger."""
        return np.diff(self.changes.starts_at)[: self.n_steps] > 0

    # ------------------------------------- the per-step form (planners, tests; (T, n) each)
    @cached_property
    def session_at(self) -> np.ndarray:
        """(T, n) int32 the session connected at each charger and step (-1: none)."""
        out = np.full((self.n_steps, self.n), -1, np.int32)
        s = self.sessions
        length = s.stop - s.start
        order = np.argsort(-length, kind="stable").astype(np.int32)  # the longest first
        longest = length[order]
        for k in range(int(longest.max(initial=0))):  # the k-th step of every session so long
            m = int(np.count_nonzero(longest > k))
            out[s.start[order[:m]] + k, s.charger[order[:m]]] = order[:m]
        return out

    @cached_property
    def connected(self) -> np.ndarray:
        return self.session_at >= 0

    @cached_property
    def arrival(self) -> np.ndarray:
        out = np.zeros((self.n_steps, self.n), bool)
        out[self.sessions.start, self.sessions.charger] = True
        return out

    @cached_property
    def departs(self) -> np.ndarray:
        s = self.sessions
        out = np.zeros((self.n_steps, self.n), bool)
        out[s.stop[s.departs] - 1, s.charger[s.departs]] = True
        return out

    @cached_property
    def capacity_kwh(self) -> np.ndarray:
        return self.padded.capacity_kwh[self.session_at]

    @cached_property
    def arrival_soc(self) -> np.ndarray:
        """(T, n) the arrival SOC at each session's first step (0 elsewhere)."""
        out = np.zeros((self.n_steps, self.n))
        out[self.sessions.start, self.sessions.charger] = self.sessions.arrival_soc
        return out

    @cached_property
    def required_soc(self) -> np.ndarray:
        return self.padded.required_soc[self.session_at]

    @cached_property
    def soc_min(self) -> np.ndarray:
        return self.padded.soc_min[self.session_at]

    @cached_property
    def steps_left(self) -> np.ndarray:
        """(T, n) int32 connected steps left in the session, this one included (0: not
        connected)."""
        t = np.arange(self.n_steps, dtype=np.int32)[:, None]
        return np.maximum(self.padded.stop[self.session_at] - t, 0)

    @cached_property
    def required_now(self) -> np.ndarray:
        """(T, n) bool: the session of this step ends with a departure (its requirement
        counts)."""
        return self.padded.departs[self.session_at]


def _checked(s: Sessions, n: int, n_steps: int) -> Sessions:
    """``s`` with its arrays typed, or a :class:`ScenarioError` naming the field."""
    size = np.shape(s.charger)
    if len(size) != 1:
        raise ScenarioError("ev_chargers.sessions.charger: must be one-dimensional")
    ints = {}
    for key in ("charger", "start", "stop"):
        raw = np.asarray(getattr(s, key))
        if raw.shape != size or (raw.size and not np.all(raw == np.rint(raw))):
            raise ScenarioError(f"ev_chargers.sessions.{key}: {size[0]} integers expected")
        ints[key] = raw.astype(np.int32)
    charger, start, stop = ints["charger"], ints["start"], ints["stop"]
    if np.any((charger < 0) | (charger >= n)):
        raise ScenarioError(f"ev_chargers.sessions.charger: must be within [0, {n})")
    if np.any((start < 0) | (stop <= start) | (stop > n_steps)):
        raise ScenarioError(
            f"ev_chargers.sessions.start/stop: 0 <= start < stop <= {n_steps} for each session"
        )
    order = charger.astype(np.int64) * (n_steps + 1) + start
    if np.any(np.diff(order) <= 0):
        raise ScenarioError("ev_chargers.sessions: must be sorted by charger, then by start")
    same = charger[1:] == charger[:-1]
    if np.any(same & (start[1:] < stop[:-1])):
        raise ScenarioError("ev_chargers.sessions: two sessions of one charger overlap")
    departs = np.asarray(s.departs)
    if departs.shape != size:
        raise ScenarioError(f"ev_chargers.sessions.departs: {size[0]} values expected")
    amounts = {k: as_array(f"ev_chargers.sessions.{k}", getattr(s, k), size) for k in AMOUNTS}
    if np.any(amounts["capacity_kwh"] <= 0):
        raise ScenarioError("ev_chargers.sessions.capacity_kwh: must be > 0")
    for k in ("arrival_soc", "required_soc", "soc_min"):
        if np.any((amounts[k] < 0) | (amounts[k] > 1)):
            raise ScenarioError(f"ev_chargers.sessions.{k}: must be within [0, 1]")
    return Sessions(charger, start, stop, departs.astype(bool), **amounts)


# ------------------------------------------------------------------------------ physics
class Chargers(Protocol):
    """What the physics reads of the chargers, one entry per charger of the row (an
    :class:`EVChargers`, or the chargers of some sessions in :func:`uncontrolled_blocks`)."""

    @property
    def charge_kw(self) -> np.ndarray: ...
    @property
    def discharge_kw(self) -> np.ndarray: ...
    @property
    def efficiency(self) -> np.ndarray: ...
    @property
    def member(self) -> np.ndarray: ...
    @property
    def n(self) -> int: ...


class _OfSessions(NamedTuple):
    """The chargers of some sessions, one entry per session (:func:`_charging_alone`)."""

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    efficiency: np.ndarray
    member: np.ndarray
    n: int


def plug_in(row: EVRow, energy_kwh: np.ndarray) -> np.ndarray:
    """Energy in each connected EV at the start of the step of ``row``: an arriving EV's
    arrival SOC, a staying EV's energy, 0 at a charger without an EV."""
    arriving = row.arrival_soc * row.capacity_kwh
    return np.where(row.arrival, arriving, np.where(row.connected, energy_kwh, 0.0))


def limits(
    ev: Chargers, row: EVRow, energy_kwh: np.ndarray, dt_h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max charge, max discharge, floor) at the terminals for the step of ``row`` [kWh, >= 0,
    >= 0, signed]. The floor is the least flow that keeps the departure requirement reachable:
    the energy after this step must be at least ``required - (steps left after it) * full
    charge`` (a negative floor allows that much discharge)."""
    conn = row.connected
    cap, eta = row.capacity_kwh, ev.efficiency
    p_c = np.where(conn, ev.charge_kw * dt_h, 0.0)
    p_d = np.where(conn, ev.discharge_kw * dt_h, 0.0)
    max_c = np.minimum(p_c, np.maximum(cap - energy_kwh, 0.0) / eta)
    max_d = np.minimum(p_d, np.maximum(energy_kwh - row.soc_min * cap, 0.0) * eta)
    after = np.maximum(row.steps_left - 1, 0)
    need = row.required_soc * cap - after * p_c * eta
    gap = need - energy_kwh
    floor = np.where(gap > 0.0, gap / eta, gap * eta)
    floor = np.where(row.required_now & conn, floor, -np.inf)
    return max_c, max_d, np.minimum(np.maximum(floor, -max_d), max_c)


def to_required(
    ev: Chargers, row: EVRow, energy_kwh: np.ndarray, max_charge_kwh: np.ndarray
) -> np.ndarray:
    """Uncontrolled charging (no lever for the charger): full power on arrival until the
    required SOC is reached, as a plugged-in EV charges by itself."""
    short = np.maximum(row.required_soc * row.capacity_kwh - energy_kwh, 0.0)
    return np.minimum(short / ev.efficiency, max_charge_kwh)


def flows(
    ev: Chargers,
    row: EVRow,
    energy_kwh: np.ndarray,
    dt_h: float,
    setpoints: np.ndarray,
    follow: bool,
    home_net_kwh: np.ndarray,
) -> np.ndarray:
    """Terminal flow per charger [kWh, > 0 charging] for the step of ``row``.

    ``setpoints`` per charger in ``[-1, 1]`` (a fraction of the charge power, below 0 of the
    discharge power), NaN for "no lever": uncontrolled charging (:func:`to_required`). With
    ``follow`` a charging setpoint is a floor above which the EV also absorbs its home's
    surplus (``home_net_kwh`` < 0, shared among the home's connected EVs), up to the energy it
    still needs for its departure. The departure floor and the limits always hold."""
    max_c, max_d, floor = limits(ev, row, energy_kwh, dt_h)
    p_c = ev.charge_kw * dt_h
    sched = np.where(setpoints >= 0, setpoints * p_c, setpoints * ev.discharge_kw * dt_h)
    if follow and ev.n:
        # Soak up the home's surplus toward what the EV still needs for its departure (beyond
        # it the energy would leave with the car, and the home battery needs it more); a
        # planned V2G discharge stays as planned (it reaches the neighbours through the market).
        conn = row.connected
        share = np.bincount(ev.member[conn], minlength=home_net_kwh.size)[ev.member]
        own = home_net_kwh[ev.member] / np.maximum(share, 1)
        needed = to_required(ev, row, energy_kwh, max_c)
        soak = np.minimum(np.maximum(-own, 0.0), needed)
        sched = np.where(conn & (sched >= 0), np.maximum(sched, soak), sched)
    flow = np.where(np.isnan(setpoints), to_required(ev, row, energy_kwh, max_c), sched)
    return np.minimum(np.maximum(np.maximum(flow, floor), -max_d), max_c)


def apply_flow(
    ev: Chargers, row: EVRow, energy_kwh: np.ndarray, flow_kwh: np.ndarray
) -> np.ndarray:
    """Energy after the step's flow (losses on each way), clipped against rounding."""
    eta = ev.efficiency
    stored = energy_kwh + np.where(flow_kwh > 0, flow_kwh * eta, flow_kwh / eta)
    return np.minimum(np.maximum(stored, 0.0), row.capacity_kwh)


def reachable_kwh(ev: Chargers, row: EVRow, energy_kwh: np.ndarray, dt_h: float) -> np.ndarray:
    """The most energy each EV can hold when it leaves, charging at full power from the step
    of ``row``."""
    full = row.steps_left * ev.charge_kw * dt_h * ev.efficiency
    return np.minimum(energy_kwh + full, row.capacity_kwh)


def uncontrolled_blocks(
    ev: EVChargers, n_members: int, dt_h: float, rows: int = 256
) -> Iterator[tuple[int, np.ndarray]]:
    """(first step, (rows, n_members)) blocks of the EVs' charging per home when no lever
    drives them (the no-control run's), ``rows`` steps each, computed as they are asked for:
    at 10,000 homes a whole year of it is 700 MB and its readers want totals of it.

    Without a lever each EV charges on its own (:func:`_charging_alone`), so a block needs the
    sessions that start before its end; what they charge after it waits for the next blocks."""
    starts_at, by_start = ev.changes.starts_at, ev.changes.by_start
    waiting: tuple[np.ndarray, ...] = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    for lo in range(0, ev.n_steps, rows):
        hi = min(lo + rows, ev.n_steps)
        part = slice(starts_at[lo], starts_at[hi])  # the sessions that start in the block
        new = _charging_alone(
            ev, Sessions(*(getattr(by_start, k)[part] for k in SESSION_FIELDS)), dt_h
        )
        step, charger, flow = (np.concatenate((a, b)) for a, b in zip(waiting, new, strict=True))
        now = step < hi
        later = ~now
        waiting = (step[later], charger[later], flow[later])
        step, charger, flow = step[now], charger[now], flow[now]
        order = np.lexsort((charger, step))  # a step adds its chargers up in their order
        out = np.zeros((hi - lo, n_members))
        np.add.at(out, (step[order] - lo, ev.member[charger[order]]), flow[order])
        yield lo, out


def _charging_alone(
    ev: EVChargers, s: Sessions, dt_h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, charger, flow) of every step an EV of the sessions ``s`` charges by itself,
    :func:`flows` without a lever. An EV so charges at full power until it holds its required
    energy and then never again in its session, whatever the others do, so the sessions are
    stepped side by side, their k-th steps at once, each while it still charges. The same
    equations as the step's, entry by entry: the same floats."""
    going = np.arange(s.n)
    energy = s.arrival_soc * s.capacity_kwh  # plug_in on arrival
    steps, chargers, flows_ = [], [], []
    k = 0
    while going.size:
        c, t = s.charger[going], s.start[going] + np.int32(k)
        specs = _OfSessions(ev.charge_kw[c], ev.discharge_kw[c], ev.efficiency[c], c, c.size)
        row = EVRow(
            connected=np.ones(c.size, bool),
            arrival=t == s.start[going],
            departs=s.departs[going] & (s.stop[going] == t + 1),
            capacity_kwh=s.capacity_kwh[going],
            arrival_soc=s.arrival_soc[going],
            required_soc=s.required_soc[going],
            soc_min=s.soc_min[going],
            steps_left=s.stop[going] - t,
            required_now=s.departs[going],
            session=np.full(c.size, -1, np.int32),  # not read
            start=s.start[going],
            stop=s.stop[going],
            step=-1,  # a step per entry: ``t``
        )
        f = flows(specs, row, energy, dt_h, np.full(c.size, np.nan), False, np.zeros(0))
        energy = apply_flow(specs, row, energy, f)
        steps.append(t)
        chargers.append(c)
        flows_.append(f)
        on = (f > 0.0) & (t + 1 < row.stop)  # a flow of 0 stays 0
        going, energy = going[on], energy[on]
        k += 1
    return (
        np.concatenate(steps) if steps else np.zeros(0, np.int32),
        np.concatenate(chargers) if chargers else np.zeros(0, np.int32),
        np.concatenate(flows_) if flows_ else np.zeros(0),
    )
