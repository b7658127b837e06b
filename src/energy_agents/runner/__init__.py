"""The live simulation runner (``energy-agents run-sim``): see :mod:`.live`."""
