"""The seed's launcher command: ``python ai_manager.py`` starts the five agents concurrently
(one process each) and sends their recommendations to ``http://localhost:9000/receive``.

Same as ``energy-agents agents --with-runner auto`` (all its options work here too, e.g.
``--interval 1``): when no simulation runner publishes ``/state`` yet, it starts one, so the
seed's two commands (``python ai_manager_server.py``, then this) make a working live system.
"""

import sys

from energy_agents.agents.cli_entry import main
from energy_agents.commands import agents

if __name__ == "__main__":
    sys.exit(main("agents", agents, ["--with-runner", "auto", *sys.argv[1:]]))
