"""Server configuration: one frozen dataclass, built from arguments or the environment."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...client.ids import check_community_name

DEFAULT_DATABASE = ".energy-agents/server.sqlite"
DEFAULT_MAX_CONTENT_LENGTH = 1 << 20  # 1 MiB per request body
DEFAULT_MAX_BATCH = 100
DEFAULT_PAGE = 100
MAX_PAGE = 1000
DEFAULT_SIGNATURE_WINDOW_S = 60.0
DEFAULT_AGGREGATE_WINDOW_S = 300.0

ENV_DATABASE = "DATABASE_URL"
ENV_AGENTS_FILE = "ENERGY_AGENTS_AGENTS_FILE"
ENV_READ_TOKEN = "ENERGY_AGENTS_READ_TOKEN"
ENV_RUNNER_TOKEN = "ENERGY_AGENTS_RUNNER_TOKEN"
ENV_ALLOW_UNSIGNED = "ENERGY_AGENTS_ALLOW_UNSIGNED"
ENV_ALLOW_UNSIGNED_RUNNER = "ENERGY_AGENTS_ALLOW_UNSIGNED_RUNNER"
ENV_STRATEGY = "ENERGY_AGENTS_STRATEGY"


def default_strategy() -> str:
    """``weighted`` if registered, else ``seed``, else ``none``."""
    from ...coordination import STRATEGIES

    for name in ("weighted", "seed", "none"):
        if name in STRATEGIES:
            return name
    return next(iter(STRATEGIES))


@dataclass(frozen=True)
class ServerConfig:
    """Everything the app factory needs. ``database`` is a file path (SQLite) or a
    ``postgresql://`` URL. ``agents_file`` is a JSON object ``{agent_name: address}`` of the
    agents allowed to post (``runner`` signs ``POST /state``); it is re-read when it changes."""

    database: str = DEFAULT_DATABASE
    agents_file: str | None = None
    agents: dict[str, str] = field(default_factory=dict)
    allow_unsigned: bool = False
    """Accept unsigned ``POST /receive`` (the seed's plain JSON; a local experiment only)."""
    allow_unsigned_runner: bool = False
    """Also accept unsigned ``POST /state`` and ``POST /decisions`` (the runner's endpoints),
    which ``allow_unsigned`` alone keeps to the runner's signature or token."""
    read_token: str | None = None
    runner_token: str | None = None
    strategy: str | None = None
    signature_window_s: float = DEFAULT_SIGNATURE_WINDOW_S
    aggregate_window_s: float = DEFAULT_AGGREGATE_WINDOW_S
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    max_batch: int = DEFAULT_MAX_BATCH
    metrics_dir: str | None = None
    communities: list[str] = field(default_factory=list)
    """The communities this server accepts (``?community=NAME``); empty: any valid name."""
    sqlite_synchronous: str = "full"
    """SQLite only: ``full`` (default) fsyncs every commit before answering; ``normal``
    survives a killed server but not necessarily a power cut (see docs/server.md)."""

    def __post_init__(self) -> None:
        if not self.database:
            raise ValueError("database: must be a path or a postgresql:// URL")
        if self.signature_window_s <= 0:
            raise ValueError("signature_window_s: must be > 0")
        if self.aggregate_window_s <= 0:
            raise ValueError("aggregate_window_s: must be > 0")
        if self.sqlite_synchronous not in ("full", "normal"):
            raise ValueError("sqlite_synchronous: must be 'full' or 'normal'")
        for name in self.communities:
            check_community_name(name)
        if self.max_batch < 1:
            raise ValueError("max_batch: must be >= 1")
        if self.max_content_length < 1024:
            raise ValueError("max_content_length: must be >= 1024 bytes")
        if self.strategy is not None:
            from ...coordination import STRATEGIES, UnknownStrategyError

            if self.strategy not in STRATEGIES:
                raise ValueError(str(UnknownStrategyError(self.strategy)))
        if self.agents_file is not None:
            read_agents_file(self.agents_file, missing_ok=True)  # fail early on a bad file

    @property
    def default_strategy(self) -> str:
        return self.strategy or default_strategy()

    @classmethod
    def from_env(cls, **overrides) -> ServerConfig:
        """Defaults, then the environment (``DATABASE_URL``, ``ENERGY_AGENTS_*``), then
        ``overrides`` that are not None."""
        env = os.environ
        values: dict = {
            "database": env.get(ENV_DATABASE) or DEFAULT_DATABASE,
            "agents_file": env.get(ENV_AGENTS_FILE) or None,
            "allow_unsigned": env.get(ENV_ALLOW_UNSIGNED, "").lower() in ("1", "true", "yes"),
            "allow_unsigned_runner": env.get(ENV_ALLOW_UNSIGNED_RUNNER, "").lower()
            in ("1", "true", "yes"),
            "read_token": env.get(ENV_READ_TOKEN) or None,
            "runner_token": env.get(ENV_RUNNER_TOKEN) or None,
            "strategy": env.get(ENV_STRATEGY) or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> str:
        from dataclasses import asdict

        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        return cls(**json.loads(text))


def read_agents_file(path: str | Path, *, missing_ok: bool = False) -> dict[str, str]:
    """``{agent_name: address}`` from a JSON file; ``{}`` for a missing file if ``missing_ok``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.startswith("agent1")
        for k, v in data.items()
    ):
        raise ValueError(f"{path}: must be a JSON object of agent_name -> agent1... address")
    return data


class AllowedAgents:
    """The allowed agents: the configured mapping plus the agents file, re-read (at most once a
    second) when its modification time changes, so agents started after the server are let in
    without a restart. A file that became unreadable keeps the last good mapping."""

    RECHECK_S = 1.0

    def __init__(self, static: dict[str, str], path: str | None) -> None:
        self.static = dict(static)
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = 0.0
        self._from_file: dict[str, str] = {}
        self._by_address: dict[str, str] = {}
        self._rebuild()
        self.refresh(force=True)

    def _rebuild(self) -> None:
        merged = {**self._from_file, **self.static}
        self._by_name = merged
        self._by_address = {addr: name for name, addr in merged.items()}

    def refresh(self, force: bool = False) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self.RECHECK_S:
            return
        with self._lock:
            self._checked = now
            try:
                mtime = os.stat(self.path).st_mtime
            except OSError:
                mtime = None
            if mtime == self._mtime and not force:
                return
            try:
                self._from_file = read_agents_file(self.path, missing_ok=True)
                self._mtime = mtime
            except (ValueError, OSError):
                return
            self._rebuild()

    def address_of(self, name: str) -> str | None:
        self.refresh()
        return self._by_name.get(name)

    def name_of(self, address: str) -> str | None:
        self.refresh()
        return self._by_address.get(address)

    def names(self) -> list[str]:
        self.refresh()
        return sorted(self._by_name)
