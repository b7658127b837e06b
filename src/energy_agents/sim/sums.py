"""Sums of the step's small arrays, the same floats as numpy's at a fraction of the cost.

``np.add.reduce`` costs about 1 us a call whatever the size below a few hundred entries (the
ufunc machinery), and a step of five homes makes about seven of them. numpy adds fewer than 8
entries one after the other, left to right (its pairwise summation starts at 8), and so does
:func:`sum_of`'s loop over Python floats, so the results are equal to the bit
(``tests/test_sim_sums.py``); from 8 entries up :func:`sum_of` is numpy's own sum.
"""

from __future__ import annotations

import numpy as np

_reduce = np.add.reduce
_max_reduce = np.maximum.reduce
_PAIRWISE_FROM = 8  # numpy's pairwise summation blocks start at 8 entries


def sum_of(x: np.ndarray) -> float:
    """``float(np.add.reduce(x))`` of a 1-d array, to the bit."""
    if x.size >= _PAIRWISE_FROM:
        return float(_reduce(x))
    s = 0.0
    for v in x.tolist():
        s += v
    return s


def largest_abs(x: np.ndarray) -> float:
    """The largest ``|x|`` of a 1-d array, 0 if it is empty."""
    if x.size >= _PAIRWISE_FROM:
        return float(_max_reduce(np.abs(x), initial=0.0))
    return max(map(abs, x.tolist()), default=0.0)
