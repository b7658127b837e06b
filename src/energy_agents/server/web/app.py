"""The app factory: ``create_app(config)`` builds the Flask app of the AI Manager server.

One blueprint per area (messages, state, decisions, ops); more can be registered on the
returned app (the dashboard mounts its own at ``/dashboard`` and reads the JSON endpoints).
Everything a request needs lives in the database: a worker keeps only caches of immutable
data, so any number of workers and hosts behave as one server.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from ..core.aggregate import ObservationCache
from ..core.config import AllowedAgents, ServerConfig
from ..core.context import EXTENSION, ServerContext
from ..core.json_response import refusal
from ..core.validation import safe_text
from ..store import Store
from .guards import ctx, json_response


def create_app(config: ServerConfig | Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config``: a :class:`ServerConfig`, a mapping of its fields, or None
    (defaults and environment, see :meth:`ServerConfig.from_env`). Migrates the store."""
    if config is None:
        config = ServerConfig.from_env()
    elif isinstance(config, Mapping):
        config = ServerConfig(**config)
    from ..core.metrics import Metrics

    store = Store(
        config.database,
        nonce_ttl_s=2 * config.signature_window_s + 60,
        sqlite_synchronous=config.sqlite_synchronous,
    )
    store.migrate()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    context = ServerContext(
        config=config,
        store=store,
        agents=AllowedAgents(config.agents, config.agents_file),
        metrics=Metrics(config.metrics_dir),
        observations=ObservationCache(),
    )
    app.extensions[EXTENSION] = context
    store.db.on_group = context.metrics.observe_group
    from .views import decisions, messages, ops, state

    for bp in (messages.bp, state.bp, decisions.bp, ops.bp):
        app.register_blueprint(bp)
    _register_dashboard(app)
    _install_hooks(app)
    return app


def _register_dashboard(app: Flask) -> None:
    """The monitoring page at ``/dashboard`` (its own blueprint; it reads the JSON API)."""
    from . import dashboard

    app.register_blueprint(dashboard.bp)


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        t0 = g.get("t0")
        if t0 is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            ctx().metrics.observe(
                rule, request.method, response.status_code, time.perf_counter() - t0
            )
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        field = "body" if status == 413 else None
        reason = {
            404: f"no such endpoint: {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"request body larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes",
        }.get(status, exc.description or exc.name)
        resp = json_response(
            {"error": exc.name.lower(), "field": field, "reason": safe_text(reason)}, status
        )
        valid = getattr(exc, "valid_methods", None)
        if status == 405 and valid:
            resp.headers["Allow"] = ", ".join(valid)
        return resp

    @app.errorhandler(Exception)  # ApiError (4xx), StoreError (503), a bug (500, logged)
    def _error(exc: Exception) -> Response:
        status, body, headers = refusal(exc, request.method, request.path)
        return Response(body, status=status, headers=headers, mimetype="application/json")
