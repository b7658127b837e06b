"""JSON answers: one serialization and one set of error answers, shared by the Flask app and
the ``POST /receive`` fast paths (``receive.py``, ``rsgi.py``), so all answer byte for byte
alike."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response

from .store import StoreError
from .validation import ApiError

log = logging.getLogger("energy_agents.server")


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status=status, headers=headers, mimetype="application/json")


def error_answer(exc: Exception, method: str, path: str) -> tuple[int, dict, dict[str, str]]:
    """Status, JSON body and extra headers answering a refused (:class:`ApiError`) or failed
    request (:class:`StoreError`: 503, retry; anything else is a bug: 500, logged)."""
    if isinstance(exc, ApiError):
        headers = {"WWW-Authenticate": 'Bearer realm="energy-agents"'} if exc.status == 401 else {}
        return exc.status, exc.to_dict(), headers
    if isinstance(exc, StoreError):
        log.error("store: %s", exc)
        body = {
            "error": "service unavailable",
            "field": None,
            "reason": "the database is unavailable",
        }
        return 503, body, {"Retry-After": "1"}
    log.exception("unexpected error on %s %s", method, path, exc_info=exc)
    return (
        500,
        {"error": "internal server error", "field": None, "reason": exc.__class__.__name__},
        {},
    )
