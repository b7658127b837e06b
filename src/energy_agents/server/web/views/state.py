"""``POST/GET /state`` (the runner publishes, agents poll), ``GET /series``, ``GET /kpis``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from ....sim.observation import Observation
from ...core.validation import (
    MAX_STEP,
    ApiError,
    _check_json_tree,
    check_json_content_type,
    community_param,
    int_param,
    parse_json,
    validate_observation,
)
from ...store import Refusal
from ..guards import ctx, json_response, require_read_token, verify_poster

bp = Blueprint("state", __name__)

SERIES_DEFAULT = 1000
SERIES_MAX = 10_000


def parse_state(data: object) -> tuple[int, dict, dict | None, dict | None]:
    """Validate ``{"observation", "record"?, "kpis"?}``: every field of the observation
    (``validate_observation``: types, shapes, ranges), then ``Observation.from_dict``."""
    if not isinstance(data, dict):
        raise ApiError(400, "body", "must be a JSON object")
    obs = data.get("observation")
    if not isinstance(obs, dict):
        raise ApiError(400, "observation", "missing or not an object")
    for key in ("record", "kpis"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ApiError(400, key, "must be an object")
    for key in ("observation", "record", "kpis"):
        if data.get(key) is not None:
            _check_json_tree(key, data[key])
    step = obs.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise ApiError(400, "observation.step", "must be an integer >= 0")
    validate_observation(obs)
    try:
        Observation.from_dict(obs)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise ApiError(
            400, field if field.startswith("observation") else "observation", reason or str(exc)
        ) from None
    except Exception as exc:  # wrong types deep inside (TypeError, KeyError, ...)
        raise ApiError(
            400, "observation", f"not a valid observation ({exc.__class__.__name__})"
        ) from None
    record = data.get("record")
    if record is not None:
        rs = record.get("step")
        if isinstance(rs, bool) or not isinstance(rs, int) or not 0 <= rs <= MAX_STEP:
            raise ApiError(400, "record.step", "must be an integer >= 0")
    return step, obs, record, data.get("kpis")


@bp.post("/state")
def publish() -> Response:
    c = ctx()
    check_json_content_type(request.headers.get("Content-Type"))
    body = request.get_data(cache=False)
    poster = verify_poster(body, runner=True)
    community = community_param(request.args, c.config.communities)
    step, obs, record, kpis = parse_state(parse_json(body))
    result = c.store.states.publish(
        step, obs, record, kpis, nonce=poster.nonce, community=community
    )
    if isinstance(result, Refusal):
        raise ApiError(result.status, result.field, result.reason)
    return json_response(
        {"status": "success", "step": step, "seq": result, "signed": poster.signed}
    )


@bp.get("/state")
def latest() -> Response:
    require_read_token()
    c = ctx()
    community = community_param(request.args, c.config.communities)
    state = c.store.states.latest(community)
    if state is None:
        raise ApiError(
            404, None, f"no state published yet in community {community!r} (is the runner started?)"
        )
    # The observation is stored as JSON text: splice it in instead of parsing it again.
    head = json.dumps(
        {"step": state["step"], "seq": state["seq"], "published_at": state["published_at"]},
        separators=(",", ":"),
    )
    body = head[:-1] + ',"observation":' + state["observation"] + "}"
    return Response(body, mimetype="application/json")


@bp.get("/series")
def series() -> Response:
    require_read_token()
    since = int_param(request.args, "since_step", hi=MAX_STEP, default=0)
    limit = int_param(request.args, "limit", lo=1, hi=SERIES_MAX, default=SERIES_DEFAULT)
    assert since is not None and limit is not None
    c = ctx()
    community = community_param(request.args, c.config.communities)
    items, nxt = c.store.states.series(since, limit, community)
    headers = None
    if nxt is not None:  # the cursor of /series is the next since_step
        query = {"since_step": str(nxt), "limit": str(limit)}
        if request.args.get("community"):
            query["community"] = community
        url = f"{request.script_root}{request.path}?{urlencode(query)}"
        headers = {"X-Next-Cursor": str(nxt), "Link": f'<{url}>; rel="next"'}
    return json_response(items, headers=headers)


@bp.get("/kpis")
def kpis() -> Response:
    require_read_token()
    c = ctx()
    value: Mapping | None = c.store.states.latest_kpis(
        community_param(request.args, c.config.communities)
    )
    return json_response(value or {})
