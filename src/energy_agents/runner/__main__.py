"""``python -m energy_agents.runner``: same as ``energy-agents run-sim``, quicker to start."""

import sys

from ..agents.cli_entry import main
from ..commands import run_sim

sys.exit(main("run-sim", run_sim))
