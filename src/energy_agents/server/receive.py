"""``POST /receive``: the request's work, and a WSGI fast path in front of Flask.

:func:`check_post` (content type, signature, validation) and :func:`answer` are the
endpoint's work on plain inputs, :func:`receive` the whole endpoint with its store call. The
Flask view and :class:`FastReceive` call ``receive``; the RSGI app (``rsgi.py``) calls the two
parts around its own queued write; all build their answers with ``json_response`` (same JSON,
same error bodies and headers). The fast path exists because
``/receive`` is the hot endpoint: Flask's routing, request and response objects and hooks cost
about as much CPU as the endpoint's own work. It handles only the plain case (``POST
/receive``, a ``Content-Length`` within the limit); anything else (other paths, chunked or
oversized bodies, a mounted prefix) goes to Flask unchanged, so those answers cannot differ.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES

from ..client.ids import RUNNER_NAME
from .auth import check_poster
from .context import ServerContext
from .json_response import encode, log, refusal
from .store import NewMessage, Refusal, Store, StoredMessage
from .store.db import Tx
from .validation import ApiError, check_json_content_type, parse_json, parse_receive

PATH = "/receive"


def receive(
    c: ServerContext, headers: Mapping[str, str], method: str, path: str, body: bytes
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """Check, validate and store a post; the answer's JSON and extra headers. A refusal
    raises :class:`ApiError` (nothing stored); a database failure ``StoreError``."""
    post = check_post(c, headers, method, path, body)
    return answer(c.store.add_messages(post.messages, signed=post.signed, nonce=post.nonce), post)


@dataclass(frozen=True)
class Post:
    """A post that passed every check, ready to store."""

    messages: list[NewMessage]
    batch: bool
    signed: bool
    nonce: tuple[str, str, float] | None

    def write(self, store: Store) -> Callable[[Tx], list[StoredMessage] | Refusal]:
        return store.messages_write(self.messages, signed=self.signed, nonce=self.nonce)


def check_post(
    c: ServerContext, headers: Mapping[str, str], method: str, path: str, body: bytes
) -> Post:
    """Content type, signature and fields of a post; a refusal raises :class:`ApiError`."""
    check_json_content_type(headers.get("Content-Type"))
    poster = check_poster(c, headers, method, path, body)
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
    return Post(messages, batch, poster.signed, poster.nonce)


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
        return data, {"X-Duplicate": "true"} if m.duplicate else None
    return {
        "status": "success",
        "message": "Messages received",
        "count": len(result),
        "signed": post.signed,
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


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class FastReceive:
    """WSGI middleware: ``POST /receive`` without Flask's dispatch, everything else to Flask."""

    def __init__(self, flask_wsgi: WSGIApp, context: ServerContext) -> None:
        self.flask_wsgi = flask_wsgi
        self.ctx = context

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("SCRIPT_NAME")
            or "HTTP_TRANSFER_ENCODING" in environ
            or not length.isdigit()
            or int(length) > self.ctx.config.max_content_length  # Flask answers 413
        ):
            return self.flask_wsgi(environ, start_response)
        t0 = time.perf_counter()
        body = environ["wsgi.input"].read(int(length))
        if len(body) != int(length):  # a client that went away: Flask answers as always
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask_wsgi(environ, start_response)
        outcome: Outcome
        try:
            outcome = receive(self.ctx, EnvironHeaders(environ), "POST", PATH, body)
        except Exception as exc:
            outcome = exc
        status, out, header_list = respond(self.ctx, outcome, t0)
        start_response(
            f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
            [*header_list, ("Content-Length", str(len(out)))],
        )
        return [out]
