"""``energy-agents`` command line. Each subcommand lives in ``energy_agents.commands.<name>``
with ``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen command's module is
imported, so ``energy-agents agents`` never loads pandas and ``simulate`` never loads Flask."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .commands import CliError

COMMANDS = {
    "simulate": ("simulate", "run the community in batch under one strategy"),
    "compare": ("compare", "run several strategies on one scenario and compare them"),
    "sweep": ("sweep", "many cases (scenario x strategy x objective x tariff) on Dask"),
    "bench": ("bench", "benchmarks: simulation speed and memory"),
    "serve": ("serve", "the AI Manager server under granian"),
    "agents": ("agents", "start the five uagents agents (multiprocessing launcher)"),
    "run-sim": ("run_sim", "advance the simulation live, applying the server's decisions"),
    "up": ("up", "server + runner + five agents on the embedded default, one command"),
    "store-copy": (
        "store_copy",
        "copy a server's store to another database (SQLite to PostgreSQL)",
    ),
    "citylearn-run": (
        "citylearn_run",
        "CityLearn's own simulator stepped by the AI Manager's decisions",
    ),
}


class DefaultsFormatter(argparse.HelpFormatter):
    """--help names each option's default, unless its help already says it in words (options
    whose default depends on the scenario have None here and say so in their help)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = (
            any(action.default is v for v in (None, False, argparse.SUPPRESS)) or "default" in text
        )
        if quiet or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's arguments are loaded."""
    parser = argparse.ArgumentParser(
        prog="energy-agents",
        description="Energy AI Agents: simulate, compare, serve and run the live system.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=DefaultsFormatter,
        )
        if only is None or name == only:
            mod = importlib.import_module(f"energy_agents.commands.{module}")
            mod.add_arguments(p)
            p.set_defaults(_module=mod)
    return parser


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "1")
"""Set for the process unless the user set it, before numpy is imported: numpy's OpenBLAS starts
a thread pool of one thread per core at import (40-60 ms of a 0.5 s run on this project's
2-core machine), and the model's vectors are far too small to gain from threaded BLAS (it also
keeps a long dot product's sum independent of the machine's core count)."""


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault(*BLAS_THREADS)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (CliError, ValueError, KeyError, FileNotFoundError, OSError, RuntimeError) as exc:
        print(f"energy-agents {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 1


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and type(exc) is KeyError:
        return f"missing {exc.args[0]!r}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
