"""What every request shares, in one place below the views, auth and receive paths, so that
imports run one way: web -> receive/auth -> context -> store. The Flask accessor of the
current app's context, ``ctx()``, is in ``web/guards.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import Store
from .aggregate import ObservationCache
from .config import AllowedAgents, ServerConfig

EXTENSION = "energy_agents"
"""The key of the :class:`ServerContext` in the Flask app's ``extensions``."""


@dataclass
class ServerContext:
    """What the views share: configuration, store, allowed agents, metrics."""

    config: ServerConfig
    store: Store
    agents: AllowedAgents
    metrics: Any
    observations: ObservationCache
