"""``energy-agents up``: the server, the simulation runner and the five agents, one command.

Three child processes (each dies with this one, ``PR_SET_PDEATHSIG``):

- ``energy-agents serve`` on 127.0.0.1:PORT with ``<data-dir>/server.sqlite`` and the
  allowed-agents file ``<data-dir>/agents.json`` written here first;
- ``energy-agents run-sim`` (resumes from ``<data-dir>/runner/`` if a run is stored there);
- ``energy-agents agents`` (the launcher: one process per agent).

All three start at once (the runner and the agents retry until the server answers). A child
that exits on its own is reported and restarted with back-off, except a runner that finished
its run. Ctrl-C or SIGTERM stops all three at once (the server with granian's graceful
SIGINT shutdown); whatever has not exited after 4 s is killed, with its descendants.

``up`` tracks every process it ever started (:class:`Tracker`): each child as it starts and,
twice a second, every process below it. It is their subreaper, so the workers of a
SIGKILLed server stay in its tree instead of going to init; whatever of them is still alive
at the stop is killed too (by pid and start time, never a recycled pid).

The terminal gets the URLs and one status line per step (``up_status``); the children's
output (granian's and uagents' logs, the runner's and the libraries' prints) goes to
``<data-dir>/logs/<service>.log``, or to the terminal with ``--verbose``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ..agents.procs import RestartPolicy
from ..agents.supervisor import Supervised, Supervisor
from ..client.ids import DEFAULT_COMMUNITY
from .live_options import add_data_dir_argument, server_list
from .run_sim import add_run_arguments, deadline_of

STOP_TIMEOUT_S = 4.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9000, help="server port (default 9000)")
    add_data_dir_argument(parser, "database, keys, outboxes, checkpoint")
    parser.add_argument(
        "--agent-interval",
        type=float,
        default=None,
        help="seconds between the agents' reads of /state (default: tick/5, within 0.2-5)",
    )
    parser.add_argument(
        "--base-port", type=int, default=8101, help="first agent port (default 8101)"
    )
    parser.add_argument(
        "--forecast-wait",
        type=float,
        default=1.0,
        help="seconds an agent waits for the forecaster's message before advising without it",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=2,
        help="worker processes of the server (default 2: five agents and one runner)",
    )
    parser.add_argument(
        "--external-server",
        type=server_list,
        default=None,
        metavar="URL[,URL...]",
        help="use this already running server, or several comma-separated that share one "
        "database (told the addresses in <data-dir>/agents.json), instead of starting one; "
        "the runner and agents fail over along them",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the server's, runner's and agents' logs here instead of writing them to "
        "<data-dir>/logs/ (default: one status line per step)",
    )
    add_run_arguments(parser)


RESTART = RestartPolicy(initial_s=0.5, max_s=30.0, healthy_after_s=30.0)
"""The services' restarts: sooner than the agents' first one (a server or runner is
one process a whole run waits for)."""

LOG_DIR = "logs"
"""Under the data directory: ``server.log``, ``runner.log``, ``agents.log``, ``up.log``."""


def agent_interval(args: argparse.Namespace) -> float:
    if args.agent_interval is not None:
        return args.agent_interval
    return min(5.0, max(0.2, args.tick / 5.0)) if args.tick > 0 else 0.2


@dataclass
class Service:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    log: Path | None = None  # the child's stdout and stderr (appended); None: the terminal

    def start(self) -> subprocess.Popen:
        from ..agents.procs import preexec_child

        out, env = None, None
        if self.log is not None:
            out = self.log.open("ab")
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {self.name} starts\n".encode())
            out.flush()
            env = dict(os.environ, PYTHONUNBUFFERED="1")  # lines reach the file as they happen
        try:
            self.proc = subprocess.Popen(
                self.argv,
                preexec_fn=preexec_child,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                env=env,
            )
        finally:
            if out is not None:
                out.close()  # the child holds its own descriptor
        return self.proc


def _popen_exit_code(proc: subprocess.Popen) -> int | None:
    return proc.poll()


def _cli(*args: str) -> list[str]:
    """A subcommand in a child process (the CLI imports only that command's module)."""
    return [sys.executable, "-m", "energy_agents", *args]


def services(args: argparse.Namespace, server: str) -> list[Service]:
    data = str(args.data_dir)
    run_args = [
        "--tick",
        str(args.tick),
        "--deadline",
        str(deadline_of(args)),
        "--strategy",
        args.strategy,
        "--scenario",
        args.scenario,
        "--seed",
        str(args.seed),
        "--community",
        args.community,
    ]
    for opt, value in (("--days", args.days), ("--members", args.members), ("--steps", args.steps)):
        if value is not None:
            run_args += [opt, str(value)]
    if args.fresh:
        run_args.append("--fresh")
    out = [
        Service(
            "server",
            _cli(
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--database",
                str(args.data_dir / "server.sqlite"),
                "--agents-file",
                str(args.data_dir / "agents.json"),
                "--workers",
                str(args.server_workers),
            ),
        ),
        Service(
            "runner",
            _cli("run-sim", "--server", server, "--data-dir", data, *run_args),
        ),
        Service(
            "agents",
            _cli(
                "agents",
                "--server",
                server,
                "--data-dir",
                data,
                "--interval",
                str(agent_interval(args)),
                "--forecast-wait",
                str(args.forecast_wait),
                "--base-port",
                str(args.base_port),
                "--community",
                args.community,
            ),
        ),
    ]
    out = out[1:] if args.external_server else out
    if not getattr(args, "verbose", True):
        for svc in out:
            svc.log = args.data_dir / LOG_DIR / f"{svc.name}.log"
    return out


_UP_LOG: list[Path] = []  # up's own notices, when the terminal is quiet


def _say(text: str, *, terminal: bool = False) -> None:
    """A notice of ``up``; quiet, it goes to ``logs/up.log`` (and here only if ``terminal``)."""
    line = f"[up] {text}"
    if _UP_LOG:
        with _UP_LOG[0].open("a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    if terminal or not _UP_LOG:
        print(line, file=sys.stderr, flush=True)


class Tracker:
    """Every process ``up`` started, directly or below: pid -> start time (so a pid the
    kernel handed to another process since is never killed)."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.children: set[int] = set()  # up's own Popen children: subprocess reaps those

    def record(self, pid: int, child: bool = False) -> None:
        from ..agents.procs import start_time

        t = start_time(pid)
        if t is not None:
            self.seen.setdefault(pid, t)
        if child:
            self.children.add(pid)

    def scan(self) -> None:
        """Record everything below ``up`` now; reap orphans re-parented to it that died."""
        from ..agents.procs import descendants, start_time

        for pid in descendants(os.getpid()):
            self.record(pid)
        for pid in list(self.seen):
            if pid not in self.children and start_time(pid) is None:  # dead, maybe a zombie
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)  # not our child: ECHILD, ignored

    def alive(self) -> list[int]:
        from ..agents.procs import start_time

        return [p for p, t in self.seen.items() if start_time(p) == t and p != os.getpid()]


def stop_services(
    svcs: list[Service], timeout: float = STOP_TIMEOUT_S, tracker: Tracker | None = None
) -> None:
    tracker = tracker or Tracker()
    for svc in svcs:
        if svc.proc is not None and svc.proc.poll() is None:
            tracker.record(svc.proc.pid, child=True)
    tracker.scan()
    deadline = time.monotonic() + timeout
    for svc in svcs:  # all at once: the agents' outboxes keep whatever the server misses
        if svc.proc is not None and svc.proc.poll() is None:
            # The server stops its workers on SIGINT; nothing is lost, the store commits
            # before answering 2xx.
            svc.proc.send_signal(signal.SIGINT if svc.name == "server" else signal.SIGTERM)
    for svc in svcs:
        if svc.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                svc.proc.wait(max(0.1, deadline - time.monotonic()))
    tracker.scan()
    left = tracker.alive()
    if left:
        _say(f"killing {len(left)} process(es) still running: {sorted(left)}")
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for svc in svcs:
        if svc.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                svc.proc.wait(1.0)
    wait_until = time.monotonic() + 2.0
    while tracker.alive() and time.monotonic() < wait_until:
        tracker.scan()  # reaps the killed orphans
        time.sleep(0.02)


def run(args: argparse.Namespace) -> int:
    from ..agents.launcher import prepare_identities
    from ..coordination.registry import STRATEGIES, UnknownStrategyError

    if args.strategy not in STRATEGIES:
        raise UnknownStrategyError(args.strategy)
    if not args.external_server:
        from . import CliError
        from .serve_host import refuse_taken_port

        taken = refuse_taken_port("127.0.0.1", args.port)
        if taken:  # else the server's restarts would loop on it
            hint = "; stop it, pick another --port or use --external-server"
            raise CliError(taken + (hint if "in use" in taken else ""))
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    prepare_identities(args.data_dir)
    from .run_sim import runner_identity

    runner_identity(args.data_dir)  # listed in agents.json before the server starts
    server = args.external_server or f"http://127.0.0.1:{args.port}"
    svcs = services(args, server)
    server = server.split(",")[0]  # shown and watched: the first (the children fail over)
    query = "" if args.community == DEFAULT_COMMUNITY else f"community={args.community}"
    logs = args.data_dir / LOG_DIR
    _UP_LOG.clear()
    if not args.verbose:
        logs.mkdir(exist_ok=True)
        _UP_LOG.append(logs / "up.log")
    from .up_status import StatusPrinter

    status = StatusPrinter(server, community=query.removeprefix("community=") or None)
    stop = {"sig": 0}
    from ..agents.procs import become_subreaper

    become_subreaper()
    tracker = Tracker()
    next_scan = 0.0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["sig"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    sup = Supervisor(
        [
            Supervised(svc.name, svc.start, _popen_exit_code, done_when_clean=svc.name == "runner")
            for svc in svcs
        ],
        RESTART,
    )
    try:
        sup.start_all()
        for child in sup.children:
            tracker.record(child.proc.pid, child=True)
        print(
            f"energy-agents up: server {server} (data in {args.data_dir}"
            f"{'; community ' + args.community if query else ''})\n"
            f"  messages:  {server}/messages{'?' + query if query else ''}\n"
            f"  aggregate: {server}/aggregate?strategy={args.strategy}"
            f"{'&' + query if query else ''}\n"
            f"  dashboard: {server}/dashboard{'?' + query if query else ''}\n"
            + (
                ""
                if args.verbose
                else f"  logs:      {logs}/ (server, runner, agents; --verbose prints them here)\n"
            )
            + "Ctrl-C stops everything.",
            flush=True,
        )
        status.start()
        while not stop["sig"]:
            now = time.monotonic()
            if now >= next_scan:
                tracker.scan()
                next_scan = now + 0.5
            for ev in sup.poll(now):
                name = ev.child.name
                if ev.kind == "restarted":
                    tracker.record(ev.child.proc.pid, child=True)
                    _say(f"restarted {name} (pid {ev.child.proc.pid})", terminal=True)
                elif ev.kind == "finished":
                    _say(
                        "the runner finished its run; server and agents keep running", terminal=True
                    )
                else:
                    log = next(svc.log for svc in svcs if svc.name == name)
                    seen = f" (see {log})" if log else ""
                    _say(
                        f"{name} exited with code {ev.code}; restarting in {ev.delay_s:.1f} s"
                        f"{seen}",
                        terminal=True,
                    )
            time.sleep(0.1)
    finally:
        t0 = time.monotonic()
        status.stop()
        stop_services(svcs, tracker=tracker)
        for s, h in old.items():
            signal.signal(s, h)
        _say(
            f"stopped after {t0 - started:.1f} s running; shutdown took {time.monotonic() - t0:.2f} s",
            terminal=True,
        )
    return 0
