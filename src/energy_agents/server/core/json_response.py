"""JSON answers: one serialization and one set of error answers (status, bytes, headers),
shared by the Flask app (whose ``json_response()`` in ``web/guards.py`` wraps :func:`encode`)
and the ``POST /receive`` fast paths (``receive.py``, ``serve/rsgi.py``), so all answer byte
for byte alike."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..store import StoreError
from .validation import ApiError

log = logging.getLogger("energy_agents.server")


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode(data: Any) -> bytes:
    """The JSON of ``data`` as UTF-8 bytes, always encodable: a string that UTF-8 cannot carry
    (a lone surrogate) is sent as its JSON escape (``ensure_ascii``) instead of failing while
    the answer is written."""
    text = dumps(data)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


_LAST_RESORT = (
    500,
    b'{"error":"internal server error","field":null,"reason":"the answer could not be built"}',
    {},
)


def refusal(exc: Exception, method: str, path: str) -> tuple[int, bytes, dict[str, str]]:
    """The one way every refusal and failure is answered (Flask's error handlers and both fast
    paths): status, encoded body and headers. It cannot raise: anything going wrong while
    building the answer gives a fixed 500."""
    try:
        status, body, headers = error_answer(exc, method, path)
        return status, encode(body), headers
    except Exception:  # pragma: no cover - a bug in the error path itself
        log.exception("cannot build the error answer on %r %r", method, path)
        return _LAST_RESORT


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
