"""The seed's launcher command: ``python ai_manager.py`` starts the five agents concurrently
(one process each) and sends their recommendations to ``http://localhost:9000/receive``.

Same as ``energy-agents agents --with-runner auto`` (all its options work here too, e.g.
``--interval 1``): when no simulation runner publishes ``/state`` yet, it starts one, so the
seed's two commands (``python ai_manager_server.py``, then this) make a working live system.
"""

import sys

from energy_agents.cli import main

if __name__ == "__main__":
    sys.exit(main(["agents", "--with-runner", "auto", *sys.argv[1:]]))
