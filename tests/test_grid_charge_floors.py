"""The storage optimizer's charge-only floors (``grid_charge_floors``): under an energy-only
objective the pools charge the plan's grid share plus the surplus that really comes, never a
forecast error from the grid."""

from types import SimpleNamespace

import numpy as np
import pytest

from energy_agents.advisors.storage_optimizer import grid_charge_floors
from energy_agents.optimize.ev_lp import ev_key
from energy_agents.optimize.planning import HorizonPlan
from energy_agents.optimize.storages import LPStorage, Track
from energy_agents.sim import storage
from energy_agents.sim.params import MEMBER_BATTERIES, StorageBank


def _pool(key: str, max_flow: float) -> LPStorage:
    return LPStorage(key, max_flow, (Track(0.95, 0.95, 1.0, 0.0, 10.0, 5.0),), max_flow)


def _plan(charge: list[float], discharge: list[float]) -> HorizonPlan:
    c = np.array(charge, dtype=float)[:, None] * np.ones((1, 3))
    d = np.array(discharge, dtype=float)[:, None] * np.ones((1, 3))
    return HorizonPlan(c, d, np.zeros(3), np.zeros(3), 0.0)


OBS = SimpleNamespace(storage_names=("cs_1", "cs_2", MEMBER_BATTERIES))


def test_grid_share_of_the_planned_charge_known_values():
    storages = [_pool(MEMBER_BATTERIES, 6.0)]
    # 5 kWh planned into the batteries, 2 kWh of it from a forecast surplus: 3 from the grid.
    floors, target = grid_charge_floors(OBS, storages, _plan([5.0], [0.0]), net0=-2.0)
    assert target == pytest.approx(3.0)
    assert floors == {MEMBER_BATTERIES: pytest.approx(0.5)}
    # An EV planned to charge 1 kWh takes 1 of the surplus first: 4 from the grid.
    storages = [_pool(ev_key("c1"), 7.0), _pool(MEMBER_BATTERIES, 6.0)]
    floors, target = grid_charge_floors(OBS, storages, _plan([1.0, 5.0], [0.0, 0.0]), -2.0)
    assert target == pytest.approx(4.0)
    assert floors[MEMBER_BATTERIES] == pytest.approx(4.0 / 6.0)
    # All of the charge from the surplus: no grid share, the floors are 0.
    floors, target = grid_charge_floors(
        OBS, [_pool(MEMBER_BATTERIES, 6.0)], _plan([2.0], [0.0]), -3
    )
    assert target == 0.0 and floors == {MEMBER_BATTERIES: 0.0}


def test_home_batteries_first_then_the_community_storages():
    storages = [_pool("community", 4.0), _pool(MEMBER_BATTERIES, 2.0)]
    floors, target = grid_charge_floors(OBS, storages, _plan([3.0, 2.0], [0.0, 0.0]), net0=1.0)
    assert target == pytest.approx(5.0)
    assert floors[MEMBER_BATTERIES] == pytest.approx(1.0)  # full power
    assert floors["cs_1"] == floors["cs_2"] == pytest.approx(3.0 / 4.0)


def test_no_floors_when_a_pool_discharges_now():
    storages = [_pool("community", 4.0), _pool(MEMBER_BATTERIES, 2.0)]
    assert grid_charge_floors(OBS, storages, _plan([3.0, 0.0], [0.0, 1.0]), net0=1.0) is None


@pytest.mark.parametrize("net", [-4.0, -1.0, 0.0, 0.5, 2.0, 7.0])
def test_the_simulators_pool_charges_the_grid_share_plus_the_real_surplus(net):
    """The claim behind the floors, on the simulator's own pooled dispatch: with floor and
    target G the pool charges G + max(-net, 0) (within its limits), whatever the real net."""
    bank = StorageBank(
        ("a", "b"),
        np.array([20.0, 20.0]),
        np.array([5.0, 5.0]),
        np.full(2, 0.95),
        np.full(2, 0.95),
        np.zeros(2),
        np.ones(2),
        np.zeros(2),
    )
    energy = np.array([4.0, 6.0])
    grid = 3.0
    share = grid / 10.0
    flow = storage.split_pooled(bank, energy, 1.0, np.full(2, share), True, net - grid)
    assert flow.sum() == pytest.approx(min(grid + max(-net, 0.0), 10.0))
    assert np.all(flow >= share * 5.0 - 1e-12)  # every battery at least its floor
    # Steering to the plan's import instead (floor 0, target = the import the plan expected
    # with a forecast net of 2) grid-charges the whole error when the real net is lower.
    expected_import = 2.0 + grid
    old = storage.split_pooled(bank, energy, 1.0, np.zeros(2), True, net - expected_import)
    assert old.sum() == pytest.approx(min(max(expected_import - net, 0.0), 10.0))
