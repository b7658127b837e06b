"""``POST /decisions`` (the runner decides a step), ``GET /aggregate`` (a pure read of the
decision) and ``GET /decisions`` (history)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ....coordination import STRATEGIES
from ...core.aggregate import decide_step, read_aggregate
from ...core.config import DEFAULT_PAGE, MAX_PAGE
from ...core.validation import (
    MAX_STEP,
    ApiError,
    check_json_content_type,
    community_param,
    cursor_param,
    int_param,
    parse_json,
)
from ...store import Refusal
from ..guards import ctx, json_response, require_read_token, verify_poster
from .messages import next_page_headers

bp = Blueprint("decisions", __name__)


def check_strategy(name: Any, default: str | None, field: str = "strategy") -> str | None:
    if name is None or name == "":
        return default
    if not isinstance(name, str) or name not in STRATEGIES:
        shown = name[:64] if isinstance(name, str) else name
        raise ApiError(
            400, field, f"unknown strategy {shown!r}; known: {', '.join(sorted(STRATEGIES))}"
        )
    return name


def strategy_param(default: str | None) -> str | None:
    return check_strategy(request.args.get("strategy"), default)


def parse_decide(data: Any, default: str) -> tuple[int, str]:
    """``{"step": N, "strategy": S?}``."""
    if not isinstance(data, dict):
        raise ApiError(400, "body", 'must be a JSON object {"step", "strategy"}')
    for key in data:
        if key not in ("step", "strategy"):
            raise ApiError(400, str(key), "unknown field (expected step, strategy)")
    step = data.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise ApiError(400, "step", f"must be an integer between 0 and {MAX_STEP}")
    name = check_strategy(data.get("strategy"), default)
    assert name is not None
    return step, name


@bp.post("/decisions")
def decide() -> Response:
    """The runner asks for the decision of a published step: decided once, stored, answered
    the same to a repeat. Signed by the runner (or its bearer token)."""
    c = ctx()
    check_json_content_type(request.headers.get("Content-Type"))
    body = request.get_data(cache=False)
    poster = verify_poster(body, runner=True)
    step, name = parse_decide(parse_json(body), c.config.default_strategy)
    community = community_param(request.args, c.config.communities)  # checked before any write
    if poster.nonce is not None:
        refused = c.store.use_nonce(poster.nonce)
        if isinstance(refused, Refusal):
            raise ApiError(refused.status, refused.field, refused.reason)
    out = decide_step(
        c.store,
        name,
        step,
        window_s=c.config.aggregate_window_s,
        observations=c.observations,
        community=community,
    )
    return json_response(out)


@bp.get("/aggregate")
def aggregate_view() -> Response:
    """A pure read: the stored decision of the step, or one computed and not stored."""
    require_read_token()
    c = ctx()
    name = strategy_param(c.config.default_strategy)
    step = int_param(request.args, "step", hi=MAX_STEP)
    assert name is not None
    out = read_aggregate(
        c.store,
        name,
        step,
        window_s=c.config.aggregate_window_s,
        observations=c.observations,
        community=community_param(request.args, c.config.communities),
    )
    return json_response(out)


@bp.get("/decisions")
def decisions() -> Response:
    require_read_token()
    name = strategy_param(None)
    limit = int_param(request.args, "limit", lo=1, hi=MAX_PAGE, default=DEFAULT_PAGE)
    cursor = cursor_param(request.args)
    assert limit is not None
    c = ctx()
    community = community_param(request.args, c.config.communities)
    items, nxt = c.store.decisions.list(
        strategy=name, limit=limit, cursor=cursor, community=community
    )
    return json_response(items, headers=next_page_headers(nxt))
