"""``GET /aggregate`` (decide over the current window) and ``GET /decisions`` (history)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from ...coordination import STRATEGIES
from ..aggregate import aggregate
from ..auth import require_read_token
from ..config import DEFAULT_PAGE, MAX_PAGE
from ..context import ctx
from ..json_response import json_response
from ..validation import MAX_STEP, ApiError, cursor_param, int_param
from .messages import next_page_headers

bp = Blueprint("decisions", __name__)


def strategy_param(default: str | None) -> str | None:
    name = request.args.get("strategy")
    if name is None or name == "":
        return default
    if name not in STRATEGIES:
        raise ApiError(
            400,
            "strategy",
            f"unknown strategy {name[:64]!r}; known: {', '.join(sorted(STRATEGIES))}",
        )
    return name


@bp.get("/aggregate")
def aggregate_view() -> Response:
    require_read_token()
    c = ctx()
    name = strategy_param(c.config.default_strategy)
    step = int_param(request.args, "step", hi=MAX_STEP)
    assert name is not None
    out = aggregate(
        c.store,
        name,
        step,
        window_s=c.config.aggregate_window_s,
        observations=c.observations,
    )
    return json_response(out)


@bp.get("/decisions")
def decisions() -> Response:
    require_read_token()
    name = strategy_param(None)
    limit = int_param(request.args, "limit", lo=1, hi=MAX_PAGE, default=DEFAULT_PAGE)
    cursor = cursor_param(request.args)
    assert limit is not None
    items, nxt = ctx().store.list_decisions(strategy=name, limit=limit, cursor=cursor)
    return json_response(items, headers=next_page_headers(nxt))
