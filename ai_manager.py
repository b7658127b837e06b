"""The seed's launcher command: ``python ai_manager.py`` starts the five agents concurrently
(one process each) and sends their recommendations to ``http://localhost:9000/receive``.

Same as ``energy-agents agents`` (all its options work here too, e.g. ``--interval 1``).
"""

import sys

from energy_agents.cli import main

if __name__ == "__main__":
    sys.exit(main(["agents", *sys.argv[1:]]))
