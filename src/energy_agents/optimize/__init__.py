"""Perfect-foresight LP lower bound, the ``optimal`` replay and the ``mpc`` strategy, on HiGHS.

Pure: numpy and highspy only, no I/O. docs/optimize.md has the formulation and measurements.
"""

from .lp import LPError, LPResult, executable_plan, lp_lower_bound

__all__ = ["LPError", "LPResult", "executable_plan", "lp_lower_bound"]
