"""The compiled step kernel (``Community(compiled=True)``, ``sim.kernel``) against the numpy step
(``compiled=False``, the reference): random communities under random levers that use every
path of the kernel (idle, schedule, follow, per-battery setpoints, pooled home batteries,
community storages, P2P on and off, burns), equal to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest

from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import MEMBER_BATTERIES, P2P_PRICE_RULES, Community, Levers, kernel
from energy_agents.sim.community import KERNEL_MIN_MEMBER_STEPS
from energy_agents.sim.params import Scenario
from test_sim_shortcuts import assert_close, assert_same_step


def random_levers(rng: np.random.Generator, s: Scenario) -> Levers:
    if rng.integers(5) == 0:  # the no-control levers: idle batteries
        return Levers(procurement_kwh=float(rng.uniform(0, 3)))
    own = {}
    if rng.integers(3) == 0:  # some batteries on their own setpoint
        names = rng.choice(s.member_names, size=int(rng.integers(1, s.n_members + 1)))
        own = {str(n): float(rng.uniform(-1, 1)) for n in names}
    return Levers(
        burn_rate_ct_per_kwh=float(rng.choice([0.0, rng.uniform(0, 0.5)])),
        procurement_kwh=float(rng.uniform(0, 3)),
        storage_setpoints={
            n: float(rng.choice([0.0, rng.uniform(-1, 1)])) for n in s.storage_names
        },
        battery_setpoints=own,
        storage_follow=bool(rng.integers(2)),
        p2p_enabled=bool(rng.integers(2)),
        home_batteries_pooled=bool(rng.integers(2)),
        p2p_price_rule=str(rng.choice(P2P_PRICE_RULES)),
        exchange_target_kwh=float(rng.uniform(-2, 2)) if rng.integers(2) else None,
    )


@pytest.mark.parametrize("seed", range(10))
def test_the_kernel_gives_what_the_numpy_step_gives(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    s = tiny_scenario(
        seed=seed,
        n_members=int(rng.integers(1, 41)),
        n_steps=24 * 4,
        n_community_storages=int(rng.integers(0, 3)),
    )
    fast, ref = Community(s, compiled=True), Community(s, compiled=False)
    assert fast._kernel is not None and ref._kernel is None
    for t in range(s.n_steps):
        assert_same_step(fast, ref, random_levers(rng, s), t)
    assert_close(fast.results, ref.results, "results")
    np.testing.assert_allclose(fast.ledger.members, ref.ledger.members, rtol=0, atol=1e-9)
    for attr in ("minted", "burned", "community", "grid"):
        assert abs(getattr(fast.ledger, attr) - getattr(ref.ledger, attr)) <= 1e-9, attr
    for attr in ("cumulative_cost", "discharge_throughput"):
        assert abs(getattr(fast, attr) - getattr(ref, attr)) <= 1e-9, attr
    # The physical invariants hold in the kernel's own checks too.
    assert fast.max_energy_error < 1e-9 and fast.max_token_error < 1e-6
    mb = s.member_batteries
    assert np.all(fast.member_energy >= mb.energy_min_kwh - 1e-12)
    assert np.all(fast.member_energy <= mb.energy_max_kwh + 1e-12)


def test_the_kernel_holds_a_battery_to_its_power_and_energy() -> None:
    """Known values: one 10 kWh / 5 kW battery at 90 % efficiency each way."""
    k = kernel
    e_max, e_min = np.array([10.0]), np.array([0.0])
    eta, p = np.array([0.9]), np.array([5.0])
    empty = np.zeros(0)
    # A full-power charge from 5 kWh: 5 kWh at the terminals, 4.5 stored.
    out = k.members_before_grid(
        np.array([1.0]), np.array([5.0]), e_max, e_min, eta, eta, p, 1.0, empty, 1.0,
        kernel.SCHEDULE, empty, False,
    )  # fmt: skip
    assert out[0][0] == 5.0 and out[1][0] == pytest.approx(9.5)
    assert out[4][0] == pytest.approx(6.0) and out[5][0] == 0.0  # 1 + 5 kWh drawn
    # Following a 2 kWh deficit from 1 kWh stored: 0.9 kWh out, the energy at its floor.
    out = k.members_before_grid(
        np.array([2.0]), np.array([1.0]), e_max, e_min, eta, eta, p, 1.0, empty, -1.0,
        kernel.FOLLOW, empty, False,
    )  # fmt: skip
    assert out[0][0] == pytest.approx(-0.9) and out[1][0] == pytest.approx(0.0)
    assert out[4][0] == pytest.approx(1.1) and out[13] == pytest.approx(0.9)


def test_large_communities_use_the_kernel_by_default() -> None:
    small = tiny_scenario(seed=1, n_members=3, n_steps=4)
    assert Community(small)._kernel is None
    assert Community(small, compiled=True, shortcuts=False)._kernel is None  # the reference
    large = tiny_scenario(seed=1, n_members=-(-KERNEL_MIN_MEMBER_STEPS // 96), n_steps=96)
    c = Community(large)
    assert c._kernel is not None
    for _ in range(3):
        c.observe()
        c.step(Levers(storage_setpoints={MEMBER_BATTERIES: -1.0}, storage_follow=True))
    assert c.max_energy_error < 1e-9


def ev_levers(rng: np.random.Generator, s: Scenario) -> Levers:
    """Random charger setpoints (V2G too), some chargers without a lever (uncontrolled)."""
    return Levers(
        ev_setpoints={n: float(rng.uniform(-1, 1)) for n in s.evs.names if rng.random() < 0.8},
        storage_setpoints={k: float(rng.uniform(-1, 1)) for k in s.storage_names},
        storage_follow=bool(rng.random() < 0.5),
        p2p_enabled=bool(rng.random() < 0.5),
        burn_rate_ct_per_kwh=float(rng.choice([0.0, 0.1])),
    )


@pytest.mark.parametrize("which", ["citylearn_ev_mini", "synthetic"])
def test_the_kernel_drives_the_chargers_as_the_numpy_step(which: str) -> None:
    from energy_agents.scenarios import load_scenario

    if which == "synthetic":
        s = load_scenario("synthetic", members=12, ev_share=0.5, heat_pump_share=0.5).head(120)
    else:
        s = load_scenario("citylearn:tests/fixtures/citylearn_ev_mini")
    assert s.evs.n > 0
    fast = run_both_with_evs(s, np.random.default_rng(11))
    assert fast.results["ev_kwh"].any() and fast.max_energy_error < 1e-9


def run_both_with_evs(s: Scenario, rng: np.random.Generator) -> Community:
    """The kernel's and the numpy step's run under the same random levers, each step's
    observation and result, the EVs' energy and counters equal; the kernel's run."""
    fast, ref = Community(s, compiled=True), Community(s, compiled=False)
    while not fast.done:
        assert_same_step(fast, ref, ev_levers(rng, s), fast.t)
    assert_close(fast.results, ref.results, "results")
    np.testing.assert_allclose(fast.ev_energy, ref.ev_energy, rtol=0, atol=1e-9)
    for attr in ("ev_departures", "ev_short_departures", "ev_infeasible_departures"):
        assert getattr(fast, attr) == getattr(ref, attr), attr
    assert abs(fast.ev_shortfall_kwh - ref.ev_shortfall_kwh) <= 1e-9
    return fast


def test_the_kernel_soaks_a_homes_surplus_into_its_evs_as_the_numpy_step() -> None:
    """Two chargers behind one home, plugged in around noon with PV to spare: the follow rule
    shares the home's surplus between them up to what each still needs."""
    from dataclasses import replace

    from energy_agents.sim.ev import EVChargers

    base = tiny_scenario(seed=2, n_members=3, n_steps=48, n_community_storages=1)
    n_steps, n = base.n_steps, 3
    conn = np.zeros((n_steps, n))
    arrival, departs = np.zeros_like(conn), np.zeros_like(conn)
    for c, (start, end) in enumerate([(9, 16), (10, 15), (33, 40)]):
        conn[start : end + 1, c] = 1
        arrival[start, c] = 1
        departs[end, c] = 1
    ev = EVChargers.from_steps(
        ("c0", "c1", "c2"), np.array([0, 0, 1]), np.array([3.0, 7.0, 11.0]),
        np.array([0.0, 2.0, 5.0]), np.array([0.9, 0.95, 1.0]), conn, arrival, departs,
        conn * np.array([20.0, 40.0, 60.0]), conn * np.array([0.2, 0.5, 0.1]),
        conn * np.array([0.7, 0.9, 0.8]), conn * 0.1,
    )  # fmt: skip
    s = replace(base, ev_chargers=ev, pv_kwh=base.pv_kwh * 6.0)
    rng = np.random.default_rng(5)
    fast, ref = Community(s, compiled=True), Community(s, compiled=False)
    while not fast.done:
        lv = Levers(
            ev_setpoints={k: float(rng.choice([0.0, rng.uniform(0, 0.3), -0.5])) for k in ev.names},
            storage_follow=bool(rng.random() < 0.8),
            storage_setpoints={k: -1.0 for k in s.storage_names},
        )
        fast.step(lv), ref.step(lv)
        np.testing.assert_allclose(fast.ev_energy, ref.ev_energy, rtol=0, atol=1e-9)
    assert_close(fast.results, ref.results, "results")
    assert fast.ev_departures == ref.ev_departures == 3


