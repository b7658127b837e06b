"""``energy-agents`` command line. Each subcommand lives in ``energy_agents.commands.<name>``
with ``add_arguments(parser)`` and ``run(args) -> int``; they are imported lazily so that
``energy-agents simulate`` never imports Flask or uagents."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "simulate": ("simulate", "run the community in batch under one strategy"),
    "compare": ("compare", "run several strategies on one scenario and compare them"),
    "bench": ("bench", "benchmarks: simulation speed and memory"),
    "serve": ("serve", "the AI Manager server under gunicorn"),
    "agents": ("agents", "start the five uagents agents (multiprocessing launcher)"),
    "run-sim": ("run_sim", "advance the simulation live, applying the server's decisions"),
    "up": ("up", "server + runner + five agents on the embedded default, one command"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energy-agents", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(f"energy_agents.commands.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (CliError, ValueError, KeyError, FileNotFoundError, OSError) as exc:
        print(f"energy-agents {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 1


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and type(exc) is KeyError:
        return f"missing {exc.args[0]!r}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
