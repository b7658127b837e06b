"""EV data stored per session, the observation's recent rows, and array setpoints: each gives
exactly what the per-step form, the whole history and a dict of setpoints gave."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from energy_agents.scenarios import load_scenario
from energy_agents.sim import Community, Levers, Setpoints
from energy_agents.sim.ev import AMOUNTS, FLAGS, PER_STEP, EVChargers
from energy_agents.sim.history import RecentRows
from energy_agents.sim.params import ScenarioError
from test_sim_shortcuts import assert_close


def per_step(ev: EVChargers) -> dict[str, np.ndarray]:
    return {k: getattr(ev, k) for k in PER_STEP}


def fixed(ev: EVChargers) -> tuple:
    return ev.names, ev.member, ev.charge_kw, ev.discharge_kw, ev.efficiency


@pytest.fixture(scope="module")
def synthetic_evs() -> EVChargers:
    return load_scenario("synthetic", members=30, ev_share=0.5).head(24 * 20).evs


def test_sessions_round_trip_through_the_per_step_form(synthetic_evs):
    ev = synthetic_evs
    back = EVChargers.from_steps(*fixed(ev), **per_step(ev))
    for key in ("charger", "start", "stop", "departs", *AMOUNTS):
        np.testing.assert_array_equal(getattr(back.sessions, key), getattr(ev.sessions, key))
    # The per-step form has what the sessions say: connected from start to stop.
    s = ev.sessions
    assert ev.connected.sum() == int((s.stop - s.start).sum())
    assert ev.arrival.sum() == s.n and ev.departs.sum() == int(s.departs.sum())
    assert ev.steps_left[s.start, s.charger].tolist() == (s.stop - s.start).tolist()


def test_each_row_equals_the_per_step_arrays_read_fresh_or_from_the_last(synthetic_evs):
    ev = synthetic_evs
    before = None
    for t in range(ev.n_steps):
        row = ev.row(t, before)
        fresh = ev.row(t)
        for key in FLAGS + AMOUNTS + ("steps_left", "required_now"):
            if key != "arrival_soc":  # the row holds the session's SOC, the array its arrival
                np.testing.assert_array_equal(getattr(row, key), getattr(ev, key)[t], key)
            np.testing.assert_array_equal(getattr(row, key), getattr(fresh, key), key)
        arriving = row.arrival
        np.testing.assert_array_equal(row.arrival_soc[arriving], ev.arrival_soc[t][arriving])
        before = row


def test_head_cuts_sessions_and_their_departures(synthetic_evs):
    ev = synthetic_evs
    cut = ev.head(100)
    np.testing.assert_array_equal(cut.connected, ev.connected[:100])
    # A session running past step 100 has no departure within the head: no requirement.
    assert not np.any(cut.required_now[99] & ev.connected[100])
    np.testing.assert_array_equal(cut.departs, ev.departs[:100] & ev.required_now[:100])


def test_an_ev_changing_within_a_session_is_refused(synthetic_evs):
    ev = synthetic_evs
    steps = per_step(ev)
    t, c = int(ev.sessions.start[0]) + 1, int(ev.sessions.charger[0])
    cap = steps["capacity_kwh"].copy()
    cap[t, c] += 1.0
    with pytest.raises(ScenarioError, match=rf"capacity_kwh: step {t}, .*within a session"):
        EVChargers.from_steps(*fixed(ev), **{**steps, "capacity_kwh": cap})
    # Leaving and staying plugged in without a new arrival is no session.
    stays = steps["connected"].copy()
    stop = int(ev.sessions.stop[0])
    stays[stop, c] = True
    if not steps["arrival"][stop, c]:
        with pytest.raises(ScenarioError, match="connects without an arrival"):
            EVChargers.from_steps(*fixed(ev), **{**steps, "connected": stays})


def test_sessions_checked_when_given_directly(synthetic_evs):
    ev = synthetic_evs
    s = ev.sessions
    with pytest.raises(ScenarioError, match="overlap"):
        stop = s.stop.copy()
        stop[0] = s.start[1] + 1
        replace(ev, sessions=replace(s, stop=stop))
    with pytest.raises(ScenarioError, match="sorted by charger"):
        replace(ev, sessions=replace(s, start=s.start[::-1].copy(), stop=s.stop[::-1].copy()))
    with pytest.raises(ScenarioError, match="sessions.capacity_kwh: must be > 0"):
        replace(ev, sessions=replace(s, capacity_kwh=np.zeros(s.n)))


def test_recent_rows_are_the_history_and_stay_snapshots():
    rng = np.random.default_rng(0)
    full = rng.random((100, 3))
    kept = RecentRows(depth=7, width=3)
    views = []
    for t in range(100):
        lo = max(0, t - 7)
        got = kept.rows(lo, t)
        np.testing.assert_array_equal(got, full[lo:t])
        assert not got.flags.writeable
        views.append((lo, t, got))
        kept.append(full[t])
    for lo, t, got in views:  # every view handed out is still what it was
        np.testing.assert_array_equal(got, full[lo:t])
    with pytest.raises(ValueError, match="only the newest"):
        kept.rows(0, 50)


def test_array_setpoints_step_as_a_dict_of_them():
    s = load_scenario("synthetic", members=40, ev_share=0.5).head(24 * 4)
    ev, members = s.evs, s.member_names
    rng = np.random.default_rng(3)
    a, b = Community(s), Community(s)
    while not a.done:
        ev_sp = rng.uniform(-1.2, 1.2, ev.n)
        ev_sp[rng.random(ev.n) < 0.2] = np.nan  # NaN reads as 0, as in a dict
        bat = rng.uniform(-1, 1, len(members))
        common = dict(storage_follow=bool(rng.random() < 0.5), p2p_enabled=True)
        as_arrays = Levers(
            ev_setpoints=Setpoints(ev.names, ev_sp),
            battery_setpoints=Setpoints(members, bat),
            **common,
        )
        as_dicts = Levers(
            ev_setpoints=dict(zip(ev.names, ev_sp.tolist(), strict=True)),
            battery_setpoints=dict(zip(members, bat.tolist(), strict=True)),
            **common,
        )
        t = a.t
        assert_close(a.observe().to_dict(), b.observe().to_dict(), f"observe {t}")
        ra, rb = a.step(as_arrays), b.step(as_dicts)
        assert ra.levers == rb.levers  # clipped (NaN 0): Setpoints against a dict, as Mappings
        for f in ("served_kwh", "battery_kwh", "import_kwh", "export_kwh", "grid_cost_ct"):
            assert_close(getattr(ra, f), getattr(rb, f), f"step {t} {f}")
    np.testing.assert_array_equal(a.ev_energy, b.ev_energy)
    assert ra.levers.to_dict() == rb.levers.to_dict()  # plain dicts for JSON


def test_rows_follow_sessions_back_to_back_and_apart():
    from test_sim_kernel import random_sessions

    rng = np.random.default_rng(3)
    n, n_steps = 6, 60
    ev = EVChargers(tuple("abcdef"), np.arange(n), np.full(n, 7.0), np.zeros(n), np.ones(n),
                    n_steps, random_sessions(rng, n, n_steps))  # fmt: skip
    assert (ev.sessions.stop[:-1] == ev.sessions.start[1:]).any()
    before = None
    for t in range(n_steps):
        row = ev.row(t, before)
        np.testing.assert_array_equal(row.session, ev.session_at[t])
        np.testing.assert_array_equal(ev.sessions_at(t), ev.session_at[t])
        for key in ("connected", "departs", "capacity_kwh", "steps_left", "required_now"):
            np.testing.assert_array_equal(getattr(row, key), getattr(ev, key)[t], key)
        np.testing.assert_array_equal(row.arrival, ev.arrival[t])
        before = row
    assert ev.arrives.sum() == np.unique(ev.sessions.start).size


def stepwise_uncontrolled(ev: EVChargers, n_members: int, dt_h: float) -> np.ndarray:
    """The no-control charging per step and home, one step after the other (the reference)."""
    from energy_agents.sim import ev as ev_model

    out = np.zeros((ev.n_steps, n_members))
    e, row = np.zeros(ev.n), None
    for t in range(ev.n_steps):
        row = ev.row(t, row)
        e = ev_model.plug_in(row, e)
        f = ev_model.flows(ev, row, e, dt_h, np.full(ev.n, np.nan), False, np.zeros(n_members))
        e = ev_model.apply_flow(ev, row, e, f)
        np.add.at(out[t], ev.member, f)
    return out


@pytest.mark.parametrize("which", ["synthetic", "random", "citylearn_ev_mini"])
def test_uncontrolled_charging_by_sessions_equals_it_step_by_step(which):
    from energy_agents.sim.ev import uncontrolled_blocks
    from test_sim_kernel import random_sessions

    dt_h, n_members = 1.0, 8
    if which == "synthetic":
        s = load_scenario("synthetic", members=40, ev_share=0.5).head(24 * 30)
        ev, n_members = s.evs, s.n_members
    elif which == "citylearn_ev_mini":
        s = load_scenario("citylearn:tests/fixtures/citylearn_ev_mini")
        ev, n_members, dt_h = s.evs, s.n_members, s.dt_h
    else:  # slow chargers and big requirements too: some EVs charge for many steps
        rng = np.random.default_rng(8)
        n = 9
        ev = EVChargers(tuple(f"c{i}" for i in range(n)), rng.integers(0, n_members, n),
                        rng.choice([0.0, 0.4, 1.5, 7.0], n), np.full(n, 2.0), rng.uniform(0.8, 1, n),
                        80, random_sessions(rng, n, 80))  # fmt: skip
    want = stepwise_uncontrolled(ev, n_members, dt_h)
    got = np.vstack([b for _, b in uncontrolled_blocks(ev, n_members, dt_h, rows=7)])
    np.testing.assert_array_equal(got, want)  # the same floats
    assert want.any()
