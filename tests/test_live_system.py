"""End to end: ``energy-agents up`` with real server, runner and agent processes on loopback.

Small scenarios and fast ticks keep each test well under a minute on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import requests

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.agents.procs import descendants, pid_alive
from energy_agents.coordination.registry import STRATEGIES
from ports import free_port_block


def _server_ready() -> bool:
    from energy_agents.commands import serve

    try:
        from energy_agents.client.signing import sign_headers  # noqa: F401
    except ImportError:
        return False
    return not (serve.__doc__ or "").startswith("Placeholder")


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _server_ready(), reason="the server (issue 4) is not there yet"),
]

SPEC = {"scenario": "synthetic", "members": 5, "days": 2, "seed": 0}
START_S = 45  # generous waits for start-ups: other jobs may load this 2-core machine
UP_WITHIN_S = 15.0  # the start-up bound, asserted when the machine is not overloaded
STRATEGY = "weighted" if "weighted" in STRATEGIES else "seed"


# ---------------------------------------------------------------------------------- helpers


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Up:
    """One ``energy-agents up`` process (own session, so the test can find all its processes)."""

    def __init__(self, tmp: Path, *extra: str, tick: float = 0.3, steps: int | None = None):
        base = free_port_block(7)
        self.port, self.agent_base = base, base + 1
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = tmp / "data"
        self.log_path = tmp / "up.log"
        argv = [
            sys.executable,
            "-m",
            "energy_agents.cli",
            "up",
            "--port",
            str(self.port),
            "--base-port",
            str(self.agent_base),
            "--data-dir",
            str(self.data),
            "--tick",
            str(tick),
            "--strategy",
            STRATEGY,
            "--scenario",
            SPEC["scenario"],
            "--members",
            str(SPEC["members"]),
            "--days",
            str(SPEC["days"]),
            "--seed",
            str(SPEC["seed"]),
            *extra,
        ]
        if steps is not None:
            argv += ["--steps", str(steps)]
        self.started = time.monotonic()
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.seen_pids: set[int] = set()

    def text(self) -> str:
        """The terminal, then the children's log files (``up`` writes them, not quiet)."""
        logs = sorted((self.data / "logs").glob("*.log"))
        return "\n".join(p.read_text(errors="replace") for p in [self.log_path, *logs])

    def terminal(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remember(self) -> set[int]:
        self.seen_pids |= set(descendants(self.proc.pid))
        return self.seen_pids

    def get(self, path: str, **params):
        r = requests.get(self.url + path, params=params, timeout=5)
        r.raise_for_status()
        return r.json()

    def try_get(self, path: str, **params):
        try:
            return self.get(path, **params)
        except (requests.RequestException, ValueError):
            return None

    def steps(self) -> list[dict]:
        path = self.data / "runner" / "steps.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break
        return out

    def wait(self, what: str, cond, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.remember()
            value = cond()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}\n{self.text()[-4000:]}"
        )

    def pids_matching(self, needle: str) -> list[int]:
        return [p for p in descendants(self.proc.pid) if needle in cmdline(p)]

    def agent_pid(self, name: str) -> int | None:
        path = self.data / "agents" / name / "agent.pid"
        try:
            pid = int(path.read_text())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def stop(self, sig: int = signal.SIGINT) -> float:
        """Stop ``up``; returns the seconds until every process it started is gone."""
        if self.proc.poll() is not None:
            return 0.0
        self.remember()
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        finally:
            self.log.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(pid_alive(p) for p in self.seen_pids):
            time.sleep(0.05)
        return time.monotonic() - t0

    def kill_all(self) -> None:
        """Last resort after a failed test: SIGKILL the whole session."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        for pid in self.seen_pids:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def up_factory(tmp_path):
    made: list[Up] = []

    def make(*extra: str, **kw) -> Up:
        u = Up(tmp_path, *extra, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.kill_all()


def agents_in_messages(up: Up) -> set[str]:
    msgs = up.try_get("/messages", limit=500) or []
    if isinstance(msgs, dict):
        msgs = msgs.get("messages") or msgs.get("items") or []
    return {m.get("agent_name") for m in msgs} & set(AGENT_NAMES)


def record_of(up: Up, step: int) -> dict | None:
    """The runner's record of ``step`` as the server serves it (``/series``)."""
    items = up.try_get("/series", since_step=step) or []
    if isinstance(items, dict):
        items = items.get("records") or items.get("items") or []
    for item in items:
        rec = item.get("record", item) if isinstance(item, dict) else None
        if isinstance(rec, dict) and rec.get("step") == step:
            return rec
    return None


