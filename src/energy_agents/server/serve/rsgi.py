"""The server as granian runs it: an RSGI app (granian's native async interface) around the
Flask app.

``POST /receive``, the hot endpoint, runs on the worker's event loop: its checks (content
type, signature, fields: ``receive.check_post``) run inline, its write is queued on the
worker's one :class:`~..store.db.WriterThread`, which commits whatever is queued as one group,
and the group's requests are answered in one callback once it committed. (The process's
other writes, e.g. ``POST /state`` through Flask, go through the same thread: one writer
connection, one transaction at a time.) No thread per
request: under load a worker has two busy threads instead of dozens taking turns on the GIL,
which costs less CPU per request and keeps requests in arrival order (docs/performance.md).

Every other request, and an unusual ``/receive`` (chunked, over the size limit), runs the
Flask app in a thread pool through :class:`WSGIBridge`: the same app and code as under any
WSGI server, so the same answers. ``tests/test_server_receive_paths.py`` holds the async path
to the Flask view's answers and stored rows.

A body must arrive within ``body_timeout_s`` (granian times out headers, not bodies): a
client sending a byte now and then is answered 408 and its connection closed.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core.context import EXTENSION, ServerContext
from ..core.json_response import refusal
from ..core.receive import PATH, Outcome, answer, check_post, respond
from ..core.validation import ApiError
from ..store.db import Ticket, WriterThread


class Headers:
    """RSGI's request headers (lower-case names) behind the case-insensitive ``get`` the
    checks use."""

    __slots__ = ("_h",)

    def __init__(self, rsgi_headers: Any) -> None:
        self._h = rsgi_headers

    def get(self, name: str, default: Any = None) -> Any:
        return self._h.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._h.get(name.lower()) is not None


class ServerApp:
    """The RSGI app: ``POST /receive`` on the event loop, the rest through the Flask app.

    ``threads``: the thread pool that runs the Flask app (reads, ``/state``, the dashboard)."""

    def __init__(self, flask_app: Any, threads: int, body_timeout_s: float | None = None) -> None:
        self.wsgi = WSGIBridge(flask_app, threads, body_timeout_s)
        self.body_timeout_s = body_timeout_s
        self.ctx: ServerContext = flask_app.extensions[EXTENSION]
        self.max_body = self.ctx.config.max_content_length
        self.writer: WriterThread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # granian calls these in each worker, around serving
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.writer = self.ctx.store.db.start_writer_thread(self._deliver)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx.store.db.stop_writer_thread()
        self.wsgi.pool.shutdown(wait=False)
        self.ctx.store.close()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":  # no websockets here
            return
        if scope.method == "POST" and scope.path == PATH and self._plain_body(scope.headers):
            await self.receive(scope, proto)
        else:
            await self.wsgi(scope, proto)

    def _plain_body(self, headers: Any) -> bool:
        """A body with its length given and within the limit (else Flask answers: 413,
        chunked bodies), as the WSGI fast path decides."""
        length = headers.get("content-length") or ""
        return (
            "transfer-encoding" not in headers and length.isdigit() and int(length) <= self.max_body
        )

    async def receive(self, scope: Any, proto: Any) -> None:
        c = self.ctx
        t0 = time.perf_counter()
        try:  # asyncio.timeout, not wait_for: no extra task per request on the hot path
            async with asyncio.timeout(self.body_timeout_s):
                body = await proto()
        except TimeoutError:
            status, out, header_list = respond(c, body_timeout(self.body_timeout_s), t0)
            proto.response_bytes(status, [*header_list, ("Connection", "close")], out)
            return
        try:
            post = check_post(c, Headers(scope.headers), "POST", PATH, body, scope.query_string)
            assert self.loop is not None and self.writer is not None
            ticket = Ticket(post.write(c.store), waiter=self.loop.create_future())
            self.writer.submit(ticket)
            outcome: Outcome = answer(await ticket.waiter, post)
        except Exception as exc:  # ApiError, StoreError, a bug: answered by respond()
            outcome = exc
        status, out, header_list = respond(c, outcome, t0)
        proto.response_bytes(status, header_list, out)

    def _deliver(self, tickets: list[Ticket]) -> None:
        """On the writer thread: wake the group's requests, in one call into the loop."""
        if tickets:
            assert self.loop is not None
            self.loop.call_soon_threadsafe(_wake, tickets)


def _wake(tickets: list[Ticket]) -> None:
    for t in tickets:
        if t.waiter.done():  # the client went away and its request was cancelled
            continue
        if t.error is not None:
            t.waiter.set_exception(t.error)
        else:
            t.waiter.set_result(t.result)


class WSGIBridge:
    """Runs a WSGI app for RSGI requests, in a thread pool. The request body is read first,
    up to one byte over the app's size limit, and handed on with its length (so the app
    answers 413 as it would under a WSGI server; a declared length over the limit is not
    read at all). The answer is sent whole (every answer here is small: JSON, the
    dashboard's page and its static files)."""

    def __init__(self, app: Any, threads: int, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        self.max_body: int = app.config["MAX_CONTENT_LENGTH"]
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="energy-agents-wsgi")

    async def __call__(self, scope: Any, proto: Any) -> None:
        try:
            async with asyncio.timeout(self.body_timeout_s):
                environ = await self._environ(scope, proto)
        except TimeoutError:
            _body_timed_out(proto, scope, self.body_timeout_s)
            return
        loop = asyncio.get_running_loop()
        try:
            status, headers, body = await loop.run_in_executor(self.pool, self._run, environ)
        except Exception as exc:  # a bug past Flask's handlers: a JSON 500, not an empty one
            status, body, extra = refusal(exc, scope.method, scope.path)
            headers = [*extra.items(), ("Content-Type", "application/json")]
        proto.response_bytes(status, headers, body)

    async def _environ(self, scope: Any, proto: Any) -> dict[str, Any]:
        host, _, port = (scope.server or "127.0.0.1:0").rpartition(":")
        client, _, client_port = (scope.client or ":").rpartition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": scope.path.encode().decode("latin-1"),  # PEP 3333: bytes as latin-1
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": host,
            "SERVER_PORT": port,
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": client,
            "REMOTE_PORT": client_port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for name, value in scope.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                key = "HTTP_" + key
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        length = environ.get("CONTENT_LENGTH", "")
        if length.isdigit() and int(length) > self.max_body:
            body = b""  # not read: the app answers 413 from the declared length
        else:
            body = await _read_upto(proto, self.max_body + 1)
            # Read whole, a chunked body is one of known length (over the limit: 413).
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        return environ

    def _run(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None) -> Any:
            started[:] = [int(status.split(" ", 1)[0]), headers]
            return lambda _data: None  # the legacy write(): unused by Flask

        result: Iterable[bytes] = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        # granian sets Content-Length itself from the body it sends
        return status, [(k, v) for k, v in headers if k.lower() != "content-length"], body


async def _read_upto(proto: Any, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes of it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in proto:
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def body_timeout(seconds: float | None) -> ApiError:
    """408: the body did not arrive in time (a slow client holds no connection)."""
    reason = f"the request body did not arrive within {seconds:g} s"
    return ApiError(408, "body", reason, "request timeout")


def _body_timed_out(proto: Any, scope: Any, seconds: float | None) -> None:
    status, body, extra = refusal(body_timeout(seconds), scope.method, scope.path)
    headers = [*extra.items(), ("Content-Type", "application/json"), ("Connection", "close")]
    proto.response_bytes(status, headers, body)
