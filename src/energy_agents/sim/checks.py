"""The model's input checks: one error type that names the field, one array check."""

from __future__ import annotations

import numpy as np


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; the message names the file, column or field."""


def as_array(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a C-contiguous float64 array of ``shape``, every value finite."""
    arr = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    if arr.shape != shape:
        raise ScenarioError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
        raise ScenarioError(f"{name}: value at flat index {bad} is NaN or infinite")
    return arr


def as_flags(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a C-contiguous boolean array of ``shape``: a number > 0 is true (numbers
    are checked as :func:`as_array` checks them)."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        return np.ascontiguousarray(as_array(name, arr, shape) > 0)
    if arr.shape != shape:
        raise ScenarioError(f"{name}: expected shape {shape}, got {arr.shape}")
    return np.ascontiguousarray(arr)
