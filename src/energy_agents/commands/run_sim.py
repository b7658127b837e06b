"""``energy-agents run-sim``: advance the simulation live, applying the server's decisions."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .live_options import add_community_argument, add_data_dir_argument, add_server_argument


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``energy-agents up``."""
    add_community_argument(parser)
    parser.add_argument(
        "--tick",
        type=float,
        default=5.0,
        help="wall seconds per simulated step (default 5; 0: as fast as the agents answer)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds to wait for the five recommendations before deciding with those that "
        "arrived (default: max(tick, 10))",
    )
    parser.add_argument(
        "--strategy", default="weighted", help="aggregation strategy (default weighted)"
    )
    parser.add_argument(
        "--scenario",
        default="synthetic",
        help="synthetic (default), tiny, citylearn:PATH, csv:PATH",
    )
    parser.add_argument("--days", type=int, default=None, help="simulate the first N days only")
    parser.add_argument("--members", type=int, default=None, help="community size (synthetic)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic community")
    parser.add_argument(
        "--steps", type=int, default=None, help="stop after this step count (default: all)"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard the stored run and start at step 0"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_server_argument(parser)
    add_data_dir_argument(parser, "checkpoint and runner key")
    parser.add_argument(
        "--token",
        default=os.environ.get("ENERGY_AGENTS_RUNNER_TOKEN") or None,
        help="bearer token for POST /state (default $ENERGY_AGENTS_RUNNER_TOKEN; "
        "unset: sign as 'runner')",
    )
    add_run_arguments(parser)


def run_spec(args: argparse.Namespace) -> dict:
    return {
        "scenario": args.scenario,
        "members": args.members,
        "days": args.days,
        "seed": args.seed,
    }


def deadline_of(args: argparse.Namespace) -> float:
    return args.deadline if args.deadline is not None else max(args.tick, 10.0)


def runner_identity(data_dir: Path):
    """The runner's identity; its address is listed as ``runner`` in ``agents.json``, the
    server's allowed-agents file (the server accepts ``POST /state`` signed by it)."""
    from ..agents.identity import load_identity, register
    from ..client.ids import RUNNER_NAME

    register(data_dir, [RUNNER_NAME])
    return load_identity(data_dir, RUNNER_NAME)


def run(args: argparse.Namespace) -> int:
    from ..agents.procs import interrupt_on_term
    from ..client.http import ServerClient
    from ..coordination.registry import STRATEGIES, UnknownStrategyError
    from ..runner.checkpoint import RunnerBusy
    from ..runner.live import LiveRunner, RunnerConfig, load_run_scenario

    if args.strategy not in STRATEGIES:
        raise UnknownStrategyError(args.strategy)
    if args.tick < 0:
        raise ValueError("tick: must be >= 0 seconds")
    interrupt_on_term()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    spec = run_spec(args)
    scenario = load_run_scenario(spec)
    cfg = RunnerConfig(
        server_url=args.server,
        data_dir=args.data_dir,
        strategy=args.strategy,
        tick_s=args.tick,
        deadline_s=deadline_of(args),
        max_steps=args.steps,
        token=args.token,
        community=args.community,
    )
    runner = LiveRunner(
        cfg,
        scenario,
        ServerClient(args.server, write_token=args.token, community=args.community),
        identity=None if args.token else runner_identity(args.data_dir),
        spec=spec,
        say=lambda text: print(text, flush=True),
    )
    print(
        f"run-sim: {scenario.name}, {scenario.n_members} members, {scenario.n_steps} steps; "
        f"strategy {args.strategy}; tick {args.tick:g} s; server {args.server}; "
        f"community {args.community}",
        flush=True,
    )
    try:
        return runner.run(fresh=args.fresh)
    except RunnerBusy as exc:
        from . import CliError

        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"run-sim: stopped at step {runner.community.t}", file=sys.stderr, flush=True)
        return 0
