"""A fast JSON answer (``json.dumps`` once, no content negotiation)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Response(body, status=status, headers=headers, mimetype="application/json")
