"""``POST /receive``: the request's work, on plain inputs.

:func:`check_post` (content type, signature, validation) and :func:`answer` are the
endpoint's work, :func:`receive` the whole endpoint with its store call. The Flask view
(``web/views/messages.py``) calls ``receive`` (the WSGI path, for any WSGI server); the RSGI
app (``serve/rsgi.py``, what ``serve`` runs by default) calls the two parts around its own
queued write on the worker's writer thread. Both build their answers with
``json_response.encode`` and ``refusal`` (same JSON, same error bodies and headers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...client.ids import RUNNER_NAME
from ..store import DEFAULT_COMMUNITY, NewMessage, Refusal, Store, StoredMessage
from ..store.db import Tx
from .auth import check_poster, signed_path
from .context import ServerContext
from .json_response import encode, log, refusal
from .validation import (
    ApiError,
    check_json_content_type,
    community_of_query,
    parse_json,
    parse_receive,
)

PATH = "/receive"


def receive(
    c: ServerContext,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    query: str = "",
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """Check, validate and store a post; the answer's JSON and extra headers. A refusal
    raises :class:`ApiError` (nothing stored); a database failure ``StoreError``."""
    post = check_post(c, headers, method, path, body, query)
    stored = c.store.messages.add(
        post.messages, signed=post.signed, nonce=post.nonce, community=post.community
    )
    return answer(stored, post)


@dataclass(frozen=True)
class Post:
    """A post that passed every check, ready to store."""

    messages: list[NewMessage]
    batch: bool
    signed: bool
    nonce: tuple[str, str, float] | None
    community: str

    def write(self, store: Store) -> Callable[[Tx], list[StoredMessage] | Refusal]:
        return store.messages.write(
            self.messages, signed=self.signed, nonce=self.nonce, community=self.community
        )


def check_post(
    c: ServerContext,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    query: str = "",
) -> Post:
    """Content type, signature (over the path and ``query``, the raw query string) and
    fields of a post; a refusal raises :class:`ApiError`."""
    check_json_content_type(headers.get("Content-Type"))
    community = community_of_query(query, c.config.communities)
    poster = check_poster(c, headers, method, signed_path(path, query), body)
    messages, batch = parse_receive(parse_json(body), c.config.max_batch)
    for i, m in enumerate(messages):
        field = f"[{i}].agent_name" if batch else "agent_name"
        if poster.signed and m.agent_name != poster.name:
            raise ApiError(
                403, field, f"{m.agent_name!r} is not the signing agent ({poster.name!r})"
            )
        if m.agent_name == RUNNER_NAME:  # unsigned: the name alone is the claim
            raise ApiError(
                403,
                field,
                "the role 'agent' posts recommendations; 'runner' is the runner's name "
                "(it publishes states and asks for decisions)",
            )
    return Post(messages, batch, poster.signed, poster.nonce, community)


def answer(
    result: list[StoredMessage] | Refusal, post: Post
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The answer to a stored post (or raise the store's refusal, e.g. a replayed nonce)."""
    if isinstance(result, Refusal):
        raise ApiError(result.status, result.field, result.reason)
    if not post.batch:
        m = result[0]
        data = {
            "status": "success",
            "message": "Message received",
            "message_id": m.message_id,
            "step": m.step,
            "signed": m.signed,
        }
        if post.community != DEFAULT_COMMUNITY:
            data["community"] = post.community
        return data, {"X-Duplicate": "true"} if m.duplicate else None
    return {
        "status": "success",
        "message": "Messages received",
        "count": len(result),
        "signed": post.signed,
        **({"community": post.community} if post.community != DEFAULT_COMMUNITY else {}),
        "messages": [{"message_id": m.message_id, "step": m.step} for m in result],
    }, None


Outcome = tuple[dict[str, Any], dict[str, str] | None] | Exception


def respond(
    c: ServerContext, outcome: Outcome, t0: float
) -> tuple[int, bytes, list[tuple[str, str]]]:
    """What is sent for a request's outcome (its answer's JSON and extra headers, or the
    exception that refused it): status, body and headers. Every refusal goes through
    :func:`.json_response.refusal`, which cannot raise, and the request is counted with the
    status actually sent."""
    status, out, headers = 500, b"", None
    if not isinstance(outcome, Exception):
        data, headers = outcome
        try:
            status, out = 200, encode(data)
        except Exception as exc:  # a bug: answered as one
            outcome = exc
    if isinstance(outcome, Exception):  # ApiError, StoreError, a bug: as Flask's handler
        status, out, headers = refusal(outcome, "POST", PATH)
    try:
        c.metrics.observe(PATH, "POST", status, time.perf_counter() - t0)
    except Exception:  # pragma: no cover - a metrics failure must not change the answer
        log.exception("metrics")
    return status, out, [*(headers or {}).items(), ("Content-Type", "application/json")]