def scenario():
    from energy_agents.runner.live import load_run_scenario

    return load_run_scenario(SPEC)


# ---------------------------------------------------------------------------------- tests
def test_up_end_to_end(up_factory):
    """Start within 15 s, decisions applied as /aggregate says, a stranger refused, Ctrl-C."""
    from energy_agents.sim.community import Community
    from energy_agents.sim.levers import Levers

    idle = os.getloadavg()[0] < (os.cpu_count() or 1)
    up = up_factory(tick=0.5)
    up.wait(
        "all five agents in /messages", lambda: agents_in_messages(up) == set(AGENT_NAMES), START_S
    )
    five_after = time.monotonic() - up.started
    up.wait("a decision applied", lambda: len(up.steps()) >= 1, START_S)
    decision = up.get("/aggregate", strategy=STRATEGY, step=0)
    applied_after = time.monotonic() - up.started
    if idle:
        assert applied_after < UP_WITHIN_S, f"first decision applied after {applied_after:.1f} s"
    elif applied_after >= UP_WITHIN_S:
        warnings.warn(
            f"first decision applied after {applied_after:.1f} s on a loaded machine "
            f"(load {os.getloadavg()[0]:.1f})",
            stacklevel=1,
        )
    applied = up.steps()[0]
    assert applied["step"] == 0
    assert applied["levers"] == decision["parameters"]  # the runner applied /aggregate's levers

    # The simulation state changed as the decisions say: replaying the decisions read from
    # /aggregate reproduces the records the runner published with /state.
    up.wait("three steps", lambda: len(up.steps()) >= 3, 20)
    comm = Community(scenario())
    for t in range(3):
        d = up.get("/aggregate", strategy=STRATEGY, step=t)
        comm.step(Levers.from_dict(d["parameters"]))
    rec = up.wait("the record of step 2 (/series)", lambda: record_of(up, 2), 10)
    assert (
        rec["levers"]
        == Levers.from_dict(d["parameters"])
        .clipped(comm.storage_names, comm.scenario.max_burn_rate_ct_per_kwh)
        .to_dict()
    )
    for name, soc in rec["soc"].items():
        assert soc == pytest.approx(comm.results[f"soc_{name}"][2], abs=1e-12)
    assert rec["tokens_spent_ct"] == pytest.approx(comm.results["tokens_spent_ct"][2])
    kpis = up.get("/kpis")
    assert kpis.get("steps", 0) >= 2 and "tokens_saved_ct" in kpis

    # A post signed by an address that is not one of the five is refused, and not stored.
    from uagents_core.identity import Identity

    from energy_agents.client.http import ServerClient

    rogue = Identity.from_seed(f"rogue {os.getpid()} {time.time()}", 0)
    body = {
        "agent_name": "grid_trader",
        "step": 0,
        "message": "Buy everything now.",
        "levers": {},
        "message_id": "rogue:0:deadbeef",
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    res = ServerClient(up.url).post_signed("/receive", body, rogue)
    assert res.status == 403, res
    stored = up.get("/messages", step=0)
    assert all(m.get("message_id") != "rogue:0:deadbeef" for m in stored)
    assert all("Buy everything" not in m.get("message", "") for m in stored)

    pids = up.remember()
    assert len(pids) >= 7  # server (+ workers), runner, launcher, five agents
    took = up.stop(signal.SIGINT)
    left = [p for p in pids if pid_alive(p)]
    assert not left, f"still running after Ctrl-C: {[(p, cmdline(p)) for p in left]}"
    assert took < 6.0
    assert up.proc.returncode == 0
    print(f"all five in /messages after {five_after:.1f} s; Ctrl-C took {took:.2f} s")
    assert five_after <= applied_after


def test_live_decisions_equal_the_batch_run(up_factory):
    from energy_agents.runner.batch import run_batch

    n = 12
    up = up_factory("--deadline", "30", "--forecast-wait", "10", tick=0.0, steps=n)
    up.wait(f"{n} steps", lambda: len(up.steps()) >= n, START_S + 15)
    live = up.steps()[:n]
    assert all(not s["decision"]["missing"] for s in live), "an agent did not answer in time"
    batch = run_batch(scenario(), STRATEGY, keep_decisions=True)
    for t in range(n):
        expected = json.loads(json.dumps(batch.decisions[t].parameters.to_dict()))
        assert live[t]["levers"] == expected, f"step {t}"
    for t in (0, n - 1):  # the server's stored decisions are the ones applied
        assert up.get("/aggregate", strategy=STRATEGY, step=t)["parameters"] == live[t]["levers"]
    up.stop()


def test_killed_agent_falls_back_then_is_restarted(up_factory):
    # The deadline (1 s) is shorter than the launcher's first restart delay (1 s) plus an
    # agent's start-up, so at least one step is decided without the killed agent.
    up = up_factory("--deadline", "1", "--forecast-wait", "0.5", tick=0.2)
    up.wait("two steps", lambda: len(up.steps()) >= 2, START_S)
    victim = "grid_trader"
    pid = up.agent_pid(victim)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    up.wait(
        "a step decided without the killed agent",
        lambda: any(victim in s["decision"]["missing"] for s in up.steps()),
        15,
    )
    new_pid = up.wait(
        "the launcher to restart it",
        lambda: (lambda p: p if p and p != pid else None)(up.agent_pid(victim)),
        15,
    )
    assert new_pid != pid
    assert f"{victim} (pid {pid}) exited with signal 9" in up.text()
    mark = len(up.steps())
    up.wait(
        "a full step after the restart",
        lambda: any(not s["decision"]["missing"] for s in up.steps()[mark:]),
        20,
    )
    up.stop()


def test_server_restart_loses_nothing_and_stores_nothing_twice(up_factory):
    n = 10
    up = up_factory("--deadline", "20", tick=0.0, steps=n)
    up.wait("three steps", lambda: len(up.steps()) >= 3, START_S)
    servers = up.pids_matching("energy_agents serve")  # the server process and its workers
    assert servers
    for pid in servers:  # server process and workers: SIGKILL, no clean shutdown
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)  # up restarts it (back-off 0.5 s); agents and runner retry meanwhile
    up.wait("the server back", lambda: up.try_get("/health") is not None, START_S)
    up.wait(f"{n} steps", lambda: len(up.steps()) >= n, 50)
    up.wait(
        "every outbox delivered",
        lambda: all(_outbox_count(up.data, a) == 0 for a in AGENT_NAMES),
        20,
    )
    for t in range(n):
        msgs = up.get("/messages", step=t)
        if isinstance(msgs, dict):
            msgs = msgs.get("messages") or msgs.get("items") or []
        ids = [m.get("message_id") for m in msgs]
        assert len(ids) == len(set(ids)), f"step {t}: stored twice: {ids}"
        assert sorted(m["agent_name"] for m in msgs) == sorted(AGENT_NAMES), f"step {t}"
    for a in AGENT_NAMES:
        assert _dead_count(up.data, a) == 0
    up.stop()


