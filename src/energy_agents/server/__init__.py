"""The AI Manager server: ``create_app(config)`` (Flask app factory), served by granian
(``energy-agents serve``). See docs/server.md and docs/api.md.

Importing this package imports no Flask (the CLI reads ``server.core.config`` to build its
parser). Inside, arrows run one way (pyproject's import-linter contracts): ``serve`` (the RSGI
app) -> ``web`` (Flask: app, guards, views, dashboard, OpenAPI) -> ``core`` (what every request
path shares; no Flask) -> ``store`` (the database). See docs/server.md's "Layout".
"""

from __future__ import annotations

from typing import Any


def create_app(config: Any = None) -> Any:
    from .web.app import create_app as _create_app

    return _create_app(config)


def __getattr__(name: str) -> Any:
    if name == "ServerConfig":
        from .core.config import ServerConfig

        return ServerConfig
    raise AttributeError(name)


__all__ = ["ServerConfig", "create_app"]
