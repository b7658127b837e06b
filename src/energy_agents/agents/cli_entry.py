"""Run one subcommand without the whole CLI: ``python -m energy_agents.agents`` and
``python -m energy_agents.runner`` start faster than ``energy-agents agents``/``run-sim``
because they import only what their command needs (``energy-agents up`` uses them)."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType


def main(command: str, module: ModuleType, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"energy-agents {command}")
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    args.command = command
    from ..cli import CliError

    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (CliError, ValueError, KeyError, FileNotFoundError, OSError, RuntimeError) as exc:
        print(f"energy-agents {command}: error: {exc}", file=sys.stderr)
        return 1
