"""The seed's server command: ``python ai_manager_server.py`` starts the AI Manager API server
on http://localhost:9000 (bound to 127.0.0.1).

Same as ``energy-agents serve`` (granian, several workers; all its options work here too) with
the defaults the seed's other command expects:

- the store is the SQLite file ``.energy-agents/server.sqlite`` (created on first start;
  ``--database PATH-OR-postgresql://URL`` for another);
- the allowed agents are read from ``.energy-agents/agents.json``, which ``python
  ai_manager.py`` writes when it starts the agents (and the runner): the server re-reads it,
  so either command may start first;
- posts must be signed by those agents. The seed's plain-JSON posts (``curl -d
  '{"agent_name": ..., "message": ..., "timestamp": ...}'``) are accepted only with
  ``--allow-unsigned``; the answers then say ``"signed": false``.
"""

import os
import sys

from energy_agents.cli import main

DATA_DIR = ".energy-agents"


def defaults() -> list[str]:
    args = ["--host", "127.0.0.1", "--port", "9000"]
    if not os.environ.get("DATABASE_URL"):  # DATABASE_URL names another store
        args += ["--database", f"{DATA_DIR}/server.sqlite"]
    if not os.environ.get("ENERGY_AGENTS_AGENTS_FILE"):
        args += ["--agents-file", f"{DATA_DIR}/agents.json"]
    return args


if __name__ == "__main__":
    # Later options win: anything given on the command line overrides these defaults.
    sys.exit(main(["serve", *defaults(), *sys.argv[1:]]))
