"""Agent pieces without processes: identities, outbox, message ids, the sender."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.agents import identity
from energy_agents.agents.runtime import (
    AgentConfig,
    AgentCore,
    default_ports,
    message_id,
    observation_digest,
)
from energy_agents.client.outbox import Backoff, Outbox
from energy_agents.runner.live import load_run_scenario


def test_key_file_is_made_once_private_and_matches_uagents(tmp_path, monkeypatch):
    from uagents_core.identity import Identity

    monkeypatch.delenv("ENERGY_AGENTS_SEED_GRID_TRADER", raising=False)
    seed = identity.load_or_create_seed(tmp_path, "grid_trader")
    path = identity.key_path(tmp_path, "grid_trader")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert identity.load_or_create_seed(tmp_path, "grid_trader") == seed
    assert len(seed) == 64
    assert identity.load_identity(tmp_path, "grid_trader").address == (
        Identity.from_seed(seed, 0).address
    )
    other = identity.load_or_create_seed(tmp_path / "other", "grid_trader")
    assert other != seed  # random per data dir, never a constant


def test_seed_from_configuration_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_AGENTS_SEED_P2P_TRADER", "configured seed for p2p")
    assert identity.load_or_create_seed(tmp_path, "p2p_trader") == "configured seed for p2p"
    assert not identity.key_path(tmp_path, "p2p_trader").exists()


def test_agents_file_lists_the_five(tmp_path):
    from energy_agents.agents.launcher import prepare_identities

    mapping = prepare_identities(tmp_path)
    assert set(mapping) == set(AGENT_NAMES)
    assert len(set(mapping.values())) == 5
    assert identity.read_agents_file(tmp_path / "agents.json") == mapping
    assert prepare_identities(tmp_path) == mapping  # stable across restarts


def test_outbox_is_idempotent_and_ordered(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    assert box.put("a", {"n": 1})
    assert box.put("b", {"n": 2})
    assert not box.put("a", {"n": 3})  # same id: stored once
    assert [m for m, _ in box.pending()] == ["a", "b"]
    assert box.known("a") and not box.known("z")
    box.ack("a")
    box.dead("b", 400, {"error": "bad"})
    assert len(box) == 0 and box.dead_count() == 1
    assert box.known("a") and box.known("b")  # delivered / refused: not answered again
    box.close()
    again = Outbox(tmp_path / "o.sqlite")  # durable across reopen
    again.put("c", {"n": 4})
    assert again.pending() == [("c", {"n": 4})]


def test_backoff_grows_to_a_cap():
    b = Backoff(initial=0.1, cap=1.0)
    delays = [b.next() for _ in range(8)]
    assert 0.05 <= delays[0] <= 0.1
    assert max(delays) <= 1.0 and delays[-1] >= 0.5
    b.reset()
    assert b.next() <= 0.1


def test_message_ids_follow_the_observation():
    scenario = load_run_scenario({"scenario": "tiny", "members": 3, "days": 1})
    from energy_agents.sim.community import Community

    obs = json.loads(json.dumps(Community(scenario).observe().to_dict()))
    d = observation_digest(obs)
    assert d == observation_digest(json.loads(json.dumps(obs)))
    assert message_id("grid_trader", 0, d) == f"grid_trader:0:{d[:16]}"
    obs["token_supply_ct"] += 1.0
    assert observation_digest(obs) != d


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "success"}')

    def log_message(self, *args):
        pass


def test_sender_keeps_messages_while_the_server_is_down(tmp_path, unused_port):
    """The outbox holds what the server did not take and delivers it once it is back."""
    cfg = AgentConfig(
        name="grid_trader",
        server_url=f"http://127.0.0.1:{unused_port}",
        data_dir=str(tmp_path),
        ports=default_ports(),
        addresses={},
    )
    _Recorder.bodies = []

    async def scenario():
        core = AgentCore(cfg, identity=None, logger=logging.getLogger("test"))
        for k in range(3):
            core.outbox.put(f"grid_trader:{k}:x", {"step": k, "message_id": f"grid_trader:{k}:x"})
        task = asyncio.get_running_loop().create_task(core.sender())
        core.wake_sender.set()
        await asyncio.sleep(0.8)  # server down: nothing delivered, nothing lost
        assert len(core.outbox) == 3
        server = ThreadingHTTPServer(("127.0.0.1", unused_port), _Recorder)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for _ in range(100):
                if len(core.outbox) == 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            server.shutdown()
            server.server_close()
        return len(core.outbox)

    assert asyncio.run(scenario()) == 0
    assert [b["step"] for b in _Recorder.bodies] == [0, 1, 2]


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
