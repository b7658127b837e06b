"""What the Flask views share: the current app's :class:`~..core.context.ServerContext`, the
checks of ``core.auth`` on Flask's current request, and the JSON answer as a Flask response.
The checks themselves take explicit headers and live in ``core`` (no Flask there)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from ..core.auth import Poster, check_poster, check_read_token, signed_path
from ..core.context import EXTENSION, ServerContext
from ..core.json_response import encode


def ctx() -> ServerContext:
    """The context of the app serving the current request."""
    return current_app.extensions[EXTENSION]


def require_read_token() -> None:
    """Reads need ``Authorization: Bearer <read token>`` when the server has one."""
    check_read_token(ctx(), request.headers)


def request_query() -> str:
    """Flask's current request's raw query string (as sent; PEP 3333's latin-1)."""
    return request.query_string.decode("latin-1")


def verify_poster(body: bytes, *, runner: bool = False) -> Poster:
    """:func:`~..core.auth.check_poster` for Flask's current request."""
    path = signed_path(request.script_root + request.path, request_query())
    return check_poster(ctx(), request.headers, request.method, path, body, runner=runner)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(data), status=status, headers=headers, mimetype="application/json")
