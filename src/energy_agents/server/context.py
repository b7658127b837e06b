"""What every request shares, in one place below the views, auth and receive paths, so that
imports run one way: app -> views -> auth/receive -> context -> store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from .aggregate import ObservationCache
from .config import AllowedAgents, ServerConfig
from .store import Store

EXTENSION = "energy_agents"


@dataclass
class ServerContext:
    """What the views share: configuration, store, allowed agents, metrics."""

    config: ServerConfig
    store: Store
    agents: AllowedAgents
    metrics: Any
    observations: ObservationCache


def ctx() -> ServerContext:
    return current_app.extensions[EXTENSION]
