"""The AI Manager server: ``create_app(config)`` (Flask app factory), served by granian
(``energy-agents serve``). See docs/server.md and docs/api.md.

Importing this package imports no Flask (the CLI reads ``server.config`` to build its parser).
"""

from __future__ import annotations

from typing import Any


def create_app(config: Any = None) -> Any:
    from .app import create_app as _create_app

    return _create_app(config)


def __getattr__(name: str) -> Any:
    if name == "ServerConfig":
        from .config import ServerConfig

        return ServerConfig
    raise AttributeError(name)


__all__ = ["ServerConfig", "create_app"]
