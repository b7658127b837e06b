"""Fixtures and helpers of the server tests (imported by tests/test_server_*.py).

The store fixture runs each test on SQLite (a temporary file) and on PostgreSQL (a fresh
schema in the database named by ``TEST_DATABASE_URL``). Without that variable the PostgreSQL
variant is skipped locally and FAILS when ``CI=true``. Start a throwaway server with
``bash scripts/start_postgres.sh /tmp/pg`` (prints the URL to export).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.client.signing import sign_headers

PG_ENV = "TEST_DATABASE_URL"


def postgres_url_or_fail() -> str:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{PG_ENV} is not set: CI must run the PostgreSQL tests (scripts/start_postgres.sh)"
        )
    pytest.skip(f"{PG_ENV} not set (start one: bash scripts/start_postgres.sh /tmp/pg)")


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections work in a fresh, empty schema (dropped afterwards)."""
    import psycopg

    base = postgres_url_or_fail()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(
    name="store_url", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store_url_fixture(request, tmp_path) -> Iterator[str]:
    """Import ``store_url_fixture`` into a test module to get the ``store_url`` fixture."""
    if request.param == "sqlite":
        yield str(tmp_path / "server.sqlite")
    else:
        with postgres_schema() as url:
            yield url


@cache
def identity(name: str):
    from uagents_core.identity import Identity

    return Identity.from_seed(f"energy-agents server tests {name}", 0)


def agents_map(names=(*AGENT_NAMES, "runner")) -> dict[str, str]:
    return {n: identity(n).address for n in names}


def make_app(url: str, **config: Any):
    from energy_agents.server import create_app
    from energy_agents.server.core.config import ServerConfig

    config.setdefault("agents", agents_map())
    return create_app(ServerConfig(database=url, **config))


def canonical(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signed_post(client, path: str, payload: Any, name: str | None, *, ident=None, **kw):
    """POST ``payload`` signed by agent ``name`` (None: unsigned) through a Flask test client."""
    body = payload if isinstance(payload, bytes) else canonical(payload)
    headers = {"Content-Type": "application/json"}
    if name is not None or ident is not None:
        headers.update(sign_headers(ident or identity(name), "POST", path, body, **kw))
    return client.post(path, data=body, headers=headers)


def recommendation(agent: str, step: int, message: str = "ok", **extra) -> dict[str, Any]:
    from energy_agents.advisors.types import Recommendation

    d = Recommendation(agent, step, message).to_dict()
    d.update(extra)
    return d


def observation_dict(step: int = 0) -> dict[str, Any]:
    """A real observation of a tiny scenario at ``step``."""
    return json.loads(json.dumps(_observations()[step]))


@lru_cache(maxsize=1)
def _observations() -> list[dict[str, Any]]:
    from energy_agents.coordination.baseline import NoControl
    from energy_agents.scenarios.tiny import tiny_scenario
    from energy_agents.sim.community import Community

    comm = Community(tiny_scenario(seed=0, n_members=3, n_steps=48))
    out = []
    none = NoControl()
    for _ in range(6):
        obs = comm.observe()
        out.append(json.loads(json.dumps(obs.to_dict())))
        decision, _ = none.decide(obs, [], {})
        comm.step(decision.parameters)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``energy-agents serve`` in its own session on a free loopback port."""

    def __init__(self, tmp: Path, database: str, *extra: str, workers: int = 2, threads: int = 4):
        self.tmp = tmp
        self.database = database
        self.extra = extra
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = tmp / f"serve-{self.port}.log"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        argv = [
            sys.executable,
            "-m",
            "energy_agents.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database",
            self.database,
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--log-level",
            "warning",
            *self.extra,
        ]
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            # A closed session: a keep-alive connection left open would hold up the
            # server's graceful stop (granian waits up to its 10 s kill timeout for it).
            with contextlib.suppress(requests.RequestException), requests.Session() as s:
                if s.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: arbiter and workers, no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
