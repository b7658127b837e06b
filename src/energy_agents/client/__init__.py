"""The client SDK of the AI Manager server, shared by the agents, the live runner and any other
simulator (docs/client.md): HTTP client, request signing, back-off, the on-disk outbox,
identifiers, typed answers and errors.

Standard library and ``requests`` only (``coincurve`` speeds up signing when installed);
``pip install ./sdk`` installs this package alone into another project's environment.

::

    from energy_agents.client import IdentityKey, ServerClient

    client = ServerClient(["http://127.0.0.1:9000"], identity=IdentityKey.from_seed("my runner"))
    client.publish_state(observation)
    decision = client.decide(observation["step"], "weighted")
    apply(decision.parameters)

The names below are imported on first use, so ``energy_agents.client.ids`` or ``.signing``
alone (what the server imports) do not load ``requests``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ServerClient": "http",
    "PostResult": "http",
    "server_urls": "http",
    "ClientError": "errors",
    "ServerUnavailable": "errors",
    "ServerRefused": "errors",
    "InvalidRequest": "errors",
    "AuthError": "errors",
    "NotFound": "errors",
    "Conflict": "errors",
    "DecisionTimeout": "errors",
    "UnexpectedAnswer": "errors",
    "StateAck": "results",
    "PublishedState": "results",
    "Receipt": "results",
    "Message": "results",
    "Decision": "results",
    "FlushResult": "results",
    "IdentityKey": "keys",
    "Outbox": "outbox",
    "Backoff": "outbox",
    "AGENT_NAMES": "ids",
    "RUNNER_NAME": "ids",
    "message_id": "ids",
    "observation_digest": "ids",
    "sign_headers": "signing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'energy_agents.client' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
