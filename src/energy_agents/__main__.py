"""``python -m energy_agents COMMAND ...``: the same as ``energy-agents COMMAND ...``, without the
console script (``up`` starts its server, runner and agents this way, so that each child is the
same Python as its parent)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