def test_without_numba_the_default_falls_back_to_the_numpy_step(monkeypatch) -> None:
    import sys

    import energy_agents.sim as sim_package

    monkeypatch.delattr(sim_package, "kernel", raising=False)
    monkeypatch.setitem(sys.modules, "energy_agents.sim.kernel", None)  # import fails
    large = tiny_scenario(seed=1, n_members=-(-KERNEL_MIN_MEMBER_STEPS // 96), n_steps=96)
    assert Community(large)._kernel is None  # the default: the numpy step, same results
    with pytest.raises(ImportError):
        Community(large, compiled=True)  # asked for explicitly: the error


def random_sessions(rng: np.random.Generator, n: int, n_steps: int):
    """Sessions back to back or apart, short and long, some with a requirement out of reach."""
    from energy_agents.sim.ev import Sessions

    rows = []
    for c in range(n):
        t = int(rng.integers(0, 4))
        while t < n_steps:
            stop = min(t + int(rng.integers(1, 9)), n_steps)
            rows.append((c, t, stop, rng.random() < 0.8, rng.uniform(5, 60),
                         rng.uniform(0, 0.6), rng.uniform(0.3, 1.0), rng.uniform(0, 0.2)))  # fmt: skip
            t = stop + int(rng.choice([0, 0, 1, 3]))  # 0: the next EV plugs in at once
    cols = list(zip(*rows, strict=True))
    ints = [np.array(x, np.int32) for x in cols[:3]]
    return Sessions(*ints, np.array(cols[3]), *(np.array(x) for x in cols[4:]))


@pytest.mark.parametrize("seed", range(4))
def test_the_kernel_advances_random_sessions_as_the_numpy_step(seed: int) -> None:
    """Departures, arrivals at the same step, requirements out of reach: the compiled chargers'
    step counts and observes what the numpy step does."""
    from dataclasses import replace

    from energy_agents.sim.ev import EVChargers

    rng = np.random.default_rng(40 + seed)
    base = tiny_scenario(seed=seed, n_members=5, n_steps=72, n_community_storages=1)
    n = 7
    ev = EVChargers(
        tuple(f"c{i}" for i in range(n)), rng.integers(0, 5, n), rng.uniform(1, 11, n),
        rng.choice([0.0, 3.0], n), rng.uniform(0.85, 1.0, n), base.n_steps,
        random_sessions(rng, n, base.n_steps),
    )  # fmt: skip
    assert (ev.sessions.stop[:-1] == ev.sessions.start[1:]).any()  # back to back somewhere
    fast = run_both_with_evs(replace(base, ev_chargers=ev), rng)
    assert fast.ev_infeasible_departures > 0 and fast.ev_departures > 20
