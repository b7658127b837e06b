"""Identifiers shared by every client of the AI Manager server: the runner's name, community
names, the digest an answer names its observation by, and the deterministic message id of a
recommendation."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RUNNER_NAME = "runner"
"""The identity that publishes states (``POST /state``) and asks for decisions."""

DEFAULT_COMMUNITY = "default"
"""The community of every request that names none (the seed's requests among them)."""

COMMUNITY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
COMMUNITY_RULE = "1-64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
"""A community's name (``?community=NAME`` on every request): safe in a URL and a file name."""


def check_community_name(name: str) -> str:
    """``name`` if it is a valid community name, else ``ValueError`` naming the rule."""
    if not isinstance(name, str) or not COMMUNITY_NAME.fullmatch(name):
        raise ValueError(f"community: {name!r} is not a community name ({COMMUNITY_RULE})")
    return name


def community_dir(data_dir: Path, community: str) -> Path:
    """Where a process keeps what is its community's own (outboxes, the runner's checkpoint,
    the agents' homes): ``data_dir`` itself for the default community, else
    ``data_dir/communities/NAME``. Keys and ``agents.json`` stay in ``data_dir``: an agent has
    one identity, whichever communities it advises."""
    if community == DEFAULT_COMMUNITY:
        return Path(data_dir)
    return Path(data_dir) / "communities" / check_community_name(community)


AGENT_NAMES = (
    "token_economist",
    "storage_optimizer",
    "grid_trader",
    "demand_forecaster",
    "p2p_trader",
)
"""The five agents (``advisors.types.AGENT_NAMES``; a test keeps the two equal): whose
recommendations a runner waits for."""


def canonical_json(data: Any) -> bytes:
    """The bytes that are posted, signed and hashed: compact, keys sorted, UTF-8. Arrays and
    scalars of numpy (anything with ``tolist()``) are written as JSON lists and numbers."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    ).encode()


def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def observation_digest(obs: Mapping[str, Any]) -> str:
    """sha256 of the observation's canonical JSON: what a forecast and a message id refer to."""
    return hashlib.sha256(canonical_json(obs)).hexdigest()


def message_id(name: str, step: int, digest: str) -> str:
    """Deterministic per agent and observation: a re-post (or a restarted agent) is idempotent."""
    return f"{name}:{step}:{digest[:16]}"
