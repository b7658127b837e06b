"""The LPs on HiGHS: the perfect-foresight bound and executable plan (``lp``), and the
rolling-horizon planner (``rolling``). They know no strategy or ``Decision``: the ``optimal``
and ``mpc`` strategies in :mod:`energy_agents.coordination` use them.

Pure: numpy and highspy only, no I/O. docs/optimize.md has the formulation and measurements.
"""

from .lp import LPError, LPResult, executable_plan, lp_lower_bound

__all__ = ["LPError", "LPResult", "executable_plan", "lp_lower_bound"]
