"""Small random communities for tests, property checks and benchmarks (seeded, no files)."""

from __future__ import annotations

import numpy as np

from ..sim.params import Prices, Scenario, StorageBank


def tiny_scenario(
    seed: int = 0,
    n_members: int = 4,
    n_steps: int = 48,
    n_community_storages: int = 2,
    flexible_share: float = 0.2,
    dt_h: float = 1.0,
) -> Scenario:
    """A random but physically plausible community: daily load and PV shapes with noise,
    home batteries on half the members, a two-level time-of-use day-ahead price."""
    rng = np.random.default_rng(seed)
    spd = int(round(24 / dt_h))
    hour = (np.arange(n_steps) % spd) * dt_h
    day_shape = (
        0.6 + 0.4 * np.sin(np.pi * (hour - 6) / 12) ** 2 + 0.5 * ((hour >= 17) & (hour < 22))
    )
    sun = np.clip(np.sin(np.pi * (hour - 6) / 12), 0.0, None)
    load = day_shape[:, None] * rng.uniform(0.3, 1.2, n_members) * dt_h
    load = load * rng.uniform(0.7, 1.3, (n_steps, n_members))
    pv = (
        sun[:, None] * rng.uniform(0.0, 3.0, n_members) * dt_h * rng.uniform(0.3, 1.0, (n_steps, 1))
    )
    da = np.where((hour >= 17) & (hour < 22), 0.40, np.where((hour >= 7) & (hour < 17), 0.30, 0.20))
    prices = Prices(
        day_ahead=da,
        imbalance_buy=da * 1.3,
        imbalance_sell=da * 0.7,
        feed_in=np.full(n_steps, 0.08),
    )
    has = rng.random(n_members) < 0.5
    members = StorageBank.uniform(
        tuple(f"m{i}" for i in range(n_members)),
        np.where(has, rng.uniform(3, 10, n_members), 0.0),
        np.where(has, rng.uniform(2, 5, n_members), 0.0),
        efficiency=0.95,
    )
    names = tuple(f"storage_{chr(65 + k)}" for k in range(n_community_storages))
    community = StorageBank.uniform(
        names, rng.uniform(10, 30, n_community_storages), 5.0, efficiency=0.92
    )
    return Scenario(
        name=f"tiny-{seed}",
        start="2024-06-01T00:00:00",
        dt_h=dt_h,
        member_names=tuple(f"member_{i:03d}" for i in range(n_members)),
        load_kwh=load,
        pv_kwh=pv,
        prices=prices,
        member_batteries=members,
        community_storages=community,
        flexible_share=np.full(n_members, flexible_share),
    )
