"""sim.sums: the step's small-array sums equal numpy's to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from energy_agents.sim.sums import largest_abs, sum_of


@pytest.mark.parametrize("n", range(0, 20))
def test_sum_of_is_numpys_sum_to_the_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(2000):
        x = rng.normal(0, 1, n) * rng.choice([1.0, 1e3, 1e-3, 1e9], n)
        assert sum_of(x) == float(np.add.reduce(x))
        assert largest_abs(x) == float(np.max(np.abs(x), initial=0.0))


def test_known_values() -> None:
    assert sum_of(np.zeros(0)) == 0.0 and largest_abs(np.zeros(0)) == 0.0
    # Left to right: (1e16 + 1) + 1 loses both ones, as numpy does below 8 entries.
    assert sum_of(np.array([1e16, 1.0, 1.0])) == 1e16
    assert largest_abs(np.array([-3.0, 2.0])) == 3.0
    assert sum_of(np.arange(10.0)[::2]) == 20.0  # a strided view
