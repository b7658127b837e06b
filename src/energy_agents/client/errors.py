"""The SDK's exceptions: every failure says what was asked, and a refusal carries the server's
status, ``field`` and ``reason`` (the server answers every 4xx as
``{"error", "field", "reason"}``).

::

    ClientError
    ├── ServerUnavailable     no answer from any URL (connection refused, timeout) or 5xx
    ├── ServerRefused         a 4xx: .status, .field, .reason, .error, .body
    │   ├── InvalidRequest    400, 413, 415: the body or a parameter is wrong
    │   ├── AuthError         401, 403: signature, token or address not accepted
    │   ├── NotFound          404
    │   └── Conflict          409: replayed nonce, message_id reused with another body
    ├── DecisionTimeout       no decision for the step within the time asked
    └── UnexpectedAnswer      a 2xx whose JSON is not what the endpoint promises
"""

from __future__ import annotations

from typing import Any


class ClientError(RuntimeError):
    """Base of every error the SDK raises."""


class ServerUnavailable(ClientError):
    """The server did not answer (every URL tried), or answered 5xx; worth retrying later."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ServerRefused(ClientError):
    """The server refused the request (4xx); retrying the same request will not help."""

    def __init__(
        self,
        what: str,
        status: int,
        body: Any,
    ) -> None:
        self.what = what
        self.status = status
        self.body = body
        answer = body if isinstance(body, dict) else {}
        self.field: str | None = answer.get("field")
        self.reason: str = str(answer.get("reason") or (body if isinstance(body, str) else ""))
        self.error: str | None = answer.get("error")
        detail = f"{self.field}: {self.reason}" if self.field else self.reason or "refused"
        super().__init__(f"{what}: HTTP {status}: {detail}")


class InvalidRequest(ServerRefused):
    """400, 413, 415: the body or a query parameter is wrong (``field`` names it)."""


class AuthError(ServerRefused):
    """401, 403: no or a wrong signature or token, or an address the server does not allow."""


class NotFound(ServerRefused):
    """404: no such endpoint, or nothing there yet."""


class Conflict(ServerRefused):
    """409: a replayed nonce, a ``message_id`` reused with another body, or a strategy that
    cannot decide the window."""


class DecisionTimeout(ClientError, TimeoutError):
    """No decision for the step within the time asked."""


class UnexpectedAnswer(ClientError):
    """A 2xx answer whose JSON is not what the endpoint promises (another server, or a proxy)."""


_BY_STATUS: dict[int, type[ServerRefused]] = {
    400: InvalidRequest,
    413: InvalidRequest,
    415: InvalidRequest,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
}


def refused(what: str, status: int, body: Any) -> ServerRefused:
    """The exception of a 4xx answer."""
    return _BY_STATUS.get(status, ServerRefused)(what, status, body)
