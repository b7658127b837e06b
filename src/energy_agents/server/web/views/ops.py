"""``GET /health``, ``GET /metrics`` (Prometheus text), ``GET /openapi.json``,
``GET /communities``."""

from __future__ import annotations

from flask import Blueprint, Response

from ...store import StoreError
from ..guards import ctx, json_response, require_read_token
from ..openapi import openapi_document

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health() -> Response:
    c = ctx()
    try:
        c.store.ping()
    except StoreError as exc:
        return json_response({"status": "unavailable", "database": "down", "reason": str(exc)}, 503)
    return json_response({"status": "ok", "database": c.store.dialect})


@bp.get("/metrics")
def metrics() -> Response:
    require_read_token()
    c = ctx()
    gauges = [
        (
            "energy_agents_messages_stored",
            "Messages in the store (from the database: true for every worker and host)",
            float(c.store.messages.stored()),
        )
    ]
    return Response(c.metrics.render(gauges), mimetype="text/plain; version=0.0.4; charset=utf-8")


@bp.get("/communities")
def communities() -> Response:
    """The communities with rows on this server (and, if it serves only some, which)."""
    require_read_token()
    c = ctx()
    return json_response(
        {"communities": c.store.communities(), "served": c.config.communities or None}
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document(ctx().config))
