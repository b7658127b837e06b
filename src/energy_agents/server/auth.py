"""Who may do what: bearer tokens for reads and the runner, agent signatures for posts.

:func:`check_poster` takes the request's parts explicitly, so the Flask views and the
``POST /receive`` fast paths (``receive.py``, ``rsgi.py``) run the very same checks."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from flask import request

from ..client.ids import RUNNER_NAME
from ..client.signing import HEADER_ADDRESS
from .context import ServerContext, ctx
from .signatures import SignatureError, has_signature, verify_request
from .validation import ApiError


@dataclass(frozen=True)
class Poster:
    """Who posted: the signing agent (name, address, nonce) or nobody (unsigned)."""

    signed: bool
    name: str | None = None
    address: str | None = None
    nonce: tuple[str, str, float] | None = None


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def require_read_token() -> None:
    """Reads need ``Authorization: Bearer <read token>`` when the server has one."""
    token = ctx().config.read_token
    if token is None:
        return
    given = _bearer(request.headers)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "Authorization", "this server wants a bearer token for reads")


def verify_poster(body: bytes, *, runner: bool = False) -> Poster:
    """:func:`check_poster` for Flask's current request."""
    path = request.script_root + request.path
    return check_poster(ctx(), request.headers, request.method, path, body, runner=runner)


def check_poster(
    c: ServerContext,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    runner: bool = False,
) -> Poster:
    """Check a post's signature (or the runner's bearer token for ``POST /state``).

    Signed: the signature, the time window and the address (allowed, and for ``/state`` the
    runner's); the nonce is checked and stored with the write. Unsigned: only when the server
    allows unsigned posts."""
    if not has_signature(headers):
        if runner and c.config.runner_token is not None:
            given = _bearer(headers)
            if given is not None and hmac.compare_digest(
                given.encode(), c.config.runner_token.encode()
            ):
                return Poster(signed=False, name=RUNNER_NAME)
        if c.config.allow_unsigned:
            return Poster(signed=False)
        what = "the runner's signature or bearer token" if runner else "an agent signature"
        raise ApiError(
            401,
            "X-Agent-Signature",
            f"missing: this server wants {what} (unsigned posts are refused unless the server "
            "runs with --allow-unsigned)",
        )
    address = headers.get(HEADER_ADDRESS)
    if address and c.agents.name_of(address) is None:  # before any cryptography
        raise ApiError(403, HEADER_ADDRESS, "not an allowed agent address")
    try:
        verified = verify_request(
            headers,
            method,
            path,
            body,
            window_s=c.config.signature_window_s,
        )
    except SignatureError as exc:
        raise ApiError(exc.status, exc.field, exc.reason) from None
    name = c.agents.name_of(verified.address)
    if name is None:
        raise ApiError(403, "X-Agent-Address", "not an allowed agent address")
    if runner and name != RUNNER_NAME:
        raise ApiError(
            403, "X-Agent-Address", f"only the {RUNNER_NAME!r} identity may publish state"
        )
    return Poster(
        signed=True,
        name=name,
        address=verified.address,
        nonce=(verified.address, verified.nonce, verified.timestamp),
    )
