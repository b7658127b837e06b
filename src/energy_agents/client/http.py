"""A small HTTP client of the AI Manager server, shared by the agents and the runner.

Synchronous (``requests``); the agents call it from a worker thread (``asyncio.to_thread``).
Every POST is signed with a uagents identity (:func:`.signing.sign_headers`): a fresh
timestamp and nonce per attempt, so a retried body is never refused as a replay, while its
``message_id`` makes the retry idempotent on the server.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

import requests

from .ids import canonical_json
from .signing import sign_headers

READ_TOKEN_ENV = "ENERGY_AGENTS_READ_TOKEN"
"""Bearer token sent with reads when the server requires one (read endpoints exposed)."""

RETRYABLE_STATUS = frozenset({401, 403, 408, 425, 429, 500, 502, 503, 504})
"""Answers worth retrying later: the server restarting, overloaded, or not yet told our address
(401/403: the allowed-agents file may be re-read). Other 4xx are permanent: the body is wrong."""


class ServerUnavailable(RuntimeError):
    """The server did not answer (connection refused, timeout) or answered 5xx."""


class ServerRefused(RuntimeError):
    """The server answered a read with a 4xx other than 404 (the answer names the reason)."""


@dataclass(frozen=True)
class PostResult:
    status: int  # 0: no answer at all
    body: Any
    retryable: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ServerClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        token: str | None = None,
        write_token: str | None = None,
    ) -> None:
        """``token``: bearer token for reads (default ``$ENERGY_AGENTS_READ_TOKEN``);
        ``write_token``: bearer token for unsigned posts (the runner's ``--token``)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token if token is not None else os.environ.get(READ_TOKEN_ENV)
        self.write_token = write_token
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: never through a proxy from the environment

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ reads
    def _get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            return self.session.get(
                self.base_url + path, params=params, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ServerUnavailable(f"GET {path}: {exc.__class__.__name__}") from exc

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        resp = self._get(path, params)
        if resp.status_code >= 500:
            raise ServerUnavailable(f"GET {path}: HTTP {resp.status_code}")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            try:
                answer = resp.json()
            except ValueError:
                answer = resp.text[:300]
            raise ServerRefused(f"GET {path}: HTTP {resp.status_code}: {answer}")
        return resp.json()

    def health(self) -> bool:
        try:
            return self._get("/health").status_code == 200
        except ServerUnavailable:
            return False

    def get_state(self) -> dict[str, Any] | None:
        """The latest published observation payload, or None before the runner published one.

        Accepts either ``{"observation": {...}, ...}`` or a bare observation dict."""
        data = self.get_json("/state")
        if not isinstance(data, dict) or not data:
            return None
        obs = data.get("observation", data)
        if not isinstance(obs, dict) or "step" not in obs:
            return None
        return obs

    def get_messages(self, step: int, agent: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"step": step}
        if agent is not None:
            params["agent"] = agent
        data = self.get_json("/messages", params)
        if isinstance(data, dict):  # a paged envelope
            data = data.get("messages") or data.get("items") or []
        return list(data or [])

    def get_aggregate(self, strategy: str, step: int) -> dict[str, Any]:
        data = self.get_json("/aggregate", {"strategy": strategy, "step": step})
        if not isinstance(data, dict):
            raise ServerUnavailable(f"GET /aggregate: no decision for step {step}")
        return data

    # ------------------------------------------------------------------ writes
    def post_signed(self, path: str, payload: Any, identity: Any) -> PostResult:
        """POST ``payload`` as canonical JSON signed by ``identity`` (None: unsigned)."""
        body = canonical_json(payload)
        headers = {"Content-Type": "application/json"}
        if identity is not None:
            headers.update(sign_headers(identity, "POST", path, body, nonce=secrets.token_hex(16)))
        elif self.write_token:
            headers["Authorization"] = f"Bearer {self.write_token}"
        try:
            resp = self.session.post(
                self.base_url + path, data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            return PostResult(0, str(exc.__class__.__name__), True)
        try:
            answer: Any = resp.json()
        except ValueError:
            answer = resp.text[:500]
        return PostResult(resp.status_code, answer, resp.status_code in RETRYABLE_STATUS)
