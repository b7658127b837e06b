"""Identifiers shared by every client of the AI Manager server: the runner's name, the digest
an answer names its observation by, and the deterministic message id of a recommendation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

RUNNER_NAME = "runner"
"""The identity that publishes states (``POST /state``) and asks for decisions."""


def canonical_json(data: Any) -> bytes:
    """The bytes that are posted, signed and hashed: compact, keys sorted, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def observation_digest(obs: Mapping[str, Any]) -> str:
    """sha256 of the observation's canonical JSON: what a forecast and a message id refer to."""
    return hashlib.sha256(canonical_json(obs)).hexdigest()


def message_id(name: str, step: int, digest: str) -> str:
    """Deterministic per agent and observation: a re-post (or a restarted agent) is idempotent."""
    return f"{name}:{step}:{digest[:16]}"
