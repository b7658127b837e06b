"""The AI Manager launcher: the five agents concurrently, one process per agent.

- Each child is forked after the parent imported uagents and the advisors (fast start), and
  builds its own ``Agent`` (never the parent: see UAGENTS.md).
- Children die with the launcher (``PR_SET_PDEATHSIG``); Ctrl-C or SIGTERM stops every child
  cleanly (SIGTERM -> ``KeyboardInterrupt`` in the child), SIGKILL after ``STOP_TIMEOUT_S``.
- A child that exits on its own is reported and restarted with exponential back-off
  (1 s doubling up to 30 s; the back-off resets once a child has run 30 s).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import FrameType

from ..advisors.types import AGENT_NAMES
from ..client.ids import DEFAULT_COMMUNITY
from .identity import register
from .procs import RestartPolicy
from .runtime import AgentConfig, default_ports, run_agent
from .supervisor import Supervised, Supervisor

STOP_TIMEOUT_S = 4.0
RESTART = RestartPolicy(initial_s=1.0, max_s=30.0, healthy_after_s=30.0)

log = logging.getLogger("energy_agents.launcher")


def prepare_identities(data_dir: Path, names: Sequence[str] = AGENT_NAMES) -> dict[str, str]:
    """Create (or read) the five agents' keys and list them in ``<data_dir>/agents.json``,
    the server's allowed-agents file (the runner adds itself there as ``runner``)."""
    mapping = register(Path(data_dir), AGENT_NAMES)
    return {n: mapping[n] for n in names}


def agent_configs(
    server_url: str,
    data_dir: Path,
    *,
    names: Sequence[str] = AGENT_NAMES,
    base_port: int = 8101,
    interval_s: float = 5.0,
    forecast_wait_s: float = 1.0,
    log_level: str = "INFO",
    community: str = DEFAULT_COMMUNITY,
) -> list[AgentConfig]:
    for name in names:
        if name not in AGENT_NAMES:
            raise ValueError(f"agent: unknown {name!r}; known: {', '.join(AGENT_NAMES)}")
    if interval_s <= 0:
        raise ValueError("interval: must be > 0 seconds")
    mapping = prepare_identities(data_dir, AGENT_NAMES)
    ports = default_ports(base_port)
    base = AgentConfig(
        name=AGENT_NAMES[0],
        server_url=server_url,
        data_dir=str(Path(data_dir).resolve()),
        ports=ports,
        addresses=mapping,
        interval_s=interval_s,
        forecast_wait_s=forecast_wait_s,
        log_level=log_level,
        community=community,
    )
    return [replace(base, name=name) for name in names]


def _mp_exit_code(proc: mp.process.BaseProcess) -> int | None:
    if proc.is_alive():
        return None
    proc.join(0)
    return proc.exitcode if proc.exitcode is not None else -1


class Launcher:
    def __init__(self, configs: Sequence[AgentConfig], *, out=sys.stderr) -> None:
        self.ctx = mp.get_context("fork")
        self.configs = {c.name: c for c in configs}
        self.sup = Supervisor(
            [Supervised(c.name, partial(self._spawn, c), _mp_exit_code) for c in configs], RESTART
        )
        self.out = out

    @property
    def stopping(self) -> bool:
        return self.sup.stopping

    def _say(self, text: str) -> None:
        print(f"[launcher] {text}", file=self.out, flush=True)

    def _spawn(self, cfg: AgentConfig) -> mp.process.BaseProcess:
        proc = self.ctx.Process(
            target=run_agent,
            args=(cfg, os.getpid()),
            name=f"agent-{cfg.name}",
            daemon=False,
        )
        proc.start()
        return proc

    def start_all(self) -> None:
        # Import the heavy parts once here so forked children start in well under a second.
        import uagents  # noqa: F401

        from ..advisors import registry  # noqa: F401

        for child in self.sup.children:
            self.sup.launch(child)
            port = self.configs[child.name].port
            self._say(f"started {child.name} (pid {child.proc.pid}, port {port})")

    def poll(self) -> None:
        """Report and restart children that exited; call every few hundred ms."""
        for ev in self.sup.poll():
            name, pid = ev.child.name, ev.child.proc.pid
            if ev.kind == "restarted":
                self._say(f"restarted {name} (pid {pid})")
            elif ev.kind == "exited":
                code = ev.code
                how = f"signal {-code}" if code is not None and code < 0 else f"code {code}"
                self._say(f"{name} (pid {pid}) exited with {how}; restarting in {ev.delay_s:.1f} s")

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> None:
        self.sup.stopping = True
        procs = [c.proc for c in self.sup.children if c.proc is not None]
        for p in procs:
            if p.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                self._say(f"{p.name} did not stop in {timeout:.0f} s; killing it")
                p.kill()
                p.join(1.0)

    def pids(self) -> dict[str, int]:
        return {
            c.name: c.proc.pid
            for c in self.sup.children
            if c.proc is not None and c.proc.is_alive()
        }

    def run_forever(self) -> int:
        """Start, supervise until SIGINT/SIGTERM, stop everything. Returns an exit code."""
        stop = {"sig": 0}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop["sig"] = signum

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start_all()
            while not stop["sig"]:
                self.poll()
                time.sleep(0.1)
            self._say(f"stopping {len(self.sup.children)} agents")
        finally:
            started = time.monotonic()
            self.stop_all()
            for s, h in old.items():
                signal.signal(s, h)
            self._say(f"all agents stopped in {time.monotonic() - started:.2f} s")
        return 0
