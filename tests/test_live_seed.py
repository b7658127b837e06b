"""The seed's two commands: ``python ai_manager_server.py``, then ``python ai_manager.py``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.agents.procs import descendants, pid_alive
from ports import free_port_block as _free_port_block

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "ai_manager_server.py").exists(), reason="no seed server script")
def test_seed_commands_make_a_live_system(tmp_path):
    base = _free_port_block(6)
    url = f"http://127.0.0.1:{base}"
    procs = []

    def start(script: str, *args: str) -> subprocess.Popen:
        log = (tmp_path / f"{script}.log").open("w")
        p = subprocess.Popen(
            [sys.executable, str(ROOT / script), *args],
            cwd=tmp_path,  # both default to ./.energy-agents: the agents file is shared
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(p)
        return p

    try:
        server = start("ai_manager_server.py", "--port", str(base), "--workers", "1")
        agents = start("ai_manager.py", "--server", url, "--base-port", str(base + 1))
        deadline = time.monotonic() + 45
        msgs: list = []
        while time.monotonic() < deadline:
            try:
                msgs = requests.get(f"{url}/messages", timeout=2).json()
            except (requests.RequestException, ValueError):
                msgs = []
            if {m["agent_name"] for m in msgs} >= set(AGENT_NAMES):
                break
            time.sleep(0.25)
        assert {m["agent_name"] for m in msgs} >= set(AGENT_NAMES), (
            tmp_path / "ai_manager.py.log"
        ).read_text()[-3000:]
        for m in msgs:  # the seed's shape
            assert isinstance(m["message"], str) and m["message"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", m["timestamp"])
        agg = requests.get(f"{url}/aggregate", timeout=5).json()
        assert {"action", "details", "timestamp"} <= set(agg)
        assert "starting the simulation runner" in (tmp_path / "ai_manager.py.log").read_text()
        family = {agents.pid, server.pid} | set(descendants(agents.pid) + descendants(server.pid))
        agents.send_signal(signal.SIGINT)
        assert agents.wait(10) in (0, 130)
        server.send_signal(signal.SIGTERM)
        server.wait(15)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(pid_alive(p) for p in family):
            time.sleep(0.05)
        assert not [p for p in family if pid_alive(p)]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
