"""Issue 13, the live system across hosts, end to end: three ``energy-agents serve`` on one
real PostgreSQL (other ports on loopback), the five real agents split between two of them
(two launchers), the runner on the third; server A is SIGKILLed mid-run. The agents fail over
to B, nothing acknowledged is lost, and every decision applied is the batch run's (which
``test_live_system.py`` shows is what one server decides)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from energy_agents.advisors.types import AGENT_NAMES
from ports import free_port_block
from server_fixtures import ServerProcess, postgres_schema

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SPEC = {"scenario": "synthetic", "members": 5, "days": 2, "seed": 0}
STRATEGY = "weighted"
STEPS = 8
KILL_AFTER = 3  # steps applied before server A is killed
START_S = 45  # generous: other jobs may load this 2-core machine
ON_A = ("demand_forecaster", "storage_optimizer", "grid_trader")  # the others on B


def steps_of(data: Path) -> list[dict]:
    path = data / "runner" / "steps.jsonl"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except ValueError:
            break
    return out


def child(log: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "energy_agents.cli", *argv],
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(8)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_agents_split_over_servers_one_killed_decide_as_the_batch_run(tmp_path):
    from energy_agents.agents.identity import register
    from energy_agents.runner.batch import run_batch
    from energy_agents.runner.live import load_run_scenario

    data = tmp_path / "data"
    agents_file = data / "agents.json"
    register(data, [*AGENT_NAMES, "runner"])  # keys and the allowed agents, before any server
    procs: list[subprocess.Popen] = []
    with postgres_schema() as url:
        a, b, c = (
            ServerProcess(tmp_path, url, "--agents-file", str(agents_file), workers=1)
            for _ in range(3)
        )
        try:
            for s in (a, b, c):
                s.start(START_S)
            agent_args = ["--data-dir", str(data), "--interval", "0.2", "--forecast-wait", "10"]
            agent_args += ["--base-port", str(free_port_block(5))]
            on_b = [n for n in AGENT_NAMES if n not in ON_A]
            log = tmp_path / "children.log"
            procs += [
                child(
                    log,
                    "agents",
                    "--server",
                    f"{a.url},{b.url}",
                    "--only",
                    ",".join(ON_A),
                    *agent_args,
                ),
                child(
                    log,
                    "agents",
                    "--server",
                    f"{b.url},{a.url}",
                    "--only",
                    ",".join(on_b),
                    *agent_args,
                ),
            ]
            runner_args = ["--data-dir", str(data), "--tick", "0", "--deadline", "30"]
            runner_args += ["--strategy", STRATEGY, "--steps", str(STEPS)]
            runner_args += [f"--{k}={v}" for k, v in SPEC.items()]
            runner = child(log, "run-sim", "--server", f"{c.url},{b.url}", *runner_args)
            procs.append(runner)

            deadline = time.monotonic() + START_S
            while len(steps_of(data)) < KILL_AFTER:
                assert time.monotonic() < deadline, log.read_text()[-4000:]
                assert runner.poll() is None, log.read_text()[-4000:]
                time.sleep(0.05)
            a.kill()  # SIGKILL: three agents lose their first server mid-run
            killed_at = len(steps_of(data))
            assert runner.wait(START_S) == 0, log.read_text()[-4000:]
            stored = requests.get(f"{b.url}/decisions?strategy={STRATEGY}", timeout=5).json()
            per_step = [
                requests.get(f"{c.url}/messages?step={t}", timeout=5).json() for t in range(STEPS)
            ]
        finally:
            for p in procs:
                stop(p)
            for s in (a, b, c):
                s.stop()

    # Steps published after the kill (the runner publishes step N + 1 right after applying N)
    assert killed_at + 1 < STEPS, "the run ended before server A was killed"
    failed_over = [
        line for line in log.read_text().splitlines() if f"failed over to {b.url}" in line
    ]
    assert {n for n in ON_A if any(n in line for line in failed_over)} == set(ON_A)
    live = steps_of(data)
    assert [s["step"] for s in live] == list(range(STEPS))
    missing = {s["step"]: s["decision"]["missing"] for s in live if s["decision"]["missing"]}
    assert not missing, f"advisors missing (a recommendation lost?): {missing}"
    batch = run_batch(load_run_scenario(SPEC), STRATEGY, keep_decisions=True)
    for t in range(STEPS):
        expected = json.loads(json.dumps(batch.decisions[t].parameters.to_dict()))
        assert live[t]["levers"] == expected, f"step {t}"
    # The survivors' database: every step decided once, as applied; five answers a step.
    assert sorted(d["step"] for d in stored) == list(range(STEPS))
    assert {d["step"]: d["parameters"] for d in stored} == {s["step"]: s["levers"] for s in live}
    for t, msgs in enumerate(per_step):
        assert sorted(m["agent_name"] for m in msgs) == sorted(AGENT_NAMES), f"step {t}"
