"""``GET /``, ``POST /receive``, ``GET /messages``."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, request

from ...core.config import DEFAULT_PAGE, MAX_PAGE
from ...core.receive import receive as receive_post
from ...core.validation import (
    MAX_STEP,
    ApiError,
    check_json_content_type,
    community_param,
    cursor_param,
    int_param,
    since_param,
    text_param,
)
from ..guards import ctx, json_response, request_query, require_read_token

bp = Blueprint("messages", __name__)

WELCOME = "Welcome to the AI Manager API server. Use POST /receive to send messages."


@bp.get("/")
def index() -> Response:
    return Response(WELCOME, mimetype="text/plain")


@bp.post("/receive")
def receive() -> Response:
    """The Flask route of ``POST /receive``: every post under a WSGI server, and under
    ``serve``'s RSGI app what its fast path leaves (a chunked or oversized body)."""
    c = ctx()
    check_json_content_type(request.headers.get("Content-Type"))  # before reading the body
    body = request.get_data(cache=False)
    path = request.script_root + request.path
    data, headers = receive_post(c, request.headers, request.method, path, body, request_query())
    return json_response(data, headers=headers)


@bp.get("/messages")
def messages() -> Response:
    require_read_token()
    args = request.args
    agent = text_param(args, "agent")
    step = int_param(args, "step", hi=MAX_STEP)
    since = since_param(args)
    limit = int_param(args, "limit", lo=1, hi=MAX_PAGE, default=DEFAULT_PAGE)
    cursor = cursor_param(args)
    community = community_param(args, ctx().config.communities)
    order = args.get("order", "asc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "order", "must be asc or desc")
    assert limit is not None
    items, nxt = ctx().store.messages.list(
        community=community,
        agent=agent,
        step=step,
        since=since,
        limit=limit,
        cursor=cursor,
        descending=order == "desc",
    )
    return json_response(items, headers=next_page_headers(nxt))


def next_page_headers(nxt: int | None) -> dict[str, str] | None:
    """``X-Next-Cursor`` and ``Link: <...>; rel="next"`` when there is a next page."""
    if nxt is None:
        return None
    query = {k: v for k, v in request.args.items() if k != "cursor"}
    query["cursor"] = str(nxt)
    url = f"{request.script_root}{request.path}?{urlencode(query)}"
    return {"X-Next-Cursor": str(nxt), "Link": f'<{url}>; rel="next"'}
