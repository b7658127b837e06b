"""``energy-agents agents``: the five uagents agents, one process each (the seed's launcher)."""

from __future__ import annotations

import argparse

from .live_options import add_community_argument, add_data_dir_argument, add_server_argument


def add_agent_arguments(parser: argparse.ArgumentParser, *, with_server: bool = True) -> None:
    if with_server:
        add_server_argument(parser)
    add_data_dir_argument(parser, "keys, outboxes, agents.json")
    add_community_argument(parser)
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between an agent's reads of /state (default 5, the seed's)",
    )
    parser.add_argument(
        "--forecast-wait",
        type=float,
        default=1.0,
        help="seconds an agent waits for the forecaster's message before advising without it",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=8101,
        help="agents listen on 127.0.0.1, ports base..base+4 (default 8101)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_arguments(parser)
    parser.add_argument(
        "--only", default=None, help="comma-separated agent names to start (default: all five)"
    )
    parser.add_argument("--log-level", default="INFO", help="log level of the agent processes")
    parser.add_argument(
        "--with-runner",
        choices=("no", "auto", "yes"),
        default="no",
        help="also start the simulation runner (default no; python ai_manager.py: auto = when "
        "the server has no observation yet, so that the seed's two commands make a live system)",
    )


def run(args: argparse.Namespace) -> int:
    from ..advisors.types import AGENT_NAMES
    from ..agents.launcher import Launcher, agent_configs

    names = (
        tuple(n.strip() for n in args.only.split(",") if n.strip()) if args.only else AGENT_NAMES
    )
    configs = agent_configs(
        args.server,
        args.data_dir,
        names=names,
        base_port=args.base_port,
        interval_s=5.0 if args.interval is None else args.interval,
        forecast_wait_s=args.forecast_wait,
        log_level=args.log_level.upper(),
        community=args.community,
    )
    print(
        f"agents: {', '.join(names)} -> POST /receive on {args.server.replace(',', ', ')} "
        f"(community {args.community}); "
        f"allowed addresses in {args.data_dir / 'agents.json'}",
        flush=True,
    )
    runner = _start_runner(args) if _wants_runner(args) else None
    try:
        return Launcher(configs).run_forever()
    finally:
        if runner is not None:
            _stop(runner)


def _wants_runner(args: argparse.Namespace) -> bool:
    if args.with_runner != "auto":
        return args.with_runner == "yes"
    from ..client.http import ServerClient, ServerUnavailable

    client = ServerClient(args.server, timeout=2.0, community=args.community)
    try:
        published = client.get_state() is not None
    except (ServerUnavailable, ValueError):
        published = False  # the runner retries until the server answers
    finally:
        client.close()
    if published:
        print("agents: a runner already publishes /state; not starting one", flush=True)
    return not published


def _start_runner(args: argparse.Namespace):
    import subprocess
    import sys

    from ..agents.procs import preexec_child

    print(f"agents: starting the simulation runner (data in {args.data_dir})", flush=True)
    argv = [sys.executable, "-m", "energy_agents", "run-sim", "--server", args.server]
    argv += ["--community", args.community]
    return subprocess.Popen([*argv, "--data-dir", str(args.data_dir)], preexec_fn=preexec_child)


def _stop(proc) -> None:
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(4.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
