"""The HTTP client of the AI Manager server: what a simulator, an agent or the runner calls.

Synchronous (``requests``); the agents call it from a worker thread (``asyncio.to_thread``).

- **Several URLs.** ``ServerClient(["http://a:9000", "http://b:9000"])`` sends to the first
  that answers: a connection error, a timeout or a 5xx answer moves on to the next (and stays
  there when it answers), so a client survives one server of a pair going away or failing. Every write it repeats is idempotent
  (``/state`` is the latest snapshot, ``/decisions`` decides a step once, a recommendation's
  ``message_id`` makes a re-post a no-op), so a post that timed out may safely go elsewhere.
- **Signing.** A POST is signed with a uagents identity (:func:`.signing.sign_headers`; a
  uagents ``Identity`` or :class:`.keys.IdentityKey`) with a fresh timestamp and nonce per
  attempt, so a retried body is never refused as a replay; or it carries a bearer token
  (``write_token``, the server's ``--runner-token``). Reads carry ``token`` when the server
  wants one (``--read-token``).
- **Retries.** The typed methods (``publish_state``, ``post_recommendation``,
  ``request_decision``, the reads) retry an unavailable server (no answer, 5xx, 408/425/429)
  with back-off for up to ``retry_s`` seconds, then raise :class:`.errors.ServerUnavailable`;
  a 4xx raises the :class:`.errors.ServerRefused` subclass of its status with the server's
  ``field`` and ``reason``.

The older, untyped methods (``get_state``, ``get_messages``, ``get_aggregate``,
``post_signed``) stay for the agents' runtime, which runs its own retry loop and outbox.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import requests

from .errors import (
    AuthError,
    ClientError,
    Conflict,
    DecisionTimeout,
    InvalidRequest,
    NotFound,
    ServerRefused,
    ServerUnavailable,
    UnexpectedAnswer,
    refused,
)
from .ids import (
    AGENT_NAMES,
    DEFAULT_COMMUNITY,
    canonical_json,
    check_community_name,
    message_id,
)
from .outbox import Backoff, Outbox
from .results import Decision, FlushResult, Message, PublishedState, Receipt, StateAck
from .signing import sign_headers

__all__ = [
    "AuthError",
    "ClientError",
    "Conflict",
    "DecisionTimeout",
    "InvalidRequest",
    "NotFound",
    "PostResult",
    "ServerClient",
    "ServerRefused",
    "ServerUnavailable",
    "UnexpectedAnswer",
    "server_urls",
]

log = logging.getLogger("energy_agents.client")

READ_TOKEN_ENV = "ENERGY_AGENTS_READ_TOKEN"
"""Bearer token sent with reads when the server requires one (read endpoints exposed)."""

RETRYABLE_STATUS = frozenset({401, 403, 408, 425, 429, 500, 502, 503, 504})
"""Answers the agents' outbox retries later: the server restarting, overloaded, or not yet told
our address (401/403: the allowed-agents file may be re-read). Other 4xx are permanent."""

TRANSIENT_STATUS = frozenset({408, 425, 429})
"""4xx answers the typed methods retry like a 5xx (a 401/403 there is an :class:`AuthError`)."""

DEFAULT_PAGE = 1000
"""Page size of the typed reads (the server's maximum)."""

T = TypeVar("T")
_UNSET: Any = object()


@dataclass(frozen=True)
class PostResult:
    status: int  # 0: no answer at all
    body: Any
    retryable: bool
    duplicate: bool = False  # the server had this message_id already (X-Duplicate)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ServerClient:
    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        timeout: float = 5.0,
        token: str | None = None,
        write_token: str | None = None,
        identity: Any = None,
        retry_s: float = 30.0,
        community: str | None = None,
    ) -> None:
        """``base_url``: one URL, or a list (or a comma-separated string, as a command-line
        flag gives it) to fail over along, the first tried first;
        ``token``: bearer token for reads (default ``$ENERGY_AGENTS_READ_TOKEN``);
        ``write_token``: bearer token for unsigned posts (the runner's ``--token``);
        ``identity``: the default signer of the typed posts (a uagents ``Identity`` or an
        :class:`.keys.IdentityKey`); ``retry_s``: how long the typed methods retry an
        unavailable server before raising :class:`ServerUnavailable` (0: one attempt);
        ``community``: the community every request is of (``?community=NAME``, signed with
        the path; default: the server's default community, and no query at all)."""
        self.urls = server_urls(base_url)
        self.community = (
            check_community_name(community)
            if community not in (None, "", DEFAULT_COMMUNITY)
            else DEFAULT_COMMUNITY
        )
        # the query every request carries (none for the default: the seed's plain URLs)
        self._query = (
            "" if self.community == DEFAULT_COMMUNITY else urlencode({"community": self.community})
        )
        self._current = 0
        self.timeout = timeout
        self.token = token if token is not None else os.environ.get(READ_TOKEN_ENV)
        self.write_token = write_token
        self.identity = identity
        self.retry_s = retry_s
        self.decisions_endpoint: bool | None = None  # None: not known yet whether POST works
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy from the environment

    @property
    def base_url(self) -> str:
        """The URL in use: the last one that answered."""
        return self.urls[self._current]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transport
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        identity: Any = None,
    ) -> requests.Response:
        """One request, failing over along the URLs on connection errors, timeouts and 5xx
        answers; when every URL answers 5xx (or none answers), the first 5xx answer."""
        errors = []
        failed: tuple[int, requests.Response] | None = None  # the first 5xx answer
        n = len(self.urls)
        for i in range(n):
            index = (self._current + i) % n
            base = self.urls[index]
            headers: dict[str, str] = {}
            if body is not None:
                headers["Content-Type"] = "application/json"
                if identity is not None:  # sign the full path: a base URL may have a prefix
                    full_path = (
                        urlsplit(base).path + path + (f"?{self._query}" if self._query else "")
                    )
                    headers.update(
                        sign_headers(identity, method, full_path, body, nonce=secrets.token_hex(16))
                    )
                elif self.write_token:
                    headers["Authorization"] = f"Bearer {self.write_token}"
            elif self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                resp = self.session.request(
                    method,
                    base + path + (f"?{self._query}" if self._query else ""),
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                errors.append(f"{base}: {exc.__class__.__name__}")
                continue
            if resp.status_code >= 500:  # a server in trouble: try the next
                errors.append(f"{base}: HTTP {resp.status_code}")
                failed = failed or (index, resp)
                continue
            if index != self._current:
                log.warning("%s %s: failed over to %s (%s)", method, path, base, "; ".join(errors))
            self._current = index
            return resp
        if failed is not None:
            self._current = failed[0]
            return failed[1]
        raise ServerUnavailable(f"{method} {path}: no answer ({'; '.join(errors)})")

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            return resp.text[:500]

    def _checked(self, what: str, resp: requests.Response) -> Any:
        """The JSON of a 2xx answer; raise the error of any other."""
        status = resp.status_code
        if 200 <= status < 300:
            return self._json(resp)
        if status >= 500 or status in TRANSIENT_STATUS:
            raise ServerUnavailable(f"{what}: HTTP {status}", status)
        raise refused(what, status, self._json(resp))

    def _retrying(self, call: Callable[[], T], retry_s: float | None = None) -> T:
        """``call()`` until it does not raise :class:`ServerUnavailable` or time is up."""
        budget = self.retry_s if retry_s is None else retry_s
        deadline = time.monotonic() + budget
        backoff = Backoff(initial=0.1, cap=2.0)
        while True:
            try:
                return call()
            except ServerUnavailable:
                delay = backoff.next()
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        what = f"GET {path}"
        return self._checked(what, self._request("GET", path, params=params))

    def _post(self, path: str, payload: Any, identity: Any) -> tuple[Any, requests.Response]:
        signer = self.identity if identity is _UNSET else identity
        resp = self._request("POST", path, body=canonical_json(payload), identity=signer)
        return self._checked(f"POST {path}", resp), resp

    # ------------------------------------------------------------ typed API: the simulator
    def publish_state(
        self,
        observation: Mapping[str, Any],
        *,
        record: Mapping[str, Any] | None = None,
        kpis: Mapping[str, Any] | None = None,
        identity: Any = _UNSET,
        retry_s: float | None = None,
    ) -> StateAck:
        """``POST /state``: the observation of the step about to be decided (docs/client.md
        lists its fields), with the record of the step just finished and the KPIs so far."""
        payload: dict[str, Any] = {"observation": observation}
        if record is not None:
            payload["record"] = record
        if kpis is not None:
            payload["kpis"] = kpis
        data, _ = self._retrying(lambda: self._post("/state", payload, identity), retry_s)
        return StateAck.from_json(data)

    def request_decision(
        self,
        step: int,
        strategy: str | None = None,
        *,
        identity: Any = _UNSET,
        retry_s: float | None = None,
    ) -> Decision:
        """The decision of ``step``: ``POST /decisions {"step", "strategy"}`` signed by the
        runner (the server decides a step once and answers the stored decision to a repeat);
        on a server without that endpoint (404 "no such endpoint", 405) the older
        ``GET /aggregate?step=N`` that decides on read."""
        return self._retrying(lambda: self._decide_once(step, strategy, identity), retry_s)

    def _decide_once(self, step: int, strategy: str | None, identity: Any) -> Decision:
        if self.decisions_endpoint is not False:
            body: dict[str, Any] = {"step": step}
            if strategy is not None:
                body["strategy"] = strategy
            try:
                data, _ = self._post("/decisions", body, identity)
            except ServerRefused as exc:
                no_route = exc.status == 405 or (exc.status == 404 and exc.field is None)
                if not no_route:
                    raise
                self.decisions_endpoint = False
            else:
                self.decisions_endpoint = True
                return self._decision_of(step, data, "POST /decisions")
        params: dict[str, Any] = {"step": step}
        if strategy is not None:
            params["strategy"] = strategy
        return self._decision_of(step, self._get("/aggregate", params), "GET /aggregate")

    @staticmethod
    def _decision_of(step: int, data: Any, what: str) -> Decision:
        decision = Decision.from_json(data, what)
        if decision.step is not None and decision.step != step:
            raise UnexpectedAnswer(f"{what}: answered step {decision.step} for step {step}")
        return decision

    def wait_for_recommendations(
        self,
        step: int,
        agents: Iterable[str] = AGENT_NAMES,
        *,
        timeout_s: float = 10.0,
        poll_s: float = 0.05,
        digest: str | None = None,
    ) -> set[str]:
        """Poll ``GET /messages?step=N`` until each of ``agents`` answered step ``step`` or
        ``timeout_s`` passed; the names that answered. With ``digest`` (the observation's,
        :func:`.ids.observation_digest`), an answer to another observation of the same step
        (an earlier run in the same database) does not count."""
        expected = set(agents)
        deadline = time.monotonic() + timeout_s
        while True:
            got = self.answered(step, digest) & expected
            if got == expected or time.monotonic() >= deadline:
                return got
            time.sleep(poll_s)

    def answered(self, step: int, digest: str | None = None) -> set[str]:
        """The agent names with a message for ``step`` (for this observation, with ``digest``)."""
        names: set[str] = set()
        suffix = None if digest is None else f":{step}:{digest[:16]}"
        for m in self.get_messages(step):
            if not isinstance(m, dict) or m.get("step", step) != step:
                continue
            mid = m.get("message_id")
            if suffix and isinstance(mid, str) and ":" in mid and not mid.endswith(suffix):
                continue
            names.add(str(m.get("agent_name")))
        return names

    def decide(
        self,
        step: int,
        strategy: str | None = None,
        *,
        agents: Iterable[str] = AGENT_NAMES,
        deadline_s: float = 10.0,
        digest: str | None = None,
        identity: Any = _UNSET,
    ) -> Decision:
        """Wait for the agents' recommendations of ``step`` (at most ``deadline_s``), then
        request the decision; advisors silent until then are in ``Decision.missing``."""
        self.wait_for_recommendations(step, agents, timeout_s=deadline_s, digest=digest)
        return self.request_decision(step, strategy, identity=identity)

    def wait_decision(
        self,
        step: int,
        strategy: str | None = None,
        *,
        timeout_s: float = 30.0,
        poll_s: float = 0.2,
    ) -> Decision:
        """Read-only: wait until the decision of ``step`` is stored (``GET /decisions``), for
        a client that watches the runner's decisions without deciding; raises
        :class:`DecisionTimeout`."""
        deadline = time.monotonic() + timeout_s
        while True:
            for d in self.decisions(strategy=strategy, limit=100):
                if d.step == step:
                    return d
            if time.monotonic() >= deadline:
                raise DecisionTimeout(f"no decision for step {step} within {timeout_s:g} s")
            time.sleep(poll_s)

    # ------------------------------------------------------------ typed API: an agent
    def post_recommendation(
        self,
        recommendation: Mapping[str, Any],
        *,
        identity: Any = _UNSET,
        retry_s: float | None = None,
    ) -> Receipt:
        """``POST /receive`` one recommendation (``Recommendation.to_dict()`` fields, or the
        seed's ``{"agent_name", "message"}``). A ``message_id`` is added when missing (from
        agent, step and body), so a retry, or a post that failed over, is stored once."""
        payload = with_message_id(recommendation)

        def post() -> Receipt:
            data, resp = self._post("/receive", payload, identity)
            return Receipt.from_json(data, resp.headers.get("X-Duplicate") == "true")

        return self._retrying(post, retry_s)

    def post_recommendations(
        self,
        recommendations: Sequence[Mapping[str, Any]],
        *,
        identity: Any = _UNSET,
        retry_s: float | None = None,
    ) -> list[Receipt]:
        """One batch (1 to 100): all stored or none. Each gets a ``message_id`` if missing."""
        payload = [with_message_id(r) for r in recommendations]

        def post() -> list[Receipt]:
            data, _ = self._post("/receive", payload, identity)
            if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
                raise UnexpectedAnswer("POST /receive: a batch answer without messages")
            signed = bool(data.get("signed"))
            return [
                Receipt.from_json({**m, "signed": signed} if isinstance(m, dict) else m)
                for m in data["messages"]
            ]

        return self._retrying(post, retry_s)

    def flush_outbox(
        self, outbox: Outbox, *, identity: Any = _UNSET, limit: int = 50
    ) -> FlushResult:
        """Post the outbox's messages oldest first, once each; stop at the first that the
        server cannot take now (it stays queued; call again after a back-off). A message the
        server refuses for good moves to the outbox's ``dead`` table; one it already has (409
        on ``message_id``) counts as sent."""
        signer = self.identity if identity is _UNSET else identity
        sent = dead = 0
        last_error = None
        for mid, payload in outbox.pending(limit):
            outbox.attempted(mid)
            res = self.post_signed("/receive", payload, signer)
            if res.ok or (res.status == 409 and _field(res.body) == "message_id"):
                outbox.ack(mid)
                sent += 1
            elif res.retryable or res.status == 409:  # 409 here: a replayed nonce
                last_error = f"HTTP {res.status or res.body}"
                break
            else:
                outbox.dead(mid, res.status, res.body)
                dead += 1
                last_error = f"{mid}: HTTP {res.status}: {res.body}"
        return FlushResult(sent, dead, len(outbox), last_error)

    # ------------------------------------------------------------ typed API: reads
    def latest_state(self, *, retry_s: float | None = None) -> PublishedState | None:
        """``GET /state``: the latest observation, or None before the first one."""

        def read() -> PublishedState | None:
            try:
                return PublishedState.from_json(self._get("/state"))
            except NotFound:
                return None

        return self._retrying(read, retry_s)

    def messages(
        self,
        *,
        step: int | None = None,
        agent: str | None = None,
        since: float | str | None = None,
        limit: int | None = None,
        retry_s: float | None = None,
    ) -> list[Message]:
        """``GET /messages``, oldest first, every page (at most ``limit`` messages)."""
        params = {"step": step, "agent": agent, "since": since}
        items = self._pages("/messages", params, limit, retry_s)
        return [Message.from_json(m) for m in items]

    def decisions(
        self,
        *,
        strategy: str | None = None,
        limit: int | None = 100,
        retry_s: float | None = None,
    ) -> list[Decision]:
        """``GET /decisions``: the stored decisions, newest first (at most ``limit``)."""
        items = self._pages("/decisions", {"strategy": strategy}, limit, retry_s)
        return [Decision.from_json(d, "GET /decisions item") for d in items]

    def kpis(self, *, retry_s: float | None = None) -> dict[str, Any]:
        """``GET /kpis``: the running KPIs the runner published (``{}`` before any)."""
        data = self._retrying(lambda: self._get("/kpis"), retry_s)
        if not isinstance(data, dict):
            raise UnexpectedAnswer("GET /kpis: expected a JSON object")
        return data

    def series(self, since_step: int = 0, *, retry_s: float | None = None) -> list[dict]:
        """``GET /series``: the per-step records from ``since_step`` on, every page."""
        out: list[dict] = []
        cursor: int | None = since_step
        while cursor is not None:
            query = {"since_step": cursor, "limit": 10_000}
            resp = self._retrying(partial(self._read, "/series", query), retry_s)
            items = resp.json()
            if not isinstance(items, list):
                raise UnexpectedAnswer("GET /series: expected a JSON array")
            out.extend(items)
            nxt = resp.headers.get("X-Next-Cursor")
            cursor = int(nxt) if nxt and items else None
        return out

    def _read(self, path: str, params: Mapping[str, Any]) -> requests.Response:
        """One GET whose answer is a 2xx (else the error of its status)."""
        resp = self._request("GET", path, params=params)
        self._checked(f"GET {path}", resp)
        return resp

    def _pages(
        self,
        path: str,
        params: Mapping[str, Any],
        limit: int | None,
        retry_s: float | None,
    ) -> list[Any]:
        query = {k: v for k, v in params.items() if v is not None}
        out: list[Any] = []
        while limit is None or len(out) < limit:
            page = DEFAULT_PAGE if limit is None else min(DEFAULT_PAGE, limit - len(out))
            query["limit"] = page
            resp = self._retrying(partial(self._read, path, dict(query)), retry_s)
            items = resp.json()
            if not isinstance(items, list):
                raise UnexpectedAnswer(f"GET {path}: expected a JSON array")
            out.extend(items)
            nxt = resp.headers.get("X-Next-Cursor")
            if not nxt or not items:
                break
            query["cursor"] = nxt
        return out if limit is None else out[:limit]

    def health(self) -> bool:
        try:
            return self._request("GET", "/health").status_code == 200
        except ServerUnavailable:
            return False

    # ------------------------------------------------------------ untyped (agents' runtime)
    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """One GET, no retries: the JSON, None on 404; raises :class:`ServerUnavailable`
        (no answer, 5xx) or a :class:`ServerRefused` (other 4xx)."""
        try:
            return self._get(path, params)
        except NotFound:
            return None

    def get_state(self) -> dict[str, Any] | None:
        """The latest published observation as a dict, or None before the runner published one."""
        data = self.get_json("/state")
        if not isinstance(data, dict) or not data:
            return None
        state = PublishedState.from_json(data)
        return None if state is None else dict(state.observation)

    def get_messages(self, step: int, agent: str | None = None) -> list[dict[str, Any]]:
        """One page (the server's default size) of ``/messages?step=N`` as dicts."""
        params: dict[str, Any] = {"step": step}
        if agent is not None:
            params["agent"] = agent
        data = self.get_json("/messages", params)
        if isinstance(data, dict):  # a paged envelope
            data = data.get("messages") or data.get("items") or []
        return list(data or [])

    def get_aggregate(self, strategy: str, step: int) -> dict[str, Any]:
        """``GET /aggregate?strategy=S&step=N`` as the server's dict, one try (the runner asks
        with :meth:`request_decision`)."""
        data = self.get_json("/aggregate", {"strategy": strategy, "step": step})
        if not isinstance(data, dict):
            raise ServerUnavailable(f"GET /aggregate: no decision for step {step}")
        return data

    def post_signed(self, path: str, payload: Any, identity: Any) -> PostResult:
        """POST ``payload`` as canonical JSON signed by ``identity`` (None: unsigned, or the
        ``write_token``); never raises for an answer, nor for no answer (status 0)."""
        try:
            resp = self._request("POST", path, body=canonical_json(payload), identity=identity)
        except ServerUnavailable as exc:
            return PostResult(0, str(exc), True)
        return PostResult(
            resp.status_code,
            self._json(resp),
            resp.status_code in RETRYABLE_STATUS,
            resp.headers.get("X-Duplicate") == "true",
        )


def server_urls(base_url: str | Sequence[str]) -> list[str]:
    """The failover list of ``base_url``: one URL, a list, or a comma-separated string (a
    command-line flag's ``URL1,URL2``); each an http(s) URL, without a trailing slash."""
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    out = [u.strip().rstrip("/") for u in urls if u and u.strip()]
    if not out:
        raise ValueError("base_url: give at least one server URL")
    for u in out:
        if urlsplit(u).scheme not in ("http", "https") or not urlsplit(u).netloc:
            raise ValueError(f"base_url: {u!r} is not an http(s) URL")
    return out


def with_message_id(recommendation: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with a ``message_id``: the given one, or one from agent, step and body."""
    payload = dict(recommendation)
    if not payload.get("message_id"):
        digest = hashlib.sha256(canonical_json(payload)).hexdigest()
        step = payload.get("step")
        name = str(payload.get("agent_name", ""))
        payload["message_id"] = message_id(name, step if isinstance(step, int) else -1, digest)
    return payload


def _field(answer: Any) -> str | None:
    """The ``field`` of a server error answer (``{"error", "field", "reason"}``)."""
    return answer.get("field") if isinstance(answer, dict) else None
