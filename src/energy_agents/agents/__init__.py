"""The live agents: five uagents processes, each a thin wrapper around its advisor.

Layout of the data directory shared by the launcher, the agents and ``energy-agents up``
(see docs/live.md):

- ``keys/<agent>.seed``: each agent's identity seed, generated on first run (mode 0600)
  unless configuration names one (``ENERGY_AGENTS_SEED_<AGENT>``);
- ``agents.json``: ``{agent_name: address}``, the allowed-agents file the server reads;
- ``outbox/<agent>.sqlite``: recommendations not yet acknowledged by the server;
- ``agents/<agent>/``: the uagents runtime's own storage (its working directory).

This package's ``__init__`` imports nothing heavy: the runner and the CLI use
:mod:`.identity` and :mod:`.client` without importing uagents.
"""
