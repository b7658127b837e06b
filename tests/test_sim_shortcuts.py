"""The step's shortcuts (``Community(shortcuts=True)``, the default) against every equation run
(``shortcuts=False``): random communities under random levers that mix idle steps (what the
shortcuts skip) with burns, schedules, follow, pooling and P2P."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import MEMBER_BATTERIES, P2P_PRICE_RULES, Community, Levers
from energy_agents.sim.observation import Observation


def random_levers(rng: np.random.Generator, storage_names: tuple[str, ...]) -> Levers:
    kind = rng.integers(4)
    if kind == 0:  # the no-control levers: every shortcut applies
        return Levers(procurement_kwh=float(rng.uniform(0, 3)))
    if kind == 1:  # idle storages, but a burn (demand response runs, a backlog follows)
        return Levers(burn_rate_ct_per_kwh=float(rng.uniform(0, 0.5)))
    setpoints = {n: float(rng.choice([0.0, rng.uniform(-1, 1)])) for n in storage_names}
    return Levers(
        burn_rate_ct_per_kwh=float(rng.choice([0.0, rng.uniform(0, 0.5)])),
        procurement_kwh=float(rng.uniform(0, 3)),
        storage_setpoints=setpoints,
        storage_follow=bool(rng.integers(2)),
        p2p_enabled=bool(rng.integers(2)),
        home_batteries_pooled=bool(rng.integers(2)),
        p2p_price_rule=str(rng.choice(P2P_PRICE_RULES)),
    )


def assert_close(a: object, b: object, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple | np.ndarray) and not isinstance(a, str):
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape, where
        if x.dtype.kind in "fiub":
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-9, err_msg=where)
        else:
            assert x.tolist() == y.tolist(), where
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, where
        assert abs(a - b) <= 1e-9, (where, a, b)
    else:
        assert a == b, where


def assert_same_step(a: Community, b: Community, lv: Levers, t: int) -> None:
    """Both communities observe the same and, stepped under ``lv``, give the same result."""
    assert_close(a.observe().to_dict(), b.observe().to_dict(), f"observe {t}")
    ra, rb = a.step(lv), b.step(lv)
    for f in dataclasses.fields(ra):
        va, vb = getattr(ra, f.name), getattr(rb, f.name)
        if isinstance(va, Levers):
            assert va == vb
        else:
            assert_close(va, vb, f"step {t} {f.name}")


@pytest.mark.parametrize("seed", range(8))
def test_shortcuts_give_what_every_equation_gives(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = tiny_scenario(
        seed=seed,
        n_members=int(rng.integers(1, 7)),
        n_steps=24 * 3,
        n_community_storages=int(rng.integers(0, 3)),  # 0: the no-storage shortcut
    )
    fast, plain = Community(s), Community(s, shortcuts=False)
    # Runs of idle steps (as the none strategy's), then random ones, then idle again.
    idle = [Levers(procurement_kwh=float(q)) for q in rng.uniform(0, 3, 24)]
    mixed = [random_levers(rng, s.storage_names) for _ in range(s.n_steps - 48)]
    for t, lv in enumerate(idle + mixed + idle[::-1]):
        assert_same_step(fast, plain, lv, t)
    assert_close(fast.observe().to_dict(), plain.observe().to_dict(), "final observe")
    assert_close(fast.results, plain.results, "results")
    assert fast.max_energy_error < 1e-9 and fast.max_token_error < 1e-6
    for attr in ("cumulative_cost", "discharge_throughput", "max_energy_error"):
        assert abs(getattr(fast, attr) - getattr(plain, attr)) <= 1e-9, attr


def test_an_idle_step_leaves_the_home_batteries_untouched() -> None:
    s = tiny_scenario(seed=3, n_members=6, n_community_storages=0)
    c = Community(s)
    before = c.member_energy.copy()
    r = c.step(Levers(procurement_kwh=1.0))
    assert np.array_equal(c.member_energy, before)
    assert not r.battery_kwh.any() and r.community_storage_kwh.size == 0
    r = c.step(Levers(storage_setpoints={MEMBER_BATTERIES: 1.0}))  # a schedule: it charges
    assert r.battery_kwh.max() > 0 and c.member_energy.sum() > before.sum()


def test_observation_from_fields_is_the_dataclass_built_normally() -> None:
    c = Community(tiny_scenario(seed=1))
    for lv in (Levers(), Levers(burn_rate_ct_per_kwh=0.2, p2p_enabled=True)):
        c.step(lv)
    obs = c.observe()
    values = {f.name: getattr(obs, f.name) for f in dataclasses.fields(Observation)}
    assert obs.to_dict() == Observation(**values).to_dict()
    values.pop("tank_cop")  # not every field: the dataclass's own __init__ (its default)
    partial = Observation.from_fields(values)
    assert partial.tank_cop.size == 0 and partial.step == obs.step
    with pytest.raises(TypeError):
        Observation.from_fields({**values, "no_such_field": 1})


def test_clipped_keeps_every_lever() -> None:
    lv = Levers(
        burn_rate_ct_per_kwh=0.3,
        procurement_kwh=2.0,
        storage_setpoints={"storage_A": 0.5, MEMBER_BATTERIES: -0.25},
        storage_follow=True,
        p2p_enabled=True,
        home_batteries_pooled=True,
        p2p_price_rule="sdr",
        exchange_target_kwh=-1.5,
        battery_setpoints={"home1": 0.75},
        ev_setpoints={"ev1": 0.5},
        appliance_start={"wm1": True},
        thermal_setpoints={"tank1": -0.5},
    )
    names = (("storage_A", MEMBER_BATTERIES), 1.0, ("ev1",), ("wm1",), ("tank1",), ("home1",))
    got = lv.clipped(*names)
    assert got == lv  # every field already within its limits: nothing changed, nothing lost
    defaults = Levers()
    for f in dataclasses.fields(Levers):  # each field differs from its default above
        assert getattr(lv, f.name) != getattr(defaults, f.name), f.name


def test_clipped_setpoints_keep_the_scenario_order_and_read_nan_as_zero() -> None:
    names = ("c0", "c1", "c2")
    full = Levers(ev_setpoints={"c0": 2.0, "c1": float("nan"), "c2": -0.5})  # every name
    assert full.clipped((), 1.0, names).ev_setpoints == {"c0": 1.0, "c1": 0.0, "c2": -0.5}
    part = Levers(ev_setpoints={"c2": -3.0, "zz": 0.5, "c0": 0.25})  # some, out of order
    got = part.clipped((), 1.0, names).ev_setpoints
    assert got == {"c0": 0.25, "c2": -1.0} and list(got) == ["c0", "c2"]
