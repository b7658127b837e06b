"""``energy-agents agents``: the five uagents agents, one process each (the seed's launcher)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:9000"
DEFAULT_DATA_DIR = ".energy-agents"


def add_agent_arguments(parser: argparse.ArgumentParser, *, with_server: bool = True) -> None:
    if with_server:
        parser.add_argument(
            "--server", default=DEFAULT_SERVER, help=f"AI Manager URL (default {DEFAULT_SERVER})"
        )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(DEFAULT_DATA_DIR),
        help=f"keys, outboxes, agents.json (default {DEFAULT_DATA_DIR})",
    )
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
    )
    print(
        f"agents: {', '.join(names)} -> {args.server}/receive; "
        f"allowed addresses in {args.data_dir / 'agents.json'}",
        flush=True,
    )
    return Launcher(configs).run_forever()