def test_runner_resumes_after_sigkill(up_factory):
    n = 10
    up = up_factory("--deadline", "30", "--forecast-wait", "10", tick=0.1, steps=n)
    up.wait("four steps", lambda: len(up.steps()) >= 4, START_S)
    runners = up.pids_matching("energy_agents run-sim")
    assert len(runners) == 1
    os.kill(runners[0], signal.SIGKILL)
    killed_at = len(up.steps())
    up.wait("the runner to resume", lambda: "runner: resumed at step" in up.text(), 20)
    resumed = int(up.text().split("runner: resumed at step ")[1].split()[0])
    assert resumed >= killed_at >= 4  # not from step 0
    up.wait(f"{n} steps", lambda: len(up.steps()) >= n, 40)
    steps = up.steps()
    assert [s["step"] for s in steps] == list(range(len(steps)))  # no gap, no repeat
    from energy_agents.runner.batch import run_batch

    batch = run_batch(scenario(), STRATEGY, keep_decisions=True)
    for t in range(n):  # the resumed run went on from the same state
        assert steps[t]["levers"] == json.loads(
            json.dumps(batch.decisions[t].parameters.to_dict())
        ), f"step {t}"
    up.stop()


def _outbox_count(data: Path, agent: str) -> int:
    import sqlite3

    path = data / "outbox" / f"{agent}.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def _dead_count(data: Path, agent: str) -> int:
    import sqlite3

    path = data / "outbox" / f"{agent}.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM dead").fetchone()[0])


