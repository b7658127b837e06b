"""Who may do what: bearer tokens for reads and the runner, agent signatures for posts.

:func:`check_poster` takes the request's parts explicitly, so the Flask views and the
``POST /receive`` fast paths (``receive.py``, ``serve/rsgi.py``) run the very same checks.
The wrappers for Flask's current request (``require_read_token``, ``verify_poster``) are in
``web/guards.py``."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from ...client.ids import RUNNER_NAME
from ...client.signing import HEADER_ADDRESS
from .context import ServerContext
from .signatures import SignatureError, has_signature, verify_request
from .validation import ApiError


@dataclass(frozen=True)
class Poster:
    """Who posted: the signing agent (name, address, nonce) or nobody (unsigned)."""

    signed: bool
    name: str | None = None
    address: str | None = None
    nonce: tuple[str, str, float] | None = None


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def check_read_token(c: ServerContext, headers: Mapping[str, str]) -> None:
    """Reads need ``Authorization: Bearer <read token>`` when the server has one."""
    token = c.config.read_token
    if token is None:
        return
    given = bearer(headers)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "Authorization", "this server wants a bearer token for reads")


CROSS_SITE = frozenset({"cross-site", "same-site"})


def cross_site_check(headers: Mapping[str, str]) -> None:
    """Refuse a state-changing request a browser sends on behalf of another origin (a page on
    another site, or on another port of this host: ``same-site``). Browsers mark what they
    send with ``Sec-Fetch-Site`` and, on a POST, ``Origin``; clients that are not browsers send
    neither, so the runner, the agents and curl are unaffected. (The JSON content type that
    every post needs already keeps out plain HTML forms; this also covers browsers and pages
    that could send more.)"""
    site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site in CROSS_SITE:
        raise ApiError(403, "Sec-Fetch-Site", f"{site} request from a browser page: refused")
    origin = headers.get("Origin")
    if origin is not None:
        host = headers.get("Host")
        if host is None or origin.strip().lower() not in (
            f"http://{host.lower()}",
            f"https://{host.lower()}",
        ):
            raise ApiError(403, "Origin", "request from a page of another origin: refused")


def signed_path(path: str, query: str) -> str:
    """What a signature covers of the URL: the path, and the raw query string if there is
    one (so that ``?community=`` cannot be changed under a signature)."""
    return f"{path}?{query}" if query else path


def check_poster(
    c: ServerContext,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    runner: bool = False,
) -> Poster:
    """Check a post's signature (or the runner's bearer token on the runner's endpoints).

    One key, one role: ``runner=True`` (``POST /state``, ``POST /decisions``) takes only the
    runner's identity or ``--runner-token``; ``runner=False`` (``POST /receive``) only an
    agent's. Signed: the signature, the time window and the address; the nonce is checked and
    stored with the write. Unsigned: ``/receive`` only with ``--allow-unsigned``, the runner's
    endpoints only with ``--allow-unsigned-runner`` too."""
    cross_site_check(headers)
    if not has_signature(headers):
        if runner and c.config.runner_token is not None:
            given = bearer(headers)
            if given is not None and hmac.compare_digest(
                given.encode(), c.config.runner_token.encode()
            ):
                return Poster(signed=False, name=RUNNER_NAME)
        if c.config.allow_unsigned and (c.config.allow_unsigned_runner or not runner):
            return Poster(signed=False)
        if runner:
            flag = "--allow-unsigned-runner"
            what = "the runner's signature or bearer token (--runner-token)"
        else:
            flag, what = "--allow-unsigned", "an agent signature"
        raise ApiError(
            401,
            "X-Agent-Signature",
            f"missing: this server wants {what} (unsigned, refused unless the server runs "
            f"with {flag})",
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
            403,
            "X-Agent-Address",
            f"the role 'runner' publishes states and asks for decisions; {name!r} is an agent",
        )
    if not runner and name == RUNNER_NAME:
        raise ApiError(
            403,
            "X-Agent-Address",
            "the role 'agent' posts recommendations; this is the runner's identity "
            "(it publishes states and asks for decisions)",
        )
    return Poster(
        signed=True,
        name=name,
        address=verified.address,
        nonce=(verified.address, verified.nonce, verified.timestamp),
    )
