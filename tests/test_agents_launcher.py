"""The launcher on its own (no server needed): start, restart, SIGTERM, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.agents.procs import descendants, pid_alive
from ports import free_port_block

pytestmark = pytest.mark.e2e


def agent_pids(data: Path) -> dict[str, int]:
    out = {}
    for name in AGENT_NAMES:
        try:
            pid = int((data / "agents" / name / "agent.pid").read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(pid):
            out[name] = pid
    return out


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def launcher(tmp_path):
    procs = []

    def start(*extra: str) -> subprocess.Popen:
        log = (tmp_path / "launcher.log").open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "energy_agents",
                "agents",
                "--server",
                "http://127.0.0.1:9",  # nothing listens: agents wait for /state
                "--data-dir",
                str(tmp_path),
                "--base-port",
                str(free_port_block(5)),
                "--interval",
                "0.5",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_sigterm_stops_every_agent_within_5_s(launcher, tmp_path):
    proc = launcher()
    pids = wait_for("five agents", lambda: (p := agent_pids(tmp_path)) and len(p) == 5 and p, 20)
    family = set(descendants(proc.pid)) | set(pids.values())
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    wait_for("every agent gone", lambda: not any(pid_alive(p) for p in family), 5)
    assert time.monotonic() - t0 < 5.0
    assert proc.returncode == 0
    text = (tmp_path / "launcher.log").read_text()
    assert "did not stop" not in text  # stopped cleanly, not killed


def test_crashed_agent_is_reported_and_restarted(launcher, tmp_path):
    proc = launcher()
    pids = wait_for("five agents", lambda: (p := agent_pids(tmp_path)) and len(p) == 5 and p, 20)
    os.kill(pids["p2p_trader"], signal.SIGKILL)
    new = wait_for(
        "a new p2p_trader",
        lambda: (p := agent_pids(tmp_path).get("p2p_trader")) and p != pids["p2p_trader"] and p,
        10,
    )
    assert new != pids["p2p_trader"]
    text = (tmp_path / "launcher.log").read_text()
    assert f"p2p_trader (pid {pids['p2p_trader']}) exited with signal 9; restarting in" in text
    others = {n: p for n, p in agent_pids(tmp_path).items() if n != "p2p_trader"}
    assert others == {n: p for n, p in pids.items() if n != "p2p_trader"}  # untouched
    proc.send_signal(signal.SIGINT)
    proc.wait(10)


def test_agents_die_with_a_killed_launcher(launcher, tmp_path):
    proc = launcher()
    pids = wait_for("five agents", lambda: (p := agent_pids(tmp_path)) and len(p) == 5 and p, 20)
    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: the kernel tells the children
    proc.wait(5)
    wait_for("no orphan agent", lambda: not any(pid_alive(p) for p in pids.values()), 5)