STATUS_LINE = re.compile(
    r"^step +(\d+)  \d\d-\d\d \d\d:\d\d  saved +-?\d+\.\d CT  agents ([0-5])/5  \S.*$"
)
HEADER = ("energy-agents up: server ", "  messages:  ", "  aggregate: ", "  dashboard: ")


def test_up_terminal_is_quiet_and_the_logs_go_to_files(up_factory):
    """The URLs, then one status line per step; granian's, uagents' and the runner's output
    in ``<data-dir>/logs/``."""
    up = up_factory(tick=0.2)
    up.wait(
        "five status lines",
        lambda: len([x for x in up.terminal().splitlines() if STATUS_LINE.match(x)]) >= 5,
        START_S,
    )
    up.stop()
    lines = up.terminal().splitlines()
    logs = up.data / "logs"
    assert lines[:6] == [
        f"energy-agents up: server {up.url} (data in {up.data})",
        f"  messages:  {up.url}/messages",
        f"  aggregate: {up.url}/aggregate?strategy={STRATEGY}",
        f"  dashboard: {up.url}/dashboard",
        f"  logs:      {logs}/ (server, runner, agents; --verbose prints them here)",
        "Ctrl-C stops everything.",
    ]
    status = [STATUS_LINE.match(x) for x in lines[6:-1]]
    assert all(status), [x for x, m in zip(lines[6:-1], status, strict=True) if not m]
    steps = [int(m.group(1)) for m in status if m]
    assert steps == list(range(len(steps))) and len(steps) >= 5  # one line per step, in order
    assert all(m.group(2) == "5" for m in status[1:] if m)  # every agent answered
    assert lines[-1].startswith("[up] stopped after "), lines[-1]
    for noise in ("_granian", "INFO", "[launcher]", "run-sim:", "runner:"):
        assert noise not in up.terminal(), noise

    server, runner, agents = (
        (logs / f"{n}.log").read_text() for n in ("server", "runner", "agents")
    )
    assert "_granian: Starting granian" in server and "energy-agents serve: " in server
    assert "run-sim: " in runner and "runner: step 0 applied" in runner
    assert "[launcher] started grid_trader" in agents
    assert "[grid_trader]: Starting agent with address: agent1" in agents  # uagents' log
    assert "[up] stopped after " in (logs / "up.log").read_text()


def test_up_verbose_prints_the_logs_in_the_terminal(up_factory):
    up = up_factory("--verbose", tick=0.2)
    up.wait(
        "two status lines",
        lambda: len([x for x in up.terminal().splitlines() if STATUS_LINE.match(x)]) >= 2,
        START_S,
    )
    up.stop()
    out = up.terminal()
    assert "_granian: Starting granian" in out and "runner: step 0 applied" in out
    assert "[grid_trader]: Starting agent with address: agent1" in out
    assert "  logs:  " not in out and not (up.data / "logs").exists()


def test_up_runs_a_named_community(up_factory):
    """``up --community north``: the five agents, the runner and the decisions all in "north";
    the default community stays empty; the community's own files under communities/north."""
    up = up_factory("--community", "north", tick=0.2, steps=3)
    up.wait(
        "three decisions in north",
        lambda: len(up.try_get("/decisions", community="north") or []) >= 3,
        START_S,
    )
    north = up.get("/messages", community="north", limit=500)
    assert {m["agent_name"] for m in north} >= set(AGENT_NAMES)
    assert up.get("/decisions") == [] and up.get("/messages") == []
    assert up.get("/communities")["communities"] == ["north"]
    assert (up.data / "communities" / "north" / "runner").is_dir()
    assert not (up.data / "runner").exists()
    assert "community north" in up.terminal()
