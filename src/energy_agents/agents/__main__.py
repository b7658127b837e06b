"""``python -m energy_agents.agents``: same as ``energy-agents agents``, quicker to start."""

import sys

from ..commands import agents
from .cli_entry import main

sys.exit(main("agents", agents))
